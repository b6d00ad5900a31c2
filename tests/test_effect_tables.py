"""The effect tables are closed and complete (issue 7, item 3): every persisted fact has its SQL,
every operation its runner, every command its module in the command table, and every command is
sent by some test."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sqlite3
import types
from pathlib import Path
from typing import Any, get_args

import attrs
import pytest

from originchats.core import dispatch, ops, registry, shell_ops, writes
from originchats.core import handlers as handlers_pkg
from originchats.server.ops import OpRunner, runner_table
from originchats.store.reader import Reader
from originchats.store.reads import READS
from originchats.store.sql import WRITERS

TESTS = Path(__file__).parent


def classes_of(module: types.ModuleType) -> set[type]:
    """The attrs classes `module` defines."""
    return {v for v in vars(module).values()
            if isinstance(v, type) and attrs.has(v) and v.__module__ == module.__name__}


def gaps(members: set[type], table: dict[type, Any]) -> tuple[list[str], list[str]]:
    """(members without an entry, entries that are not members), by name."""
    return (sorted(t.__name__ for t in members - table.keys()), sorted(t.__name__ for t in table.keys() - members))


# ---- writes and operations ----------------------------------------------------------------------

def test_every_write_class_is_in_the_write_union():
    assert classes_of(writes) == set(get_args(writes.Write))


def test_every_write_has_exactly_its_writer():
    assert gaps(set(get_args(writes.Write)), WRITERS) == ([], [])


def test_every_operation_class_is_in_the_op_union():
    # Busy is a result; core/shell_ops.py holds the operations the shell runs itself
    assert (classes_of(ops) | classes_of(shell_ops)) - {ops.Busy} == set(get_args(ops.Op))


def test_every_operation_has_exactly_one_runner():
    runner = OpRunner(reader=Reader(sqlite3.connect(":memory:")), rotur_url="")
    assert gaps(set(get_args(ops.Op)), runner.table) == ([], [])
    assert set(READS) <= set(get_args(ops.Op))


def test_the_table_checks_can_fail():
    # a write without SQL, and an operation with no runner, are found
    table = dict(WRITERS)
    del table[writes.UserSaved]
    assert gaps(set(get_args(writes.Write)), table) == (["UserSaved"], [])
    assert gaps({ops.HashPassword, ops.Busy}, {ops.HashPassword: None}) == (["Busy"], [])
    # an operation with a runner in the shell and in READS at once is refused
    with pytest.raises(RuntimeError, match="two runners"):
        runner_table(lambda fn, op: None, {ops.History: lambda op: None})


# ---- commands -------------------------------------------------------------------------------------

def test_every_module_with_commands_is_in_the_table():
    found = []
    for info in pkgutil.iter_modules(handlers_pkg.__path__):
        module = importlib.import_module(f"{handlers_pkg.__name__}.{info.name}")
        if registry.marked(module):
            found.append(module)
    assert set(found) == set(dispatch.MODULES)


def test_the_built_tables_are_the_marked_handlers():
    marks = [mark for module in dispatch.MODULES for mark, _ in registry.marked(module)]
    assert sorted(m.name for m in marks if m.table == registry.USER) == sorted(dispatch.HANDLERS)
    assert sorted(m.name for m in marks if m.table == registry.AUTH) == sorted(dispatch.AUTH_HANDLERS)
    assert sorted(m.name for m in marks if m.table == registry.OPERATOR) == sorted(dispatch.OPERATOR_HANDLERS)


def test_a_name_defined_twice_fails_the_build():
    def module(name: str, command: str, **kind: bool) -> types.ModuleType:
        mod = types.ModuleType(name)

        def handler(state, ctx, req):  # type: ignore[no-untyped-def]
            raise AssertionError

        handler.__module__ = name
        mod.handler = registry.command(command, **kind)(handler)  # type: ignore[attr-defined]
        return mod

    with pytest.raises(RuntimeError, match="'ping' is defined twice: in one and two"):
        registry.build([module("one", "ping"), module("two", "ping")])
    # the same name in two tables is two commands
    built = registry.build([module("one", "ping"), module("two", "ping", operator=True)])
    assert list(built.handlers) == ["ping"] and list(built.operator) == ["ping"]


def senders(trees: list[ast.AST]) -> dict[str, set[int]]:
    """Functions that send the command named by their `cmd` parameter: name -> positions of `cmd`
    in a call. A sender builds `{"cmd": cmd, …}` (`Client.send`) or passes its `cmd` on to a
    sender (the `ok(client, cmd)` helpers); `expect(cmd)` does neither."""
    defs = [node for tree in trees for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "cmd" in [a.arg for a in node.args.args]]

    def passes_cmd(fn: ast.AST, known: dict[str, set[int]]) -> bool:
        for node in ast.walk(fn):
            if isinstance(node, ast.Dict) and any(_text(k) == "cmd" and isinstance(v, ast.Name) and v.id == "cmd"
                                                  for k, v in zip(node.keys, node.values)):
                return True
            if isinstance(node, ast.Call) and _name(node.func) in known:
                args = [node.args[i] for i in known[_name(node.func)] if i < len(node.args)]
                args += [k.value for k in node.keywords if k.arg == "cmd"]
                if any(isinstance(a, ast.Name) and a.id == "cmd" for a in args):
                    return True
        return False

    found: dict[str, set[int]] = {}
    while True:
        more = False
        for fn in defs:
            params = [a.arg for a in fn.args.args]
            at = params.index("cmd") - (params[:1] == ["self"])
            if at not in found.get(fn.name, set()) and passes_cmd(fn, found):
                found.setdefault(fn.name, set()).add(at)
                more = True
        if not more:
            return found


def _name(func: ast.AST) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def request_dicts(tree: ast.AST) -> list[ast.Dict]:
    """Dict literals with a "cmd" that are sent: a call's argument (`server.admin({...})`,
    `json.dumps({...})`) or an item of a list of requests, never one a test compares with."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict) or not any(_text(k) == "cmd" for k in node.keys):
            continue
        parent = parents.get(node)
        if not (isinstance(parent, ast.Call) and node in parent.args) and not isinstance(
                parent, (ast.List, ast.Tuple, ast.ListComp)):
            continue
        up: ast.AST | None = node
        while up is not None and not isinstance(up, (ast.Compare, ast.Assert)):
            up = parents.get(up)
        if up is None:
            found.append(node)
    return found


