"""Plugins: Python modules in `<data_dir>/plugins/`, run by the shell (docs/plugins.md; the
contract is extended/plugins.md). The pure core never imports them.

* **Loading.** Every `*.py` file of the folder whose name does not start with `_` is imported (in a
  worker thread, within the deadline), in name order. It must define `getInfo()` returning a dict
  with a `handles` list of event names; for each, a function `on_<event>(api, data)`. A module
  that raises, hangs, or has no valid `getInfo()` is skipped and reported (`plugins_reload`'s
  answer, a log line); it never stops the server. `required_permission` or
  `REQUIRED_PERMISSIONS` (role names) limits a plugin to events whose acting user holds one.
* **Events** are derived from what was committed (server/plugin_events.py; `committed` is called
  by the interpreter right after a command's commit and its broadcasts): a plugin never sees
  anything before it is stored, and it never runs before the broadcast. Each plugin has a bounded queue (`[plugins] queue_size`)
  and its own task; when the queue is full the event is dropped for that plugin and logged
  (at the 1st, 2nd, 4th, 8th… drop), so a slow plugin costs neither memory nor other plugins' time.
* **Running callbacks** (server/plugin_runner.py): each plugin's own task runs its events in
  order once the server is idle; `def` callbacks in a worker thread, a batch per trip, each
  callback under `[plugins] deadline_seconds`, behind a crash barrier.
* **Acting.** A plugin acts through `api.command(cmd, **fields)` (server/plugin_api.py, with the
  helpers built on it): the command runs as the member `[plugins] account` from a connection of
  its own (`command`), through `dispatch.handle` like any frame, so permission checks, rate
  limits, the audit log and the audience of every broadcast are a member's. The connection exists only while the command runs.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import attrs
import structlog
import trio

from ..config import PluginsSection
from ..core import writes as w
from ..core.context import Context
from ..core.state import Conn
from ..protocol import codec
from .plugin_api import Answers, PluginApi, PluginError, ThreadApi
from .plugin_events import events_of, presence
from .plugin_runner import where, work

if TYPE_CHECKING:
    from .hub import Hub

log = structlog.get_logger("originchats.plugins")

FOLDER = "plugins"
#: how far plugins may answer plugins: an event caused by a member (depth 0) reaches every plugin;
#: one caused by a plugin's action while handling it (depth 1) reaches the other plugins; what
#: they do about it (depth 2) reaches none. Two plugins answering each other stop there.
MAX_DEPTH = 1

Cause = tuple[str, int]  # (the plugin whose action caused an event, the event's depth)


@attrs.define(eq=False)
class Plugin:
    name: str  # the file name without `.py`
    info: dict[str, Any]
    handlers: dict[str, Callable[..., Any]]
    roles: frozenset[str] | None  # required roles (any of them), or None
    # (event, its data as JSON, depth): each callback gets its own copy of the data
    send: trio.MemorySendChannel[tuple[str, str, int]]
    receive: trio.MemoryReceiveChannel[tuple[str, str, int]]
    limiter: trio.CapacityLimiter = attrs.Factory(lambda: trio.CapacityLimiter(1))
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    dropped: int = 0
    depth: int = 0  # the depth of the event being handled (what its actions cause is one more)
    api: PluginApi | None = None  # what its `async def` callbacks get
    thread_api: ThreadApi | None = None  # the same, blocking, for its plain `def` callbacks


def _import(path: Path, name: str) -> tuple[dict[str, Any], dict[str, Callable[..., Any]], frozenset[str] | None]:
    """Import one plugin file (in a worker thread) and read its info, handlers and roles."""
    spec = importlib.util.spec_from_file_location(f"originchats_plugin_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError("not a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return _describe(module, name)


def _describe(module: ModuleType, name: str) -> tuple[dict[str, Any], dict[str, Callable[..., Any]], frozenset[str] | None]:
    get_info = getattr(module, "getInfo", None)
    if not callable(get_info):
        raise ImportError("no getInfo()")
    info = get_info()
    if not isinstance(info, dict) or not isinstance(info.get("handles"), list) \
            or not all(isinstance(e, str) for e in info["handles"]):
        raise ImportError("getInfo() must return a dict with a `handles` list of event names")
    info = json.loads(json.dumps(info))  # JSON-safe, and the plugin cannot change it later
    handlers = {}
    for event in info["handles"]:
        fn = getattr(module, f"on_{event}", None)
        if callable(fn):
            handlers[event] = fn
        else:
            log.warning("plugin_handler_missing", plugin=name, on=event)
    roles = getattr(module, "required_permission", None) or getattr(module, "REQUIRED_PERMISSIONS", None)
    return info, handlers, (frozenset(str(r) for r in roles) if roles else None)


@attrs.define(eq=False)
class PluginHost:
    directory: Path | None  # None: plugins are off
    settings: PluginsSection
    hub: Hub | None = None
    plugins: dict[str, Plugin] = attrs.Factory(dict)  # name -> plugin, in load order
    wanted: frozenset[str] = frozenset()  # the events some plugin handles
    _nursery: trio.Nursery | None = None
    _own_conns: dict[int, Cause] = attrs.Factory(dict)  # a plugin's acting connection -> its cause
    _joined: dict[int, str] = attrs.Factory(dict)  # logged-in socket whose login was announced -> its user
    _reloading: trio.Lock = attrs.Factory(trio.Lock)

    # ---- life cycle -----------------------------------------------------------------------------

    async def run(self, hub: Hub, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the plugins, fire `server_start`, and keep their tasks until the server stops."""
        self.hub = hub
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            failed = await self.reload(None)
            if failed:
                log.warning("plugins_not_loaded", plugins=list(failed))
            task_status.started()
            self.emit("server_start", {})
            await trio.sleep_forever()

    def _files(self) -> list[Path]:
        if self.directory is None or not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.py") if p.is_file() and not p.name.startswith("_"))

    async def reload(self, name: str | None) -> tuple[str, ...]:
        """Re-import one loaded plugin, or rescan the folder and re-import all; the broken ones."""
        if self.directory is None or self._nursery is None:
            return (name,) if name else ()
        async with self._reloading:
            if name is not None:
                stem = name.removesuffix(".py")
                if stem not in self.plugins:
                    return (name,)
                paths = [self.directory / f"{stem}.py"]
            else:
                paths = self._files()
                for old in list(self.plugins):
                    self._stop(old)
            failed = []
            for path in paths:
                if not await self._load(path):
                    failed.append(path.stem)
            self.wanted = frozenset(e for p in self.plugins.values() for e in p.handlers)
            return tuple(failed)

    async def _load(self, path: Path) -> bool:
        name = path.stem
        described = None
        problem = ""
        with trio.move_on_after(self.settings.deadline_seconds):
            try:
                # its own limiter: a hung import never holds a slot of the pool the store uses
                described = await trio.to_thread.run_sync(_import, path, name, abandon_on_cancel=True,
                                                          limiter=trio.CapacityLimiter(1))
            except Exception as exc:  # noqa: BLE001 - a broken module is reported, never fatal
                problem = f"{type(exc).__name__} at {where(exc)}"
        if described is None:
            log.warning("plugin_load_failed", plugin=name, problem=problem or "import exceeded the deadline")
            if name in self.plugins and not path.exists():
                self._stop(name)
            return False
        self._stop(name)
        info, handlers, roles = described
        send, receive = trio.open_memory_channel[tuple[str, str, int]](self.settings.queue_size)
        plugin = Plugin(name=name, info=info, handlers=handlers, roles=roles, send=send, receive=receive)
        plugin.api = PluginApi(self, name)
        plugin.thread_api = ThreadApi(plugin.api)
        self.plugins[name] = plugin
        assert self._nursery is not None
        self._nursery.start_soon(work, self, plugin)
        log.info("plugin_loaded", plugin=name, handles=sorted(handlers))
        return True

    def _stop(self, name: str) -> None:
        plugin = self.plugins.pop(name, None)
        if plugin is not None:
            plugin.scope.cancel()
            plugin.send.close()

    def listing(self) -> dict[str, Any]:
        """`plugins_list`'s object: each plugin's info, keyed by file name."""
        return {f"{p.name}.py": p.info for p in self.plugins.values()}

    # ---- events ---------------------------------------------------------------------------------

    def emit(self, event: str, data: dict[str, Any], actor_id: str | None = None, cause: Cause | None = None) -> None:
        """Queue `event` for each plugin that handles it (never waits; a full queue drops). A plugin
        never gets the events it caused itself, nor any beyond `MAX_DEPTH`."""
        source, depth = cause if cause is not None else (None, 0)
        if depth > MAX_DEPTH:
            return
        hub = self.hub
        text = None
        for plugin in self.plugins.values():
            if event not in plugin.handlers or plugin.name == source:
                continue
            if plugin.roles is not None:
                user = hub.state.users.get(actor_id or "") if hub is not None else None
                if user is None or not plugin.roles.intersection(user.roles):
                    continue
            if text is None:
                text = json.dumps(data)  # once per event: each plugin parses its own copy
            try:
                plugin.send.send_nowait((event, text, depth))
            except trio.WouldBlock:
                plugin.dropped += 1
                if plugin.dropped & (plugin.dropped - 1) == 0:  # 1, 2, 4, 8…: a bounded log
                    log.warning("plugin_event_dropped", plugin=plugin.name, on=event, dropped=plugin.dropped,
                                queue_size=self.settings.queue_size)
            except (trio.ClosedResourceError, trio.BrokenResourceError):  # stopped (reload, shutdown)
                pass

    def committed(self, writes: tuple[w.Write, ...], ctx: Context) -> None:
        """A command's writes are committed and its broadcasts sent: queue the events they make.
        Runs in the writer task: whatever goes wrong here is logged, never raised into it."""
        try:
            self._committed(writes, ctx)
        except Exception as exc:  # noqa: BLE001 - the writer must go on
            log.error("plugin_events_failed", error=type(exc).__name__, at=where(exc))

    def _committed(self, writes: tuple[w.Write, ...], ctx: Context) -> None:
        if self.hub is None:
            return
        if ctx.conn_id not in self._joined:
            self.authenticated(ctx.conn_id)
        wanted = self.wanted
        if not wanted:
            return
        state = self.hub.state
        source = self._own_conns.get(ctx.conn_id)  # the cause, when a plugin acted
        for event, data, actor in events_of(state, writes, ctx, wanted):
            self.emit(event, data, actor, source)

    def authenticated(self, conn_id: int) -> None:
        """After a command of `conn_id`: if it has just logged in, `user_join`, and `user_connect`
        when it is the user's first socket (both once per socket; `closed` says `user_disconnect`)."""
        if self.hub is None or conn_id in self._joined or conn_id in self._own_conns:
            return
        state = self.hub.state
        conn = state.conns.get(conn_id)
        if conn is None or conn.user_id is None:
            return
        self._joined[conn_id] = conn.user_id
        if not self.wanted & {"user_join", "user_connect"}:
            return
        user = state.users.get(conn.user_id)
        if user is None:
            return
        data = presence(state, user)
        self.emit("user_join", data, user.id)
        if len(state.conns.of_user(user.id)) == 1:
            self.emit("user_connect", dict(data), user.id)

    def closed(self, conn_id: int) -> None:
        """`conn_id` is closed (and gone from the state): `user_disconnect` if it was the user's last.
        Runs in `hub.close`: whatever goes wrong here is logged, never raised into it."""
        user_id = self._joined.pop(conn_id, None)
        hub = self.hub
        if user_id is None or hub is None or "user_disconnect" not in self.wanted \
                or hub.state.conns.has_user(user_id) or (user := hub.state.users.get(user_id)) is None:
            return
        try:
            self.emit("user_disconnect", presence(hub.state, user), user_id)
        except Exception as exc:  # noqa: BLE001 - the socket must be forgotten all the same
            log.error("plugin_events_failed", error=type(exc).__name__, at=where(exc))

    # ---- acting ---------------------------------------------------------------------------------

    async def command(self, source: str, cmd: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Run `cmd` as the plugin account, as if its socket had sent it; the answer packet."""
        hub = self.hub
        if hub is None:
            raise PluginError("the server is not running")
        account = self.settings.account
        user = hub.state.find_user(account) if account else None
        if user is None:
            raise PluginError("no plugin account: set [plugins] account to an existing member")
        conn_id = hub.new_conn_id()
        socket = Answers()
        hub.sockets[conn_id] = socket  # type: ignore[assignment]
        plugin = self.plugins.get(source)
        self._own_conns[conn_id] = (source, (plugin.depth if plugin is not None else 0) + 1)
        hub.state = hub.state.with_conn(Conn(id=conn_id, validator_key="", ip=f"plugin:{source}",
                                             user_id=user.id, username=user.username, status="online"))
        try:
            with trio.CancelScope(shield=True):  # once started, the command runs to its end
                await hub.handle_text(conn_id, codec.encode({**fields, "cmd": cmd}))
                await hub.pipeline.settle(conn_id)
        finally:
            hub.state = hub.state.without_conn(conn_id)
            hub.sockets.pop(conn_id, None)
            self._own_conns.pop(conn_id, None)
        answers = [a for a in socket.answers if a.get("cmd") != "ping"]
        if not answers:
            return {}
        answer = answers[-1]
        if answer.get("cmd") in ("error", "rate_limit", "auth_error", "disconnect"):
            raise PluginError(str(answer.get("val") or answer.get("reason") or answer.get("cmd")))
        return answer
