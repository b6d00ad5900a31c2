"""The text catalogue (originchats/core/texts/) is the one home of every error text.

* No code hands a text written inline to a place that expects one (`ProtocolError`, `AuthError`,
  the error packets and effects, a refusal, a close or disconnect reason): an AST scan.
* Every catalogue entry is used, and no catalogue text is spelled out again elsewhere.
* Every catalogue text the protocol documents is spelled exactly as README §7/§9 spells it; the
  others are listed in `texts.UNDOCUMENTED`, and none of those is in fact documented.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import originchats
from originchats.core import texts
from tests.protocol_texts import DOCUMENTED, PLACEHOLDER, extract

PACKAGE = Path(originchats.__file__).parent
CATALOGUE = PACKAGE / "core" / "texts"

#: callee -> (position, keyword) of its text argument. Bare names are the exceptions, effects and
#: helpers that take a text; `packets.X` are the packet builders with a text field.
SINKS: dict[str, tuple[int, str]] = {
    "ProtocolError": (0, "val"), "AuthError": (0, "val"), "Undecodable": (0, "val"),
    "error_reply": (0, "val"), "auth_error_send": (1, "val"), "Refusal": (0, "reason"),
    "r.add": (1, "msg"), "Close": (2, "reason"), "disconnect": (2, "reason"),
    "login_success": (99, "failure"), "required_str": (2, "missing"),
    "packets.error": (0, "val"), "packets.auth_error": (0, "val"), "packets.disconnect": (0, "reason"),
    "packets.rate_limit": (1, "reason"), "packets.logout": (0, "val"), "packets.operator_error": (0, "message"),
}


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
        return f"{node.func.value.id}.{node.func.attr}"
    return None


def _inline(node: ast.AST | None) -> bool:
    """A text written out here: a string literal, an f-string, or one built from them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value != ""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _inline(node.left) or _inline(node.right)
    if isinstance(node, ast.IfExp):
        return _inline(node.body) or _inline(node.orelse)
    if isinstance(node, ast.BoolOp):
        return any(_inline(v) for v in node.values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _inline(node.func.value)  # "...".join(...), "...".format(...)
    return False


def _values_of_names(tree: ast.AST) -> dict[str, list[ast.AST]]:
    """Every value a name is given in the module: assignments and parameter defaults."""
    out: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, []).append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            if node.value is not None:
                out.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            positional = args.posonlyargs + args.args
            for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
                out.setdefault(arg.arg, []).append(default)
            for arg, default in zip(args.kwonlyargs, args.kw_defaults):
                if default is not None:
                    out.setdefault(arg.arg, []).append(default)
    return out


def inline_texts(source: str, filename: str = "<source>") -> list[str]:
    """`file:line callee` for each text argument of a sink that is written inline, directly or
    through a name given such a value in the same module."""
    tree = ast.parse(source, filename)
    names = _values_of_names(tree)
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = _callee(node)
        if callee not in SINKS:
            continue
        position, keyword = SINKS[callee]
        args = [node.args[position]] if position < len(node.args) else []
        args += [kw.value for kw in node.keywords if kw.arg == keyword]
        for arg in args:
            bad = _inline(arg) or (isinstance(arg, ast.Name) and any(_inline(v) for v in names.get(arg.id, ())))
            if bad:
                found.append((node.lineno, node.col_offset, f"{filename}:{node.lineno} {callee}"))
    return [hit for *_, hit in sorted(found)]


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if CATALOGUE not in p.parents)


def test_no_text_is_written_inline_where_a_text_is_expected():
    found = [hit for path in sources() for hit in inline_texts(path.read_text(), str(path.relative_to(PACKAGE)))]
    assert found == []


def test_the_scan_catches_texts_written_inline():
    source = '''
LOCAL = "Nope"
def handler(state, reason="Gone"):
    if state:
        raise ProtocolError("Channel not found")
    if state is None:
        raise AuthError(f"Role '{state}' not found")
    msg = "Missing fields: " + ", ".join(state)
    raise ProtocolError(msg, nosrc=True)
def other(conn):
    fine = texts.USER_NOT_FOUND
    yield ProtocolError(fine), ProtocolError(texts.unknown_command(conn)), ProtocolError(LOCAL)
    yield packets.error("x", None), packets.disconnect(reason), error_reply(val="y", src=None)
    yield Close((conn,), 1000, "bye"), packets.rate_limit(5, "slow down"), packets.rate_limit(5)
'''
    assert [hit.split()[1] for hit in inline_texts(source)] == [
        "ProtocolError", "AuthError", "ProtocolError", "ProtocolError", "packets.error", "packets.disconnect",
        "error_reply", "Close", "packets.rate_limit"]


