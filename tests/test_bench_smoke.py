"""The benchmark keeps working: ``python -m bench --smoke`` (a few seconds, tiny data
set) runs to its table. Its figures are never asserted: speed is measured with
``make bench``, not in tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_runs() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("wrk is required under CI=true (apt-get install wrk)")
        pytest.skip("wrk is not installed (apt-get install wrk)")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("| scenario | memberships | checks/s | bare route/s")
    row = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert row[0] == "sqlite"
    assert row[8] == "0"  # no failed request
