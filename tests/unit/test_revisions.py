"""``app.db.revisions``: the head read from the scripts is Alembic's head, or nothing.

Each case lays out a versions directory; whenever :func:`plain_head` answers, Alembic
(``ScriptDirectory`` over the same directory) gives the same head, and the layouts
that are not a plain chain answer ``None`` so that Alembic is asked instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.db.migrations import MIGRATIONS_ROOT, SCRIPT_LOCATION, alembic_config, head_revision
from app.db.revisions import plain_head


def script(revision: str, down: str | None, extra: str = "") -> str:
    """A revision script as ``alembic/script.py.mako`` renders it."""
    return (
        f'"""Revision {revision}.\n\nRevision ID: {revision}\nRevises: {down}\n"""\n\n'
        "from collections.abc import Sequence\n\n"
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision: str = {revision!r}\n"
        f"down_revision: str | None = {down!r}\n"
        "branch_labels: str | Sequence[str] | None = None\n"
        "depends_on: str | Sequence[str] | None = None\n"
        f"{extra}\n\n"
        "def upgrade() -> None:\n"
        '    op.add_column("t", sa.Column("revision", sa.Integer()))\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_column("t", "revision")\n'
    )


CHAIN = {"a_1.py": script("r1", None), "b_2.py": script("r2", "r1"), "c_3.py": script("r3", "r2")}

PLAIN: dict[str, dict[str, str]] = {
    "chain": CHAIN,
    "files out of order": {"z.py": script("r1", None), "a.py": script("r2", "r1")},
    "single script": {"only.py": script("r1", None)},
    "files alembic skips": {
        **CHAIN,
        "__init__.py": "revision = 'x'\ndown_revision = 'r3'\n",
        ".#lock.py": "garbage",
        "notes.txt": "revision = 'y'",
    },
    "local variables": {
        **CHAIN,
        "d_4.py": script(
            "r4",
            "r3",
            "def f():\n    revision = 1\n\n\nclass C:\n    depends_on = 'r1'\n\n\n"
            "g = lambda: (down_revision := 2)",
        ),
    },
}

NOT_PLAIN: dict[str, dict[str, str]] = {
    "no scripts": {},
    "merge": {
        **CHAIN,
        "d.py": script("r4", "r3"),
        "m.py": script("m", "r1").replace(
            "down_revision: str | None = 'r1'", "down_revision = ('r3', 'r4')"
        ),
    },
    "two heads": {**CHAIN, "d.py": script("r4", "r2")},
    "depends_on": {
        **CHAIN,
        "d.py": script("r4", "r3").replace(
            "depends_on: str | Sequence[str] | None = None", "depends_on = 'r1'"
        ),
    },
    "branch label": {
        **CHAIN,
        "d.py": script("r4", "r3").replace(
            "branch_labels: str | Sequence[str] | None = None", "branch_labels = ('x',)"
        ),
    },
    "computed revision": {
        **CHAIN,
        "d.py": script("r4", "r3").replace("revision: str = 'r4'", "revision = 'r' + '4'"),
    },
    "rebound revision": {**CHAIN, "d.py": script("r4", "r3", "revision = 'r5'")},
    "conditional revision": {**CHAIN, "d.py": script("r4", "r3", "if True:\n    revision = 'r5'")},
    "walrus": {**CHAIN, "d.py": script("r4", "r3", "x = [(revision := 'r5')]")},
    "global revision": {
        **CHAIN,
        "d.py": script("r4", "r3", "def f():\n    global revision\n    revision = 'r5'\n\n\nf()"),
    },
    "imported revision": {**CHAIN, "d.py": script("r4", "r3", "from os import sep as revision")},
    "star import": {**CHAIN, "d.py": script("r4", "r3", "from os.path import *")},
    "module getattr": {**CHAIN, "d.py": script("r4", "r3", "def __getattr__(name):\n    1")},
    "no down_revision": {
        **CHAIN,
        "d.py": script("r4", "r3").replace("down_revision: str | None = 'r3'\n", ""),
    },
    "unknown down_revision": {**CHAIN, "d.py": script("r4", "r9")},
    "duplicate revision": {**CHAIN, "d.py": script("r3", "r2")},
    "cycle": {**CHAIN, "x.py": script("x1", "x2"), "y.py": script("x2", "x1")},
    "second base": {**CHAIN, "d.py": script("r4", None)},
    "illegal identifier": {**CHAIN, "d.py": script("r-4", "r3")},
    "does not parse": {**CHAIN, "d.py": script("r4", "r3", "def (")},
}


def lay_out(root: Path, scripts: dict[str, str], ini: str = "") -> tuple[Path, Path]:
    versions = root / "versions"
    versions.mkdir(parents=True)
    for name, text in scripts.items():
        (versions / name).write_text(text)
    ini_file = root / "alembic.ini"
    ini_file.write_text(f"[alembic]\nscript_location = {root}\n{ini}")
    return ini_file, versions


@pytest.mark.parametrize("scripts", PLAIN.values(), ids=PLAIN.keys())
def test_plain_chains_give_alembics_head(tmp_path: Path, scripts: dict[str, str]) -> None:
    ini_file, versions = lay_out(tmp_path, scripts)
    head = plain_head(ini_file, versions)
    assert head is not None
    assert head == ScriptDirectory(str(tmp_path)).get_current_head()


@pytest.mark.parametrize("scripts", NOT_PLAIN.values(), ids=NOT_PLAIN.keys())
def test_anything_else_is_left_to_alembic(tmp_path: Path, scripts: dict[str, str]) -> None:
    ini_file, versions = lay_out(tmp_path, scripts)
    assert plain_head(ini_file, versions) is None


@pytest.mark.parametrize(
    "option",
    ["version_locations = elsewhere", "sourceless = true", "recursive_version_locations = true"],
)
def test_a_different_script_search_is_left_to_alembic(tmp_path: Path, option: str) -> None:
    ini_file, versions = lay_out(tmp_path, CHAIN, option)
    assert plain_head(ini_file, versions) is None


def test_missing_versions_directory_is_left_to_alembic(tmp_path: Path) -> None:
    ini_file, versions = lay_out(tmp_path, {})
    versions.rmdir()
    assert plain_head(ini_file, versions) is None


def test_the_projects_scripts_are_read_without_alembic() -> None:
    """The service's own scripts are a plain chain: the start-up check reads them."""
    head = plain_head(MIGRATIONS_ROOT / "alembic.ini", SCRIPT_LOCATION / "versions")
    assert head is not None
    assert head == head_revision()
    assert head == ScriptDirectory.from_config(alembic_config()).get_current_head()