# ---- the catalogue's entries ------------------------------------------------------------------


def entries() -> dict[str, object]:
    """Public constants (texts) and functions (text makers) of the catalogue."""
    return {name: value for name, value in vars(texts).items()
            if not name.startswith("_") and name != "UNDOCUMENTED" and name != "annotations"
            and (isinstance(value, str) or _maker(value))}


def _maker(value: object) -> bool:
    return inspect.isfunction(value) and value.__module__.startswith(texts.__name__ + ".")


def test_every_catalogue_entry_is_used():
    used: set[str] = set()
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "texts":
                used.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.endswith("texts"):
                used.update(alias.name for alias in node.names)
    assert sorted(set(entries()) - used) == []


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_no_catalogue_text_is_spelled_out_again_elsewhere():
    fixed = {value: name for name, value in entries().items() if isinstance(value, str)}
    found = []
    for path in sources():
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in fixed and id(node) not in docs:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {fixed[node.value]}")
    assert found == []


# ---- spelled as the protocol documents them ---------------------------------------------------


def _pattern(documented: str) -> re.Pattern[str]:
    parts = PLACEHOLDER.split(documented)
    return re.compile(".+".join(re.escape(p) for p in parts), re.S)


PATTERNS = [_pattern(t) for t in DOCUMENTED]


#: sample arguments for makers whose text depends on which value they get
SAMPLES = {"string_or_null": ("Nickname",), "embed_invalid": (0, [("title", "Field required")])}


def _sample(fn: object) -> str:
    """The text a maker gives for sample values (a list or tuple where it takes one)."""
    if fn.__name__ in SAMPLES:  # type: ignore[attr-defined]
        return fn(*SAMPLES[fn.__name__])  # type: ignore[attr-defined,operator]
    args = []
    for param in inspect.signature(fn).parameters.values():  # type: ignore[arg-type]
        args.append(["x", "y"] if "list" in str(param.annotation) else ("x", "y") if "tuple" in str(param.annotation)
                    else 7)
    return fn(*args)  # type: ignore[operator]


def rendered() -> dict[str, str]:
    return {name: value if isinstance(value, str) else _sample(value) for name, value in entries().items()}


def documented(text: str) -> bool:
    return any(p.fullmatch(text) for p in PATTERNS)


def test_every_documented_text_is_spelled_as_the_protocol_spells_it():
    """A catalogue text either matches a text of README §7/§9 exactly (values aside), or is listed
    as undocumented; so a misspelt documented text fails here."""
    unmatched = sorted(name for name, text in rendered().items() if not documented(text))
    assert [name for name in unmatched if name not in texts.UNDOCUMENTED] == []


def test_the_undocumented_list_is_honest():
    shown = rendered()
    assert sorted(texts.UNDOCUMENTED - set(shown)) == []  # no stale names
    assert sorted(name for name in texts.UNDOCUMENTED if documented(shown[name])) == []


def test_a_misspelt_documented_text_would_be_caught():
    assert documented("Channel not found") and documented("Role 'fans' does not exist")
    assert not documented("Channel not found.") and not documented("Role fans does not exist")
    assert documented("Rate limit exceeded. Wait 3.2 seconds")
    assert not documented("Rate limit exceeded, wait 3.2 seconds")


def _protocol_readme() -> Path | None:
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "protocol" / "README.md"
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.skipif(_protocol_readme() is None, reason="the protocol docs (shared/protocol) are not next to the repository")
def test_the_list_of_documented_texts_is_the_protocols():
    assert list(DOCUMENTED) == extract(_protocol_readme().read_text())  # type: ignore[union-attr]


def test_error_packets_in_the_core_are_built_only_as_refusals():
    """An `error`/`auth_error` packet reaches the shell only inside the effect errors.py builds,
    which carries `rejected`: the shell counts refusals by that flag, never by reading the packet."""
    core = PACKAGE / "core"
    found = []
    for path in sorted(core.rglob("*.py")):
        if path.name in ("errors.py", "packets.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _callee(node) in ("packets.error", "packets.auth_error", "error",
                                                                "auth_error"):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []
