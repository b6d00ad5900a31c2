"""files: the HTTP file path (server/httpio.py) against the disk, and beside the chat.

1. Throughput: a `--size-mb` file uploaded (JSON + base64, attachments.md §4) and downloaded over
   loopback, `--reps` times each (medians), against a plain copy of the same file on the same disk
   (`shutil.copyfile` into the page cache, after `os.sync`; `copy_fsync_mb_s` also waits for the
   disk). `download_vs_copy` is download MB/s ÷ the page-cache copy's MB/s (target ≥ 0.5).
2. Memory: one `--big-mb` upload, streamed by the client; the server's peak RSS (VmHWM from
   /proc, the server is its own process) before and after it. `big_hwm_vs_file` = peak ÷ file
   size (target < 2.5; the peak includes the ~45 MiB the server holds idle, so the ratio is only
   meaningful for large files), `big_hwm_growth_mib` = how much the peak rose during the upload.
3. Chat beside downloads: `--chatters` logged-in clients each post a message every 2 s (staggered)
   and time the arrival of everyone's messages; broadcast latency p50/p99 first with chat alone,
   then while `--downloads` clients each download a `--small-mb` file again and again
   (`--secs` each phase), as fast as loopback allows or, with `--download-mb-s`, at that pace
   each (a client behind a real network link). The downloads run in a process of their own (at a
   lower priority on the load generator's CPU), so the chat clients' event loop measures the
   server, not its own backlog. Target: p99 < 50 ms during the downloads.

The routes are the real ones (server/attachments_http.py): an uploader logs in over a WebSocket
and sends its handshake's `validator_key` and its `ready` session token with each upload; the
file is a PDF (random bytes after a PDF header: sniffed as PDF, stored as sent, served inline).
Uploads of the same bytes are deduplicated by the server (same id each time). The per-user upload
throttle is off in this server's config.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import sys
import threading
import statistics
import time
from pathlib import Path
from typing import Any

from . import common
from .server import CHEAP_ARGON2, ROOT, Server, proc_status_kib
from .wsclient import MSG_NEW, content_ns, open_ws

HOST = "127.0.0.1"
UPLOAD = "/attachments/upload"
DOWNLOAD = "/attachments/{id}"
MB = 1_000_000
B64_PIECE = 3 * 256 * 1024  # file bytes base64-encoded at a time by the streaming client
PDF_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


def upload_fields(auth: dict[str, str]) -> dict[str, str]:
    return {**auth, "name": "bench.pdf", "mime_type": "application/pdf", "channel": "general"}


async def uploader(port: int, name: str) -> tuple[Any, dict[str, str]]:
    """A logged-in socket and the credentials an upload names it by."""
    ws = await open_ws(HOST, port, handshake=False)
    handshake = await ws.expect("handshake")
    ready = await common.login(ws, name)
    return ws, {"validator_key": handshake["val"]["validator_key"], "validator": ready["validator"]}


def vm_hwm_kib(pid: int) -> int:
    return proc_status_kib(pid, "VmHWM")


async def read_response(reader: asyncio.StreamReader, keep: bool = False) -> tuple[int, bytes, int]:
    """(status, body if `keep` else b"", body length); the body is read by Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if keep:
        return status, await reader.readexactly(length), length
    left = length
    while left:
        data = await reader.read(min(left, 1 << 20))
        if not data:
            raise ConnectionError("closed mid-body")
        left -= len(data)
    return status, b"", length


def _body_parts(fields: dict[str, str]) -> tuple[bytes, bytes]:
    head = json.dumps(fields).encode()[:-1] + b', '
    return head + b'"file": "data:application/pdf;base64,', b'"}'


