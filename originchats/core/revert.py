"""Undoing a step whose commit failed.

The shell replaces the state right after a pure step, before the step's writes are committed (the
commit takes milliseconds; other connections go on meanwhile). When the commit fails, the step must
leave no trace: the socket of a failed `register` is not logged in, the account does not exist, a
failed delete hides nothing. `revert(current, before, after)` takes back exactly what the step
changed (`before` -> `after`) from the state that is current now:

* for a mapping field, each key the step added, replaced or removed gets its `before` value back;
* any other field (a tuple such as `channels`, the settings) gets its `before` value back as a whole;
* but only where the value is still the one the step left (`is` its `after` value). A key that
  something else changed since (a connection that closed, a later write that committed on top)
  keeps what is current: the later change is newer, and if it was committed it is what the
  database holds.

Failed steps are reverted newest first (the writer reports them so), so a chain of failed changes
to one key unwinds to the value before the first of them.

Mapping fields are persistent (core/tables.py): a key is put back with the map's own `set` and
`delete`, so a table's indexes (user -> connections, name -> user, user -> tokens) follow the
entries they index. The indexes are never walked themselves: restoring an index entry on its own
could leave it out of step with the entries (a connection that closed meanwhile). A plain dict
(`roles`, `server_info`) is copied once and changed in place.

The cost is a walk over the changed fields' keys: paid only when a commit fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .state import ServerState

_MISSING: Any = object()


def _revert_mapping(current: Mapping, before: Mapping, after: Mapping) -> Mapping:
    persistent = hasattr(current, "set") and hasattr(current, "delete")
    restored: Any = current
    for key in set(before) | set(after):
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old is new or current.get(key, _MISSING) is not new:
            continue
        if persistent:
            restored = restored.delete(key) if old is _MISSING else restored.set(key, old)
            continue
        if restored is current:
            restored = dict(current)
        if old is _MISSING:
            del restored[key]
        else:
            restored[key] = old
    return restored


def revert(current: ServerState, before: ServerState, after: ServerState) -> ServerState:
    """`current` without the changes of the step that went from `before` to `after`."""
    if before is after:
        return current
    changes: dict[str, Any] = {}
    for field in attrs.fields(ServerState):
        name = field.name
        old, new, now = getattr(before, name), getattr(after, name), getattr(current, name)
        if old is new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping) and isinstance(now, Mapping):
            value = _revert_mapping(now, old, new)
            if value is not now:
                changes[name] = value
        elif now is new:
            changes[name] = old
    return attrs.evolve(current, **changes) if changes else current
