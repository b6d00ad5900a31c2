"""Reading the original server's `db/` folder: its JSON documents and its JSONL message files, with
every problem written down (path, line, reason) and the reading going on.

The original writes a channel's messages to `channels/<name>.json` and a thread's to
`threadMessages/<id>.jsonl`: one JSON object a line despite the `.json` name, lines appended since
its last full rewrite padded with spaces, no newline after the last one. Everything else is one
JSON document per file (objects.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs


@attrs.frozen
class Problem:
    """Something the import could not map. `line` is 1-based (0: the file as a whole); `where` names
    the record inside a document (a user id, a role name) when there is no line to give."""

    path: str
    line: int
    reason: str
    where: str = ""

    def text(self) -> str:
        place = f"{self.path}:{self.line}" if self.line else self.path
        if self.where:
            place += f" [{self.where}]"
        return f"{place}: {self.reason}"


@attrs.define
class Report:
    """What one run read, wrote and could not map."""

    root: Path
    problems: list[Problem] = attrs.Factory(list)
    counts: dict[str, int] = attrs.Factory(dict)
    notes: list[str] = attrs.Factory(list)

    def problem(self, path: Path | str, reason: str, *, line: int = 0, where: str = "") -> None:
        self.problems.append(Problem(self.rel(path), line, reason, where))

    def rel(self, path: Path | str) -> str:
        p = Path(path)
        try:
            return str(p.relative_to(self.root))
        except ValueError:
            return str(p)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def unknown_fields(self, path: Path | str, record: dict, known: frozenset[str], *, line: int = 0,
                       where: str = "") -> None:
        for key in record:
            if key not in known:
                self.problem(path, f"unknown field {key!r}: not imported", line=line, where=where)


#: a JSON escape of a UTF-16 surrogate: the original stored lone ones, which SQLite cannot take
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _without_lone_surrogates(value: object) -> tuple[object, bool]:
    """`value` with each lone surrogate replaced by U+FFFD (pairs make their character); whether
    any was replaced."""
    text = json.dumps(value, ensure_ascii=False)
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return (value, False) if fixed == text else (json.loads(fixed), True)


def read_document(report: Report, path: Path, expected: type, *, required: bool = True) -> Any:
    """The JSON document at `path`, or an empty `expected` (reported) when it is missing, corrupt
    or of another shape."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            report.problem(path, "missing file: nothing imported from it")
        return expected()
    except (OSError, UnicodeDecodeError) as exc:
        report.problem(path, f"cannot read: {exc}")
        return expected()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        report.problem(path, f"corrupt JSON ({exc.msg}, column {exc.colno}): nothing imported from it",
                       line=exc.lineno)
        return expected()
    if not isinstance(value, expected):
        report.problem(path, f"expected a JSON {expected.__name__}, found {type(value).__name__}")
        return expected()
    if _SURROGATE_ESCAPE.search(text.encode("utf-8", "surrogatepass")):
        value, fixed = _without_lone_surrogates(value)
        if fixed:
            report.problem(path, "lone UTF-16 surrogate escapes replaced by U+FFFD")
    return value


def read_lines(report: Report, path: Path) -> Iterator[tuple[int, dict, int]]:
    """(line number, object, bytes of the line) for each line of a JSONL file, streamed; blank lines
    are skipped, a line that is not a JSON object is reported and skipped."""
    try:
        f = path.open("rb")
    except OSError as exc:
        report.problem(path, f"cannot read: {exc.strerror}")
        return
    with f:
        for n, raw in enumerate(f, 1):
            size = len(raw)
            raw = raw.strip()
            if not raw:
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
                report.problem(path, f"corrupt JSON line ({reason}): skipped", line=n)
                continue
            if not isinstance(value, dict):
                report.problem(path, "line is not a JSON object: skipped", line=n)
                continue
            if _SURROGATE_ESCAPE.search(raw):
                value, fixed = _without_lone_surrogates(value)
                if fixed:
                    report.problem(path, "lone UTF-16 surrogate escapes replaced by U+FFFD", line=n)
            yield n, value, size
