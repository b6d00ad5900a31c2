"""SQLite storage: one file in WAL mode, one writer task, read-only readers (see writer.py)."""
