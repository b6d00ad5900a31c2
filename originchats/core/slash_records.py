"""The slash registry's records, kept in `ServerState.slash` (core/slash.py uses them)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Registration:
    """The commands one connection registered (definitions in wire form, `registeredBy` included)."""

    conn_id: int
    user_id: str
    commands: tuple[dict[str, Any], ...]


@attrs.frozen
class Pending:
    """A call of a bot's command that the bot may still answer once."""

    owner_id: str  # the bot's user id
    conn_id: int  # the connection that registered the command (and got the call)
    command: str
    channel: str  # channel name (a thread's: its forum's)
    invoker_id: str
    deadline: float
    thread_id: str | None = None  # a call made in a thread: the answer goes there


@attrs.frozen
class SlashState:
    registrations: tuple[Registration, ...] = ()  # in order of first registration
    pending: tuple[Pending, ...] = ()  # oldest first

    def effective(self) -> dict[str, tuple[Registration, dict[str, Any]]]:
        """name -> (registration, definition) of the command a call of that name reaches: the
        first registered, as in the original (later ones with the same name are shadowed)."""
        out: dict[str, tuple[Registration, dict[str, Any]]] = {}
        for reg in self.registrations:
            for d in reg.commands:
                out.setdefault(d["name"], (reg, d))
        return out

    def of_conn(self, conn_id: int) -> Registration | None:
        for reg in self.registrations:
            if reg.conn_id == conn_id:
                return reg
        return None

    def replaced(self, conn_id: int, reg: Registration | None) -> SlashState:
        """With the connection's registration set (kept at its place) or dropped (None); a dropped
        connection's pending calls go with it."""
        regs = []
        found = False
        for r in self.registrations:
            if r.conn_id == conn_id:
                found = True
                if reg is not None:
                    regs.append(reg)
            else:
                regs.append(r)
        if not found and reg is not None:
            regs.append(reg)
        pending = self.pending if reg is not None else tuple(p for p in self.pending if p.conn_id != conn_id)
        return SlashState(tuple(regs), pending)

    def live(self, now: float) -> SlashState:
        """Without the calls whose deadline has passed."""
        if all(p.deadline >= now for p in self.pending):
            return self
        return SlashState(self.registrations, tuple(p for p in self.pending if p.deadline >= now))