async def upload(port: int, path: Path, auth: dict[str, str], whole: bytes | None = None) -> tuple[float, dict]:
    """Upload `path` (base64-encoded as it is sent, or `whole`, the body encoded beforehand);
    (seconds from the first byte sent to the answer, the attachment it describes)."""
    head, tail = _body_parts(upload_fields(auth))
    size = path.stat().st_size
    length = len(head) + 4 * ((size + 2) // 3) + len(tail)
    reader, writer = await asyncio.open_connection(HOST, port)
    t0 = time.perf_counter()
    writer.write(f"POST {UPLOAD} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode())
    if whole is not None:
        writer.write(whole)
    else:
        writer.write(head)
        with open(path, "rb") as f:
            while piece := f.read(B64_PIECE):
                writer.write(base64.b64encode(piece))
                await writer.drain()
        writer.write(tail)
    await writer.drain()
    status, body, _ = await read_response(reader, keep=True)
    took = time.perf_counter() - t0
    writer.close()
    if status != 201:
        raise RuntimeError(f"upload: {status} {body[:200]!r}")
    return took, json.loads(body)["attachment"]


def encoded_body(path: Path, auth: dict[str, str]) -> bytes:
    head, tail = _body_parts(upload_fields(auth))
    return head + base64.b64encode(path.read_bytes()) + tail


def receive_answer(sock: socket.socket, view: memoryview) -> int:
    """Read one 200 answer off a blocking socket, its body into `view` (reused, thrown away);
    returns the body's length. The requests are sent one at a time, so nothing follows the body."""
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(65536)
    head, _, rest = got.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"download: {head[:100]!r}")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    left = length - len(rest)
    while left > 0:
        n = sock.recv_into(view, min(left, len(view)))
        if not n:
            raise ConnectionError("closed mid-body")
        left -= n
    return length


def download_blocking(port: int, file_id: str) -> tuple[float, int]:
    """One download on a blocking socket, received into one reused buffer (an asyncio stream
    client tops out near the server's speed, ~1.2 GB/s here, and would measure itself)."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with socket.create_connection((HOST, port)) as sock:
        t0 = time.perf_counter()
        sock.sendall(f"GET {DOWNLOAD.format(id=file_id)} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        length = receive_answer(sock, view)
        return time.perf_counter() - t0, length


async def download(port: int, file_id: str) -> tuple[float, int]:
    return await asyncio.to_thread(download_blocking, port, file_id)


def download_loop(port: int, file_id: str, stop: threading.Event, done: list[int], rate: float) -> None:
    """Download the file again and again on one keep-alive connection until `stop` (a thread);
    with `rate` (bytes/s, 0: as fast as possible) it waits between downloads to keep that pace."""
    t0 = time.monotonic()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    request = f"GET {DOWNLOAD.format(id=file_id)} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    with socket.create_connection((HOST, port)) as sock:
        while not stop.is_set():
            sock.sendall(request)
            done.append(receive_answer(sock, view))
            if rate:
                time.sleep(max(0.0, t0 + len(done) * done[-1] / rate - time.monotonic()))


def download_process(port: int, file_id: str, n: int, secs: float, rate: float) -> None:
    """`python -m bench.files PORT ID N SECS RATE`: N download loops in threads for SECS seconds; prints
    the bytes downloaded. A process of its own, so the chat clients' event loop measures the
    server, not a load generator busy with the downloads."""
    os.nice(10)  # below the chat clients on the load generator's CPU: their latency is the server's
    stop, done = threading.Event(), [[] for _ in range(n)]
    threads = [threading.Thread(target=download_loop, args=(port, file_id, stop, done[i], rate)) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(secs)
    stop.set()
    for t in threads:
        t.join()
    print(sum(map(len, done)), sum(map(sum, done)), flush=True)


def make_file(path: Path, size: int) -> Path:
    """A PDF as the sniffer sees it: its header, then random bytes."""
    with open(path, "wb") as f:
        f.write(PDF_HEAD)
        left = size - len(PDF_HEAD)
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    return path


def copy_secs(src: Path, dst: Path, fsync: bool = False) -> float:
    """One copy, started with no dirty pages anywhere (os.sync first: the uploads just written would
    otherwise throttle it by 1-8x from run to run); with `fsync`, until the copy is on disk."""
    os.sync()
    t0 = time.perf_counter()
    shutil.copyfile(src, dst)
    if fsync:
        with open(dst, "rb+") as f:
            os.fsync(f.fileno())
    took = time.perf_counter() - t0
    dst.unlink()
    return took


async def chat_phase(clients: list, secs: float) -> list[int]:
    """Each client posts every 2 s (staggered); every arrival's latency in ns."""
    sink: list[int] = []

    def on_text(data: bytes, start: int, end: int, now: int) -> None:
        if data.startswith(MSG_NEW, start):
            got = content_ns(data, start, end)
            if got is not None:
                sink.append(now - got[0])

    for ws in clients:
        ws.framing(on_text)

    async def talk(i: int, ws: Any) -> None:
        await asyncio.sleep(2.0 * i / len(clients))
        end = time.monotonic() + secs
        while time.monotonic() < end:
            ws.send_bytes(b'{"cmd":"message_new","channel":"general","content":"%d:c"}' % time.monotonic_ns())
            await asyncio.sleep(2.0)

    await asyncio.gather(*(talk(i, ws) for i, ws in enumerate(clients)))
    await asyncio.sleep(0.5)  # the last messages arrive
    return sink


async def files(args: Any) -> dict[str, Any]:
    chatters = [f"c{i}" for i in range(args.chatters)]
    srv = Server(argon2=CHEAP_ARGON2, config={"attachments": {"uploads_per_minute": 0}})
    common.add_users(srv.data_dir, [*chatters, "uploader"], CHEAP_ARGON2)
    work = srv.data_dir.parent  # the same disk as the server's files
    size, big, small = int(args.size_mb * MB), int(args.big_mb * MB), int(args.small_mb * MB)
    src = make_file(work / "src.bin", size)
    out: dict[str, Any] = {"scenario": "files", "size_mb": args.size_mb, "big_mb": args.big_mb,
                           "small_mb": args.small_mb, "reps": args.reps, "download_mb_s_each": args.download_mb_s}
    with srv:
        pid = srv.pid
        ws, auth = await uploader(srv.port, "uploader")
        body = encoded_body(src, auth)
        ups, downs, copies = [], [], []
        for _ in range(args.reps):
            took, answer = await upload(srv.port, src, auth, whole=body)
            if answer["size"] != size:
                raise RuntimeError(f"upload answer {answer}")
            ups.append(took)
        want = answer["id"]
        del body
        cpu0 = srv.cpu()
        for _ in range(args.reps):
            took, n = await download(srv.port, want)
            if n != size:
                raise RuntimeError(f"downloaded {n} bytes of {size}")
            downs.append(took)
        out["download_server_cpu_ms_per_mb"] = round((srv.cpu() - cpu0) * 1000 / (args.reps * size / MB), 3)
        synced = []
        for _ in range(args.reps):
            copies.append(copy_secs(src, work / "copy.bin"))
            synced.append(copy_secs(src, work / "copy.bin", fsync=True))
        out["copy_fsync_mb_s"] = round(size / MB / statistics.median(synced), 1)
        up, down, copy = (size / MB / statistics.median(x) for x in (ups, downs, copies))
        out.update(upload_mb_s=round(up, 1), download_mb_s=round(down, 1), copy_mb_s=round(copy, 1),
                   download_vs_copy=round(down / copy, 3), upload_vs_copy=round(up / copy, 3))

        big_src = make_file(work / "big.bin", big)
        hwm0, rss0 = vm_hwm_kib(pid), srv.rss_kib()
        took, answer = await upload(srv.port, big_src, auth)
        if answer["size"] != big:
            raise RuntimeError(f"big upload answer {answer}")
        hwm = vm_hwm_kib(pid)
        big_src.unlink()
        out.update(big_upload_s=round(took, 2), rss_before_mib=round(rss0 / 1024, 1),
                   hwm_before_mib=round(hwm0 / 1024, 1), hwm_after_big_mib=round(hwm / 1024, 1),
                   big_hwm_vs_file=round(hwm * 1024 / big, 3), big_hwm_growth_mib=round((hwm - hwm0) / 1024, 1))

        small_id = (await upload(srv.port, make_file(work / "small.bin", small), auth))[1]["id"]
        ws.close()
        clients, failures = await common.in_batches(
            [lambda n=n: common.connect_login(HOST, srv.port, n) for n in chatters], batch=50)
        await common.quiet(clients)
        alone = await chat_phase(clients, args.secs)
        loader = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.files", str(srv.port), small_id, str(args.downloads), str(args.secs + 1),
            str(args.download_mb_s * MB),
            stdout=asyncio.subprocess.PIPE, cwd=str(ROOT))
        await asyncio.sleep(0.5)  # the downloads are under way
        t0, server0 = time.perf_counter(), srv.cpu()
        busy = await chat_phase(clients, args.secs)
        secs = time.perf_counter() - t0
        out["busy_server_cpu"] = round((srv.cpu() - server0) / secs, 2)
        counts = (await loader.communicate())[0].split()
        if loader.returncode != 0 or len(counts) != 2:
            raise RuntimeError(f"download process failed ({loader.returncode})")
        n_done, bytes_done = int(counts[0]), int(counts[1])
        for ws in clients:
            ws.close()
        out.update(chatters=len(clients), login_failures=failures, downloads=args.downloads,
                   chat_alone_p50_ms=common.ms(alone, 0.5), chat_alone_p99_ms=common.ms(alone, 0.99),
                   chat_busy_p50_ms=common.ms(busy, 0.5), chat_busy_p99_ms=common.ms(busy, 0.99),
                   chat_busy_max_ms=common.ms(busy, 1.0), chat_samples=len(busy),
                   downloads_done=n_done, downloads_mb_s=round(bytes_done / MB / (args.secs + 1), 1))
    return out


if __name__ == "__main__":
    download_process(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
