"""The operator CLI's argument checks (no database needed)."""

from __future__ import annotations

import pytest

from app.cli import build_parser


@pytest.mark.parametrize("label", ["x" * 65, "", "tab\there"])
def test_tenant_labels_are_checked(label: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["tenant", "create", "--label", label])
    assert exited.value.code == 2
    assert "a label is 1-64 printable characters" in capsys.readouterr().err


def test_a_valid_label_passes() -> None:
    args = build_parser().parse_args(["tenant", "create", "--label", "Acme Corp"])
    assert args.label == "Acme Corp"
