"""What a plugin holds (docs/plugins.md): `PluginApi` for an `async def` callback, `ThreadApi` (the
same, blocking) for a plain `def` one in its worker thread. Every action is a command of the plugin
account, run by server/plugins.py `PluginHost.command`; `Answers` is the socket of that command's
connection."""

from __future__ import annotations

import inspect
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

if TYPE_CHECKING:
    from .plugins import PluginHost


class PluginError(Exception):
    """A plugin's action was refused (the error text the member would have got) or impossible."""


class Answers:
    """The socket of a plugin's connection: keeps the answers, ignores broadcasts."""

    last_seen = math.inf  # never a dead peer for the heartbeat

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []

    def send_text(self, text: str) -> None:
        self.answers.append(json.loads(text))

    def push(self, frame: Any) -> None:
        pass

    def ping(self) -> None:
        pass

    def close(self, code: int = 1000, reason: str = "") -> None:
        pass


@attrs.define(eq=False)
class PluginApi:
    """What an `async def` callback gets (`ThreadApi` for a plain `def` one: the same, blocking)."""

    host: PluginHost
    name: str

    async def command(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send a command as the plugin account; its answer. Raises `PluginError` on a refusal."""
        return await self.host.command(self.name, cmd, fields)

    async def send_message(self, channel: str, content: str, **fields: Any) -> dict[str, Any]:
        """Post `content` in `channel`; the message (user format)."""
        answer = await self.command("message_new", channel=channel, content=content, **fields)
        return answer.get("message", {})

    async def delete_message(self, channel: str, message_id: str) -> None:
        await self.command("message_delete", channel=channel, id=message_id)

    async def timeout_user(self, user: str, seconds: int) -> None:
        await self.command("user_timeout", user=user, timeout=int(seconds))

    def emit(self, event: str, data: dict[str, Any]) -> None:
        """Raise a custom event for the other plugins (never for this one)."""
        plugin = self.host.plugins.get(self.name)
        self.host.emit(event, json.loads(json.dumps(data)), None,
                       (self.name, (plugin.depth if plugin is not None else 0) + 1))

    def load_config(self, defaults: dict[str, Any], file: str | None = None) -> dict[str, Any]:
        """`<name>_config.json` (or `file`) beside the plugin; a missing or invalid file is written
        from `defaults`; keys the file lacks come from `defaults`."""
        path = self._config_path(file)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                return {**defaults, **loaded}
        except (OSError, ValueError):
            pass
        self.save_config(defaults, file)
        return dict(defaults)

    def save_config(self, config: dict[str, Any], file: str | None = None) -> None:
        path = self._config_path(file)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def _config_path(self, file: str | None) -> Path:
        assert self.host.directory is not None
        name = file or f"{self.name}_config.json"
        if Path(name).name != name or not name.endswith(".json"):
            raise PluginError("a plugin's file is a plain `.json` name in the plugins folder")
        return self.host.directory / name


class ThreadApi:
    """`PluginApi` for a plain `def` callback (in a worker thread): its coroutines, blocking."""

    def __init__(self, api: PluginApi) -> None:
        self._api = api
        self.name = api.name

    def emit(self, event: str, data: dict[str, Any]) -> None:
        trio.from_thread.run_sync(self._api.emit, event, data)  # the queues belong to the trio thread

    def __getattr__(self, attr: str) -> Any:
        fn = getattr(self._api, attr)
        if not inspect.iscoroutinefunction(fn):
            return fn  # file I/O only (load_config, save_config)
        return lambda *args, **kwargs: trio.from_thread.run(lambda: fn(*args, **kwargs))
