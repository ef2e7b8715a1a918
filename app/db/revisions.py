"""The head of the revision scripts, read without running them or importing Alembic.

Every server start and every operator command compares the database's revision with
the code's head (:func:`app.db.migrations.assert_schema_current`); asking Alembic
means importing it and executing every script. :func:`plain_head` reads the scripts'
``revision`` and ``down_revision`` assignments instead, and answers only in the plain
case, where its answer is the one Alembic would give:

* ``alembic.ini`` leaves the script search alone (no ``version_locations``,
  ``sourceless`` or ``recursive_version_locations``), so the scripts are the
  ``*.py`` files of the versions directory that Alembic's own file rule admits;
* each script binds ``revision`` once, at its top level, to a string literal that
  Alembic accepts as an identifier, and ``down_revision`` likewise to a string or
  ``None``; it binds ``branch_labels`` and ``depends_on`` nowhere, or so to ``None``,
  and defines no module ``__getattr__``;
* the revisions form one unbranched chain from a single base to a single head.

Anything else (a merge, a branch, a dependency, a computed value, a script that does
not parse, a duplicate, a missing or cyclic link, no script at all) answers ``None``:
the caller asks Alembic, which gives its own answer or error.
"""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

# Alembic's rule for which files of the versions directory are revision scripts.
SCRIPT_NAME = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
# alembic.ini options that change where or how Alembic finds the scripts.
SCRIPT_SEARCH_OPTIONS = ("version_locations", "sourceless", "recursive_version_locations")
# What Alembic refuses in a revision identifier, or reads as a symbolic one.
ILLEGAL_REVISION_CHARS = frozenset("@-+:")
SYMBOLIC_REVISIONS = frozenset({"head", "heads", "base", "current"})
DECLARATIONS = ("revision", "down_revision", "branch_labels", "depends_on")

UNREADABLE = object()
"""What :func:`declarations` gives for a name it cannot read as one literal."""


def plain_head(ini_file: Path, versions: Path) -> str | None:
    """The head revision of the scripts in ``versions`` when they are the plain case
    described above, else ``None``."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ini_file, encoding="utf-8")
    if any(ini.has_option("alembic", option) for option in SCRIPT_SEARCH_OPTIONS):
        return None
    down_of: dict[str, str | None] = {}
    for path in sorted(versions.iterdir()) if versions.is_dir() else ():
        if not path.is_file() or not SCRIPT_NAME.match(path.name):
            continue
        declared = declarations(path)
        if declared is None or "down_revision" not in declared:
            return None
        revision, down = declared.get("revision"), declared["down_revision"]
        if (
            not isinstance(revision, str)
            or not revision
            or revision in SYMBOLIC_REVISIONS
            or ILLEGAL_REVISION_CHARS & set(revision)
            or revision in down_of
            or not (down is None or isinstance(down, str))
            or declared.get("branch_labels") is not None
            or declared.get("depends_on") is not None
        ):
            return None
        down_of[revision] = down
    heads = set(down_of) - set(down_of.values())
    if len(heads) != 1:
        return None
    head = heads.pop()
    current: str | None = head
    for _ in down_of:  # walk down the chain: every script once, ending at the base
        if current is None or current not in down_of:
            return None
        current = down_of[current]
    return head if current is None else None


def declarations(path: Path) -> dict[str, object] | None:
    """The values the script at ``path`` binds to :data:`DECLARATIONS`: a name bound
    once, by a top-level assignment of a literal, maps to that literal; a name bound
    in any other way, or more than once, maps to :data:`UNREADABLE`; a name never
    bound is absent. ``None`` when the script does not parse, star-imports or defines
    a module ``__getattr__`` (any name might then be bound)."""
    try:
        module = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError):
        return None
    bound = _bound_names(module)
    if "*" in bound or "__getattr__" in bound:
        return None
    values: dict[str, object] = {}
    for statement in module.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in DECLARATIONS:
            try:
                values[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError):
                values[target.id] = UNREADABLE
    for name in DECLARATIONS:
        if bound.count(name) > 1 or (name in bound and name not in values):
            values[name] = UNREADABLE
    return values


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_NAMED = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ExceptHandler,
    ast.MatchAs,
    ast.MatchStar,
)


def _bound_names(module: ast.Module) -> list[str]:
    """Every name the module binds or deletes in its own namespace, once per binding
    ("*" for a star import). Bindings inside a function, lambda or class body are
    local to it, unless it declares the name ``global``; comprehension variables count
    (they are local too, but counting them only ever sends a script to Alembic)."""
    names: list[str] = []
    pending: list[tuple[ast.AST, bool]] = [(module, True)]
    while pending:
        node, module_level = pending.pop()
        if isinstance(node, ast.Global):
            names.extend(node.names)
        elif not module_level:
            pass
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.append(node.id)
        elif isinstance(node, ast.alias):
            names.append(node.asname or node.name.split(".")[0])
        elif isinstance(node, _NAMED) and node.name:  # def, class, except/case ... as
            names.append(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.append(node.rest)
        for field, value in ast.iter_fields(node):
            inner = module_level and not (isinstance(node, _SCOPES) and field == "body")
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    pending.append((child, inner))
    return names
