"""Progress of an import: a tqdm bar on a terminal, plain lines to a pipe or a file (one when a step
starts, then at most one every 10% of it, and one when it ends)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, bar: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self._tqdm: Any = None
        self._name = ""
        self._total = 0
        self._done = 0
        self._next = 0
        self._start = 0.0

    def start(self, name: str, total: int, unit: str = "records") -> None:
        self.close()
        self._name, self._total, self._done, self._start = name, total, 0, time.monotonic()
        self._unit = unit
        if self.bar:
            from tqdm import tqdm

            scale = unit == "B"
            self._tqdm = tqdm(total=total, desc=name, unit=unit, unit_scale=scale, file=self.stream, leave=True,
                              dynamic_ncols=True)
        else:
            self._next = max(1, total // 10)
            self._line(f"{name}: started ({total} {unit})")

    def advance(self, n: int) -> None:
        self._done += n
        if self._tqdm is not None:
            self._tqdm.update(n)
        elif self._total and self._done >= self._next:
            self._line(f"{self._name}: {100 * self._done // self._total}%")
            self._next = self._done + max(1, self._total // 10)

    def close(self, summary: str = "") -> None:
        if not self._name:
            return
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
            if summary:
                self.stream.write(f"{self._name}: {summary}\n")
        else:
            self._line(f"{self._name}: done in {time.monotonic() - self._start:.1f} s" + (f", {summary}" if summary else ""))
        self._name = ""

    def note(self, text: str) -> None:
        self.close()
        self._line(text)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
