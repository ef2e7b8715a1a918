"""Every ``AUTH_*`` variable that the deployment files and SECURITY.md name is a real
setting, so a renamed setting cannot leave a stale name in a manifest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    str(path.relative_to(ROOT))
    for path in [
        ROOT / "Dockerfile",
        ROOT / "docker-compose.yml",
        ROOT / "SECURITY.md",
        *(path for path in (ROOT / "deploy").rglob("*") if path.is_file()),
    ]
    if "secrets" not in path.relative_to(ROOT).parts and path.name not in {"tls.crt", "tls.key"}
)
NOT_SETTINGS = {"AUTH_SECRETS_DIR"}  # read by load_settings itself


def test_the_files_are_found() -> None:
    assert {"Dockerfile", "docker-compose.yml", "deploy/k8s/configmap.yaml"} <= set(FILES)


@pytest.mark.parametrize("relative", FILES)
def test_named_variables_are_settings(relative: str) -> None:
    settings = {f"AUTH_{name.upper()}" for name in Settings.model_fields}
    text = (ROOT / relative).read_text(encoding="utf-8")
    mentioned = set(re.findall(r"\bAUTH_[A-Z][A-Z0-9_]*[A-Z0-9]\b", text))
    assert mentioned - settings - NOT_SETTINGS == set()
