"""The wheel and the lock files: what the image and CI install.

* The wheel is built offline (the locked setuptools, no build isolation) from a copy of
  exactly the files the Docker build context admits, without a packaging warning.
* It carries the migrations as ``app/_alembic/``, byte for byte the top-level
  ``alembic/`` and ``alembic.ini``.
* Installed (not editable) into a scratch virtualenv, its ``auth-server`` migrates a
  fresh SQLite file and serves it, with no source tree in reach.
* ``requirements/*.txt`` pin every package with hashes, agree with each other, and
  satisfy ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.e2e.server import ServerProcess, free_port, server_env

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
# What .dockerignore lets into the image's build context, minus the lock files.
BUILD_INPUTS = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"]
BUILD_INPUTS += ["alembic.ini", "alembic", "app"]


def source_migrations() -> dict[str, bytes]:
    """Relative path under the packaged root -> content, from the source tree."""
    files = {"alembic.ini": (ROOT / "alembic.ini").read_bytes()}
    for path in sorted((ROOT / "alembic").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[str(path.relative_to(ROOT))] = path.read_bytes()
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the built wheel, the build's output)."""
    workdir = tmp_path_factory.mktemp("wheel")
    source = workdir / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]", "_alembic")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--wheel-dir", str(workdir / "dist"), "."),
        ],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = (workdir / "dist").glob("auth_service-*.whl")
    return built, result.stdout + result.stderr


def test_wheel_builds_without_packaging_warnings(wheel: tuple[Path, str]) -> None:
    _, output = wheel
    assert "running bdist_wheel" in output  # the build backend's own output is here
    for marker in ("Deprecat", "BuildBackendWarning", "SetuptoolsWarning", "!!"):
        assert marker not in output, output


def test_wheel_metadata_names_the_license(wheel: tuple[Path, str]) -> None:
    built, _ = wheel
    with zipfile.ZipFile(built) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
        assert metadata["License-Expression"] == "MIT"
        assert metadata.get_all("License-File") == ["LICENSE"]
        license_name = metadata_name.replace("METADATA", "licenses/LICENSE")
        assert archive.read(license_name) == (ROOT / "LICENSE").read_bytes()


def test_wheel_carries_the_migrations_as_in_the_source(wheel: tuple[Path, str]) -> None:
    built, _ = wheel
    prefix = "app/_alembic/"
    with zipfile.ZipFile(built) as archive:
        packaged = {
            name.removeprefix(prefix): archive.read(name)
            for name in archive.namelist()
            if name.startswith(prefix) and not name.endswith("/")
        }
        names = archive.namelist()
    assert packaged == source_migrations()
    assert "app/_alembic/alembic/versions/0001_initial_schema.py" in names
    # Only the package: no top-level alembic/ that would shadow the alembic library.
    distribution, version = built.name.split("-")[:2]
    assert {name.split("/")[0] for name in names} == {"app", f"{distribution}-{version}.dist-info"}


@pytest.mark.e2e
def test_installed_wheel_migrates_and_serves(wheel: tuple[Path, str], tmp_path: Path) -> None:
    built, _ = wheel
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", str(built)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    # The dependencies: this environment's site-packages, after the scratch one. Its
    # editable `app` is not reachable that way (a .pth line adds a directory, not its
    # own .pth files), so `app` is the wheel's.
    scratch_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (scratch_site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    workdir = tmp_path / "run"
    workdir.mkdir()
    port = str(free_port())
    env = server_env(
        tmp_path / "home",
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_PORT=port,
        AUTH_MIGRATE_ON_START="false",
    )
    where = subprocess.run(
        [str(python), "-c", "import app.db.migrations as m; print(m.MIGRATIONS_ROOT)"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()) == scratch_site / "app" / "_alembic"

    auth_server = str(venv / "bin" / "auth-server")
    migrate = subprocess.run(
        [auth_server, "migrate"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "Running upgrade 0003 -> 0004" in migrate.stdout + migrate.stderr

    with ServerProcess(workdir, env, executable=auth_server) as server:
        answer = httpx.get(f"{server.url}/health", timeout=5)
        assert (answer.status_code, answer.json()) == (200, {"status": "healthy"})


def locked(name: str) -> dict[str, tuple[str, list[str]]]:
    """package -> (pinned version, hashes) of requirements/NAME.txt."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current: str = ""
    for raw in (REQUIREMENTS / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            pins[current][1].append(line.removeprefix("--hash=").rstrip(" \\"))
            continue
        requirement = Requirement(line.split(" \\")[0].strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        current = str(canonicalize_name(requirement.name))
        pins[current] = (specifier.version, [])
    return pins


@pytest.mark.parametrize("name", ["main.txt", "dev.txt", "build.txt"])
def test_lock_pins_every_package_with_hashes(name: str) -> None:
    pins = locked(name)
    assert pins
    for package, (_version, hashes) in pins.items():
        assert hashes, package
        assert all(value.startswith("sha256:") for value in hashes), package


def test_locks_satisfy_pyproject_and_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    main, dev, build = locked("main.txt"), locked("dev.txt"), locked("build.txt")
    for declared, lock in (
        (project["dependencies"], main),
        (project["dependencies"] + project["optional-dependencies"]["dev"], dev),
    ):
        for line in declared:
            requirement = Requirement(line)
            package = str(canonicalize_name(requirement.name))
            assert package in lock, f"{line} is not in the lock: run `make lock`"
            assert requirement.specifier.contains(lock[package][0]), (line, lock[package][0])
    # The image's packages are CI's packages.
    for locked_package, pin in {**main, **build}.items():
        assert dev[locked_package] == pin, locked_package
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (setuptools,) = [Requirement(r) for r in build_system["build-system"]["requires"]]
    assert setuptools.specifier.contains(build["setuptools"][0])
