"""The pure core imports neither trio, sqlite3, the network, the clock nor the shell."""

import ast
from pathlib import Path

import originchats.core

FORBIDDEN = {
    "trio", "trio_websocket", "sqlite3", "socket", "ssl", "asyncio", "httpx", "h11", "wsproto", "structlog",
    "time", "datetime", "uuid", "random", "secrets", "os", "subprocess", "threading", "json",
    "originchats.server", "originchats.store", "originchats.cli", "originchats.admin",
    "originchats.media", "PIL", "filetype",
}
CORE = Path(originchats.core.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module)
            elif node.level > 0:
                # relative: resolve against the file's package
                package = path.relative_to(CORE.parent.parent).with_suffix("").parts[:-1]
                base = list(package)[: len(package) - (node.level - 1)]
                found.add(".".join(base + ([node.module] if node.module else [])))
    return found


def violations(path: Path) -> list[str]:
    bad = []
    for mod in imported_modules(path):
        for forbidden in FORBIDDEN:
            if mod == forbidden or mod.startswith(forbidden + "."):
                bad.append(mod)
    return bad


def test_core_is_pure():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    found = {str(p.relative_to(CORE)): violations(p) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_checker_catches_a_forbidden_import(tmp_path):
    # the rule must be able to fail: a core-like file importing trio and the shell is caught
    fake = CORE / "_fake_for_test.py"
    fake.write_text("import trio\nfrom ..server import hub\n")
    try:
        assert sorted(violations(fake)) == ["originchats.server", "trio"]
    finally:
        fake.unlink()


def test_the_protocol_layer_does_not_reach_into_the_shell():
    """protocol/ (the codec) may import the core and json, but not trio, the store or the shell."""
    import originchats.protocol

    forbidden = {"trio", "sqlite3", "originchats.server", "originchats.store", "originchats.cli", "originchats.admin"}
    for path in sorted(Path(originchats.protocol.__file__).parent.rglob("*.py")):
        mods = imported_modules(path)
        assert not {m for m in mods for f in forbidden if m == f or m.startswith(f + ".")}, path


def packet_reads(path: Path) -> list[int]:
    """Lines where shell code reads a packet: `packet[...]`, `packet.get(...)`, `... is packet`."""
    def is_packet(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id == "packet") or (
            isinstance(node, ast.Attribute) and node.attr == "packet")

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Subscript) and is_packet(node.value):
            found.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "get" and is_packet(node.value):
            found.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(is_packet(n) for n in [node.left, *node.comparators]) \
                and any(isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in node.ops):
            found.append(node.lineno)
    return sorted(found)


def test_the_shell_never_looks_inside_a_packet():
    """The shell passes packets to the codec; what it needs to know (a refusal, a broadcast that is
    also the caller's reply) is on the effect (core/effects.py)."""
    import originchats.server

    files = sorted(Path(originchats.server.__file__).parent.rglob("*.py"))
    assert {str(p.name): packet_reads(p) for p in files if packet_reads(p)} == {}


def test_the_packet_check_can_fail(tmp_path):
    fake = tmp_path / "fake.py"
    fake.write_text("a = effect.packet.get('cmd')\nb = packet['val']\nc = last is packet\nd = 'x' in effect.packet\n")
    assert packet_reads(fake) == [1, 2, 3, 4]


def handler_imports(path: Path) -> list[str]:
    return sorted(m for m in imported_modules(path) if m == "originchats.core.handlers"
                  or m.startswith("originchats.core.handlers."))


def test_only_the_dispatcher_imports_handler_modules():
    """The shell, the store and the CLI reach the handlers through core/dispatch.py only; what they
    share with handlers (retention, channel lists, audiences) lives in core modules of its own."""
    root = CORE.parent
    files = [p for p in sorted(root.rglob("*.py")) if CORE / "handlers" not in p.parents
             and p != CORE / "dispatch.py"]
    assert {str(p.relative_to(root)): handler_imports(p) for p in files if handler_imports(p)} == {}


def test_the_handler_import_check_can_fail():
    fake = CORE.parent / "server" / "_fake_for_test.py"
    fake.write_text("from ..core.handlers.channels import x\n")
    try:
        assert handler_imports(fake) == ["originchats.core.handlers.channels"]
    finally:
        fake.unlink()
