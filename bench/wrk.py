"""Driving Debian's ``wrk`` (pinned to its own core) and reading its report.

:func:`write_script` writes a Lua script that asks a fixed list of paths in random
order (seeded), with the tenant's ``Authorization`` header; for writes it posts to
fresh paths built from a counter. :func:`run` runs ``wrk`` for a fixed time at a fixed
number of connections and parses requests/s, p50, p99 and errors from
``--latency`` output.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(path: Path, *, key: str, paths: list[str], method: str = "GET") -> Path:
    """A Lua script asking ``paths`` in random order (``method``; POSTs send no body)."""
    table = ",\n".join(_lua_string(item) for item in paths)
    path.write_text(
        "math.randomseed(7)\n"
        f"local paths = {{\n{table}\n}}\n"
        f'local headers = {{["Authorization"] = {_lua_string("Bearer " + key)}}}\n'
        "request = function()\n"
        f"  return wrk.format({_lua_string(method)}, paths[math.random(#paths)], headers)\n"
        "end\n"
    )
    return path


def write_unique_posts(path: Path, *, key: str, before: str, after: str = "") -> Path:
    """A Lua script posting ``before .. n .. after`` with a fresh ``n`` each time (new
    rows, e.g. ``/api/membership/writer<n>/r0``)."""
    path.write_text(
        "local counter = 0\n"
        f'local headers = {{["Authorization"] = {_lua_string("Bearer " + key)}}}\n'
        "request = function()\n"
        "  counter = counter + 1\n"
        f'  return wrk.format("POST", {_lua_string(before)} .. counter .. {_lua_string(after)},'
        " headers)\n"
        "end\n"
    )
    return path


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if match is None:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> Load:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rate and total and p50 and p99):
        raise ValueError("unreadable wrk output:\n" + output)
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets:
        errors += sum(int(value) for value in sockets.groups())
    return Load(
        float(rate.group(1)),
        _milliseconds(p50.group(1)),
        _milliseconds(p99.group(1)),
        int(total.group(1)),
        errors,
    )


def run(url: str, script: Path, *, seconds: float, connections: int, core: int | None) -> Load:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",  # wrk's default (2 s) would count a slow answer as an error
        "30s",
        "-s",
        str(script),
        url,
    ]
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    return parse(done.stdout)
