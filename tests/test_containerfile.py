"""The Containerfile at the repository root parses (instructions, JSON forms) and copies what the wheel
build needs from files that exist. No container engine runs in CI here; docs/deploy.md says how it
was checked (the wheel built from exactly the copied files, installed, `init`, `check`, `serve`)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KNOWN = {"FROM", "RUN", "COPY", "WORKDIR", "USER", "VOLUME", "EXPOSE", "CMD", "ENTRYPOINT", "ENV", "ARG",
         "LABEL", "STOPSIGNAL", "HEALTHCHECK"}


def instructions() -> list[tuple[str, str]]:
    out, pending = [], ""
    for line in (ROOT / "Containerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, rest = pending.strip().partition(" ")
        out.append((keyword, rest.strip()))
        pending = ""
    assert not pending, "a continued line at the end"
    return out


def test_the_containerfile_parses_and_copies_existing_sources():
    steps = instructions()
    assert {k for k, _ in steps} <= KNOWN
    assert [k for k, _ in steps].count("FROM") == 2 and steps[0][0] == "FROM"
    stages = {rest.split()[-1] for k, rest in steps if k == "FROM" and " AS " in rest}
    copied = set()
    for keyword, rest in steps:
        if keyword == "COPY":
            parts = rest.split()
            if parts[0].startswith("--from="):
                assert parts[0].removeprefix("--from=") in stages
                continue
            for src in parts[:-1]:
                assert (ROOT / src).exists(), f"COPY of a missing {src}"
                copied.add(src)
        if keyword in ("CMD", "VOLUME"):
            json.loads(rest)  # the exec (JSON) form
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # what setup.py and pyproject.toml read at build time
    assert {"pyproject.toml", "setup.py", project["readme"], "config.toml", "migrations", "originchats"} <= copied
    cmd = json.loads(dict(steps)["CMD"])
    assert cmd[:2] == ["originchats", "serve"] and "--host" in cmd
    assert dict(steps)["USER"] != "root"
