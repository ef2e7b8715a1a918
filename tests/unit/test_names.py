"""``app.names``: the naming rules of the contract, section 3."""

from __future__ import annotations

import pytest

from app.names import RULES, InvalidNameError, NameKind, describe_invalid_parameter, sanitize_input

ACCEPTED: list[tuple[NameKind, str]] = [
    (NameKind.USER, "alice"),
    (NameKind.USER, "alice@example.com"),
    (NameKind.USER, "first.last+tag@example.co.uk"),
    (NameKind.USER, "tenant|user:42"),
    (NameKind.USER, "A_b-9"),
    (NameKind.USER, "u"),
    (NameKind.USER, "u" * 64),
    (NameKind.ROLE, "editors"),
    (NameKind.ROLE, "Team_Lead-2"),
    (NameKind.ROLE, "r" * 64),
    (NameKind.PERMISSION, "publish"),
    (NameKind.PERMISSION, "delete"),
    (NameKind.PERMISSION, "select"),
    (NameKind.PERMISSION, "p" * 128),
    (NameKind.WORKFLOW, "nightly-build_2"),
    (NameKind.WORKFLOW, "w" * 128),
    (NameKind.LABEL, "ci deploy"),
    (NameKind.LABEL, "v1.2 key_-x"),
    (NameKind.LABEL, "l" * 64),
]

REFUSED: list[tuple[NameKind, str]] = [
    (NameKind.USER, ""),
    (NameKind.USER, "u" * 65),
    (NameKind.USER, "alice smith"),
    (NameKind.USER, "a/b"),
    (NameKind.USER, "alice\n"),
    (NameKind.USER, "<script>"),
    (NameKind.USER, "o'brien"),
    (NameKind.USER, "a%2Fb"),
    (NameKind.USER, "josé"),
    (NameKind.ROLE, ""),
    (NameKind.ROLE, "r" * 65),
    (NameKind.ROLE, "a.b"),
    (NameKind.ROLE, "a@b"),
    (NameKind.ROLE, "a|b"),
    (NameKind.ROLE, "a:b"),
    (NameKind.ROLE, "a b"),
    (NameKind.ROLE, "editors\n"),
    (NameKind.ROLE, "\u0661"),  # a non-ASCII digit
    (NameKind.PERMISSION, "p" * 129),
    (NameKind.PERMISSION, "read.all"),
    (NameKind.PERMISSION, "publish\n"),
    (NameKind.PERMISSION, "x;drop"),
    (NameKind.WORKFLOW, "w" * 129),
    (NameKind.WORKFLOW, "a+b"),
    (NameKind.LABEL, ""),
    (NameKind.LABEL, "l" * 65),
    (NameKind.LABEL, "tab\there"),
    (NameKind.LABEL, "ci deploy\n"),
    (NameKind.LABEL, "a/b"),
]


@pytest.mark.parametrize(("kind", "value"), ACCEPTED)
def test_accepted_unchanged(kind: NameKind, value: str) -> None:
    assert sanitize_input(value, kind) is value


@pytest.mark.parametrize(("kind", "value"), REFUSED)
def test_refused(kind: NameKind, value: str) -> None:
    with pytest.raises(InvalidNameError, match=f"^invalid {kind.value} name: must be "):
        sanitize_input(value, kind)


def test_default_kind_is_role() -> None:
    assert sanitize_input("editors") == "editors"
    with pytest.raises(InvalidNameError, match=r"^invalid role name: must be 1-64 letters"):
        sanitize_input("alice@example.com")


def test_kind_given_as_string() -> None:
    assert sanitize_input("alice@example.com", "user") == "alice@example.com"


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'group' is not a valid NameKind"):
        sanitize_input("x", "group")


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidNameError):
        sanitize_input(42, NameKind.ROLE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "max_length"),
    [
        (NameKind.USER, 64),
        (NameKind.ROLE, 64),
        (NameKind.PERMISSION, 128),
        (NameKind.WORKFLOW, 128),
        (NameKind.LABEL, 64),
    ],
)
def test_max_lengths(kind: NameKind, max_length: int) -> None:
    assert RULES[kind].max_length == max_length


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ("user", "Invalid user name: must be 1-64 letters, digits or _ - . @ + | :."),
        ("role", "Invalid role name: must be 1-64 letters, digits, _ or -."),
        ("name", "Invalid permission name: must be 1-128 letters, digits, _ or -."),
        ("workflow", "Invalid workflow name: must be 1-128 letters, digits, _ or -."),
        ("limit", None),
    ],
)
def test_describe_invalid_parameter(parameter: str, message: str | None) -> None:
    assert describe_invalid_parameter(parameter) == message
