"""No test compares a body with itself.

``assert_wrapped(response, data)`` and ``assert_bare(response, value)`` check a body
against the value the contract gives. Handed a value read from that same response
(``response.json()["data"]``, or a local computed from it) they would check only the
envelope and pass whatever the body held. This module reads every test module's
source and refuses such a call; write the expected value out instead, with the
stand-ins of :mod:`tests.api.matchers` for what the server makes up.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
CHECKED_HELPERS = frozenset({"assert_wrapped", "assert_bare"})
BODY_READS = frozenset({"json", "text", "content", "read", "aread"})
"""Attributes of an ``httpx.Response`` that give its body."""


def _bodies_read(node: ast.AST) -> set[str]:
    """Names whose body ``node`` reads (``r.json()``, ``r.text``, ...)."""
    return {
        sub.value.id
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute)
        and sub.attr in BODY_READS
        and isinstance(sub.value, ast.Name)
    }


def _names(node: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)}


def _bindings(function: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """Every ``(target, value)`` a function binds: assignments, loops, ``with``,
    comprehensions, ``:=``."""
    found: list[tuple[ast.AST, ast.AST]] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            found.extend((target, node.value) for target in node.targets)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
            if node.value is not None:
                found.append((node.target, node.value))
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            found.append((node.target, node.iter))
        elif isinstance(node, ast.With | ast.AsyncWith):
            found.extend(
                (item.optional_vars, item.context_expr)
                for item in node.items
                if item.optional_vars is not None
            )
    return found


def _derivations(function: ast.AST) -> dict[str, set[str]]:
    """For each local name, the responses whose body its value was computed from."""
    direct: dict[str, set[str]] = {}
    uses: dict[str, set[str]] = {}
    for target, value in _bindings(function):
        for name in _names(target):
            direct.setdefault(name, set()).update(_bodies_read(value))
            uses.setdefault(name, set()).update(_names(value))
    derived = {name: set(read) for name, read in direct.items()}
    changed = True
    while changed:  # follow locals computed from locals
        changed = False
        for name, used in uses.items():
            for other in used:
                extra = derived.get(other, set()) - derived[name]
                if extra:
                    derived[name] |= extra
                    changed = True
    return derived


def misuses(source: str, filename: str = "<test>") -> list[str]:
    """Calls of the checked helpers whose expected value reads the response checked."""
    found: list[str] = []
    tree = ast.parse(source, filename)
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        derived = _derivations(function)
        for call in ast.walk(function):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in CHECKED_HELPERS
                and len(call.args) >= 2
                and isinstance(call.args[0], ast.Name)
            ):
                continue
            response, expected = call.args[0].id, call.args[1]
            read = _bodies_read(expected)
            for name in _names(expected):
                read |= derived.get(name, set())
            if response in read:
                found.append(f"{filename}:{call.lineno}: {ast.unparse(call)}")
    return found


def test_no_expected_value_is_read_from_the_response_it_checks() -> None:
    found = [
        misuse
        for path in sorted(TESTS.rglob("*.py"))
        for misuse in misuses(path.read_text(encoding="utf-8"), str(path.relative_to(TESTS)))
    ]
    assert found == [], (
        "These calls compare a body with itself; write the expected value out "
        "(tests/api/matchers.py has stand-ins for minted keys, ids and times):\n" + "\n".join(found)
    )


@pytest.mark.parametrize(
    "body",
    [
        'assert_wrapped(response, response.json()["data"])',
        'data = response.json()["data"]\nassert_wrapped(response, data)',
        'allowed = response.json()["data"]["has_permission"]\n'
        'assert_wrapped(response, {"has_permission": allowed})',
        'data = response.json()["data"]\nkeys = [k for k in data["keys"]]\n'
        'assert_wrapped(response, {"count": 1, "keys": keys})',
        'assert_bare(response, response.json()["result"])',
        "assert_bare(response, json.loads(response.text))",
    ],
)
def test_the_check_sees_a_body_compared_with_itself(body: str) -> None:
    source = "async def test(api):\n    response = await api.get('/x')\n"
    assert misuses(source + textwrap.indent(body, "    ")) != []


@pytest.mark.parametrize(
    "body",
    [
        'assert_wrapped(response, {"has_permission": True})',
        'key = (await api.post("/k")).json()["data"]["key_id"]\n'
        'assert_wrapped(response, {"key_id": key})',
        'earlier = await api.get("/y")\nassert_bare(response, earlier.json()["result"])',
        'data = assert_wrapped(response, {"count": 0, "keys": []})\nassert data["count"] == 0',
    ],
)
def test_the_check_lets_written_out_values_pass(body: str) -> None:
    source = "async def test(api):\n    response = await api.get('/x')\n"
    assert misuses(source + textwrap.indent(body, "    ")) == []
