"""How many bytes a thread takes in a `channels_get` (the threads of every forum are listed there,
extended/threads.md), counted at write time so that the whole list stays within
`limits.thread_list_bytes` without measuring it.

A thread counts as its wire object would be sent at its largest: the creator and every participant
as `budget.NAME_BYTES` whatever their names are today (a rename cannot push the list past its
budget), ids and times at their longest, the name as it is. Its parent forum's name is counted per
forum, once for each of its threads (`ThreadTable.per_channel`), so renaming a forum needs no walk.
"""

from __future__ import annotations

from .budget import NAME_BYTES
from .jsonsize import json_size, str_size
from .model import Thread

_ID = "0" * 36
_LONGEST_FLOAT = -1.2345678901234567e+300
_PROBE = {"id": _ID, "name": "", "parent_channel": "", "created_by": "n" * NAME_BYTES, "created_at": _LONGEST_FLOAT,
          "locked": False, "archived": False, "participants": [], "last_message": _LONGEST_FLOAT,
          "last_message_id": _ID}
#: A thread with an empty name, no participants and an empty parent name, plus the comma after it.
BASE = json_size(_PROBE, max_depth=3) + 1
#: One participant: a quoted name and its comma.
PARTICIPANT_BYTES = NAME_BYTES + 3


def listing_bytes(thread: Thread) -> int:
    """The most bytes `thread` takes in a channel list, its parent's name left out."""
    return BASE + str_size(thread.name) - 2 + len(thread.participants) * PARTICIPANT_BYTES


def name_bytes(name: str) -> int:
    """What a parent forum's name adds to each of its threads."""
    return str_size(name) - 2
