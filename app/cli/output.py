"""What the commands print besides their results.

Results go to standard output, notes to standard error. Long work shows its progress
on standard error when that is a terminal; redirected to a file or a pipe, it stays
quiet.
"""

from __future__ import annotations

import sys


def say(message: str) -> None:
    """A note for the operator on standard error (never mixed into results)."""
    print(f"auth-server: {message}", file=sys.stderr, flush=True)


def step(message: str) -> None:
    """What a long job is doing now (on a terminal only)."""
    if sys.stderr.isatty():
        say(message)


def progress(what: str, done: int, total: int) -> None:
    """A progress bar on standard error, redrawn in place, a newline once complete
    (on a terminal only)."""
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width if total == 0 else int(width * min(done, total) / total)
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else ""
    print(f"\r{what:<24} [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)