def sent_by_tests(paths: list[Path]) -> set[str]:
    """Command names the tests send by name: a call of a sender (`senders`) with the name as its
    `cmd`, a request dict (`request_dicts`), and `admin(server, NAME, …)` (the CLI in a
    subprocess, tests/test_admin_cli.py)."""
    trees = [ast.parse(path.read_text(), filename=str(path)) for path in paths]
    at = senders(trees)
    names: set[str | None] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn = _name(node.func)
            if fn == "admin":
                names.update([_text(a) for a in node.args if _text(a)][:1])
            elif fn in at:
                names.update(_text(k.value) for k in node.keywords if k.arg == "cmd")
                names.update(_text(node.args[i]) for i in at[fn] if i < len(node.args))
        for d in request_dicts(tree):
            names.update(_text(v) for k, v in zip(d.keys, d.values) if _text(k) == "cmd")
    return {n for n in names if n is not None}


def test_every_command_is_sent_by_some_test():
    """A loop over every name (tests/test_capabilities.py, the fuzzer) does not count: each command
    is sent by name, with its fields, somewhere."""
    sent = sent_by_tests(sorted(TESTS.rglob("*.py")))
    for table in (dispatch.HANDLERS, dispatch.AUTH_HANDLERS, dispatch.OPERATOR_HANDLERS):
        assert sorted(set(table) - sent) == []


def test_the_sent_check_can_fail(tmp_path):
    fake = tmp_path / "test_fake.py"
    fake.write_text('async def ok(client, cmd, **fields):\n    await client.send(cmd, **fields)\n\n'
                    'async def t(c, server, name):\n    await c.send("ping")\n    await server.admin({"cmd": "ban"})\n'
                    '    await c.send(name)\n    await admin(server, "list-users")\n    await ok(c, "typing")\n'
                    '    await c.expect("users_list")\n    assert x == {"cmd": "auth_error"}\n'
                    '    await c.send_raw(json.dumps({"cmd": "logout"}))\n    assert await c.recv() == [{"cmd": "auth"}]\n')
    assert sent_by_tests([fake, TESTS / "client.py"]) - sent_by_tests([TESTS / "client.py"]) == {"ping", "ban", "list-users", "typing", "logout"}
