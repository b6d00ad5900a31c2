"""Texts of the thread commands and of message commands inside threads (extended/threads.md)."""

from __future__ import annotations

# ---- the CTX / TACCESS checks of a thread -----------------------------------------------------

THREAD_ID_REQUIRED = "Thread ID is required"
THREAD_LOCKED = "This thread is locked"
THREAD_ARCHIVED = "This thread is archived"
THREAD_VIEW_DENIED = "You do not have permission to view this thread"
THREAD_SEND_DENIED = "You do not have permission to send messages in this thread"
THREAD_EDIT_OWN_DENIED = "You do not have permission to edit your own message in this thread"
THREAD_DELETE_OWN_DENIED = "You do not have permission to delete your own message in this thread"

# ---- thread_create, thread_update, thread_delete ----------------------------------------------

THREAD_FIELDS_REQUIRED = "Channel and thread name are required"
THREADS_FORUM_ONLY = "Threads can only be created in forum channels"
THREAD_CREATE_DENIED = "You do not have permission to create threads in this channel"
THREAD_NAME_EMPTY = "Thread name cannot be empty"
THREAD_MODIFY_DENIED = "You do not have permission to modify this thread"


def thread_name_too_long(limit: int) -> str:
    return f"Thread name too long (max {limit} characters)"


def thread_list_full(limit: int) -> str:
    return f"Thread limit reached (the thread list is at most {limit} bytes)"


def thread_participants_full(limit: int) -> str:
    return f"Thread participant limit reached (max {limit} participants)"


#: Entries README §7 does not spell out in full (threads.md does, or they are this server's own).
UNDOCUMENTED_THREADS = frozenset({
    "THREAD_EDIT_OWN_DENIED", "THREAD_DELETE_OWN_DENIED", "thread_name_too_long", "thread_list_full",
    "thread_participants_full",
})
