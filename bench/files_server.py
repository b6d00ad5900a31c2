"""`python -m bench.files_server serve --config PATH`: the real server with two stand-in file routes.

Until the attachment routes exist (server/attachments_http.py), the `files` scenario needs something
that uploads and downloads through the same transport they will use (server/httpio.py): this adds

* `POST /bench/upload`: `Exchange.read_upload` into `<bench dir>/files`, then the temp file is
  renamed to its SHA-256; answers 201 `{"id": <sha256>, "size": n}`;
* `GET /bench/files/<id>`: `Exchange.send_file` of that file.

and then runs the ordinary `originchats serve`. No authentication: a bench-only program.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio

from originchats.cli import main
from originchats.server import http
from originchats.server.httpio import Exchange, HttpError

BODY_LIMIT = 200 * 1024 * 1024
FILE_LIMIT = 150 * 1024 * 1024


def install(files: Path) -> None:
    files.mkdir(parents=True, exist_ok=True)

    async def upload(ex: Exchange, rest: str) -> None:
        form = await ex.read_upload(body_limit=BODY_LIMIT, file_limit=FILE_LIMIT, tmp_dir=files)
        if form.file is None:
            raise HttpError(400, "no file")
        await trio.to_thread.run_sync(os.replace, form.file.path, files / form.file.sha256)
        await ex.send_json(201, {"id": form.file.sha256, "size": form.file.size})

    async def download(ex: Exchange, rest: str) -> None:
        if len(rest) != 64 or not all(c in "0123456789abcdef" for c in rest):
            raise HttpError(404, "Not found")
        await ex.send_file(files / rest, content_type="application/octet-stream", inline=False)

    http.ROUTES = http.ROUTES.add("/bench/upload", POST=upload).add("/bench/files/", prefix=True, GET=download)


if __name__ == "__main__":
    config = Path(sys.argv[sys.argv.index("--config") + 1])
    install(config.parent / "files")
    raise SystemExit(main(sys.argv[1:]))
