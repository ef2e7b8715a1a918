"""Build step that pyproject.toml cannot express: the migrations travel in the wheel.

The top-level ``alembic/`` and ``alembic.ini`` stay the source of truth (Alembic's own
layout, ``alembic upgrade head`` from a checkout). ``build_py`` copies them into the
built package as ``app/_alembic/alembic.ini`` and ``app/_alembic/alembic/``, the same
layout one level down, so ``app.db.migrations`` finds them in a non-editable install.
``tests/test_packaging.py`` checks that the wheel's copy equals the source.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGED = Path("app") / "_alembic"


class BuildPyWithMigrations(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the source tree itself
            return
        target = Path(self.build_lib) / PACKAGED
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(
            ROOT / "alembic",
            target / "alembic",
            ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"),
        )
        shutil.copy2(ROOT / "alembic.ini", target / "alembic.ini")


setup(cmdclass={"build_py": BuildPyWithMigrations})
