"""The three ways to install in the README, for real: each gives an `originchats` command that runs
`init`, then `serve` on the config that init wrote (started from another directory), migrates the
fresh data directory, and serves a WebSocket client that gets the handshake and registers over TCP.

- the wheel and sdist of `python -m build`, the wheel pip-installed into a throwaway venv;
- `pipx install` of the checkout;
- `./scripts/serve` in the checkout (the editable install of .venv);
- the single-file binary of scripts/build-binary, only when CI=true: building it takes about half a
  minute more than the rest of the suite may add (README, "Installing").

The builds run on a copy of the checkout, so they leave nothing in it. They need PyPI (or pip's cache)
for the build backend and the dependencies, as any install does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import trio

from originchats import __version__
from tests.client import sign_in
from tests.test_durability import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# not copied: local state and build output (a stale build/lib would leak into the wheel)
IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "data", "*.egg-info", "__pycache__",
                                 ".pytest_cache", ".hypothesis", "bench-results")
BUILD_TIMEOUT = 600  # a fresh machine downloads the build backend and every dependency


def copy_checkout(dst: Path) -> Path:
    shutil.copytree(ROOT, dst, ignore=IGNORED)
    return dst


async def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
              timeout: float = BUILD_TIMEOUT) -> str:
    """Run a command to its end; fail with its output if it fails. Returns stdout."""
    with trio.fail_after(timeout):
        result = await trio.run_process([str(a) for a in args], cwd=cwd, env=env, check=False,
                                        capture_stdout=True, capture_stderr=True)
    out, err = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"{args} exited {result.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    return out


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who has only installed the package: no venv, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}
    return {**env, **extra}


class InstalledServer(ServerProcess):
    """`argv` (a `serve` on SITE/config.toml, port 0) started from `cwd` in a session of its own: the
    binary's launcher and the server it unpacks are both killed on the way out."""

    def __init__(self, site: Path, argv: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        super().__init__(site)  # config.toml is there already (written by init): kept as it is
        self.argv, self.cwd, self.env = argv, cwd, env

    async def __aenter__(self) -> InstalledServer:
        out, err = open(self.log_path, "wb"), open(self.err_path, "wb")  # noqa: SIM115 - closed on exit
        self._files = [out, err]
        self.proc = await trio.lowlevel.open_process(self.argv, stdout=out, stderr=err, cwd=str(self.cwd),
                                                     env=self.env, start_new_session=True)
        await self.wait_listening()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for client in self.clients:
                await trio.aclose_forcefully(client.stream)
            if self.proc is not None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                with trio.move_on_after(10):
                    await self.proc.wait()
        finally:
            for f in self._files:
                f.close()


async def check_installed(program: list[str], tmp_path: Path, env: dict[str, str],
                          serve: list[str] | None = None) -> None:
    """What the README promises of every install: --version, init, serve (migrating a fresh data
    directory, from any working directory), a client's handshake and registration, the admin
    command on the same config, and a clean stop on SIGTERM. `serve` replaces `PROGRAM serve ...`."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert await run(*program, "--version", cwd=elsewhere, env=env, timeout=30) == f"originchats {__version__}\n"

    site = tmp_path / "site"
    await run(*program, "init", site, cwd=elsewhere, env=env, timeout=30)
    data = site / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700 and list(data.iterdir()) == []
    config = site / "config.toml"
    text = config.read_text()
    assert text.count('format = "console"') == 1
    config.write_text(text.replace('format = "console"', 'format = "json"'))  # so the test can read the log

    argv = serve or [*program, "serve", "--config", str(config)]
    async with trio.open_nursery() as nursery, \
            InstalledServer(site, [*argv, "--port", "0"], cwd=elsewhere, env=env) as srv:
        opened = await srv.wait_for_event("store_opened")  # a fresh data directory: every migration
        assert opened["migrations_applied"] == [int(p.name[:4]) for p in sorted((ROOT / "migrations").glob("*.sql"))]
        assert Path(opened["path"]).parent == data
        client = await srv.connect(nursery)
        assert client.handshake["cmd"] == "handshake" and client.handshake["val"]["auth_mode"] == "cracked"
        await sign_in(client, "installer", "pass1234")
        assert client.username == "USR:local_installer"

        users = await run(*program, "admin", "--config", config, "list-users", cwd=elsewhere, env=env, timeout=30)
        assert "USR:local_installer" in users

        srv.signal(signal.SIGTERM)
        assert await srv.wait_exit(10) == 0
        nursery.cancel_scope.cancel()
    assert (data / "originchats.sqlite3").is_file()


async def test_python_m_build_wheel_carries_the_data_and_installs_into_a_fresh_venv(tmp_path):
    src = copy_checkout(tmp_path / "src")
    dist = tmp_path / "dist"
    t0 = time.monotonic()
    await run(sys.executable, "-m", "build", "--outdir", dist, src, cwd=tmp_path)
    built = time.monotonic()
    (wheel,) = dist.glob("originchats-*.whl")
    (sdist,) = dist.glob("originchats-*.tar.gz")

    # the one copy of the migrations and config.toml, byte for byte, in both
    migrations = sorted(p.name for p in (ROOT / "migrations").glob("*.sql"))
    assert migrations
    with zipfile.ZipFile(wheel) as whl:
        bundled = {n.rsplit("/", 1)[1]: whl.read(n) for n in whl.namelist()
                   if n.startswith("originchats/_bundled/migrations/")}
        assert bundled == {name: (ROOT / "migrations" / name).read_bytes() for name in migrations}
        assert whl.read("originchats/_bundled/config.toml") == (ROOT / "config.toml").read_bytes()
        assert not [n for n in whl.namelist() if n.split("/")[0] in ("migrations", "tests", "bench")]
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"config.toml", "setup.py", *(f"migrations/{m}" for m in migrations)} <= names

    venv = tmp_path / "venv"
    await run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    await run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel,
              cwd=tmp_path)
    installed = time.monotonic()
    await check_installed([str(venv / "bin" / "originchats")], tmp_path, clean_env())
    print(f"build {built - t0:.1f} s, venv + install {installed - built:.1f} s, "
          f"check {time.monotonic() - installed:.1f} s")


async def test_pipx_install_of_the_checkout(tmp_path):
    src = copy_checkout(tmp_path / "src")
    pipx = tmp_path / "pipx"
    env = clean_env(PIPX_HOME=str(pipx / "home"), PIPX_BIN_DIR=str(pipx / "bin"), PIPX_MAN_DIR=str(pipx / "man"))
    t0 = time.monotonic()
    await run(VENV_BIN / "pipx", "install", src, cwd=tmp_path, env=env)
    installed = time.monotonic()
    await check_installed([str(pipx / "bin" / "originchats")], tmp_path, env)
    print(f"pipx install {installed - t0:.1f} s, check {time.monotonic() - installed:.1f} s")


async def test_scripts_serve_from_the_checkout(tmp_path):
    """`./scripts/serve` runs the checkout's .venv (already bootstrapped by ./scripts/test) on
    $ORIGINCHATS_CONFIG: here a config made by the checkout's own `originchats init`."""
    env = clean_env(ORIGINCHATS_CONFIG=str(tmp_path / "site" / "config.toml"))
    await check_installed([str(VENV_BIN / "originchats")], tmp_path, env, serve=[str(ROOT / "scripts" / "serve")])


def binary_reason() -> str | None:
    if os.environ.get("CI") != "true":
        return "the binary is built and tested only in CI (CI=true): its build takes ~30 s more than the suite may add"
    return None


@pytest.mark.skipif(binary_reason() is not None, reason=binary_reason() or "")
async def test_single_file_binary_runs_without_python(tmp_path):
    dist = tmp_path / "dist"
    t0 = time.monotonic()
    await run(ROOT / "scripts" / "build-binary", "--dist", dist, cwd=ROOT)
    built = time.monotonic()
    binary = dist / "originchats"
    assert binary.is_file() and os.access(binary, os.X_OK)
    # no Python from the environment: no PATH, no venv, nothing but where to unpack itself
    env = {"TMPDIR": str(tmp_path), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    await check_installed([str(binary)], tmp_path, env)
    print(f"binary {binary.stat().st_size / 1e6:.1f} MB, build {built - t0:.1f} s, "
          f"check {time.monotonic() - built:.1f} s")

    # the cold-start benchmark of the README's figure runs against it
    out = await run(sys.executable, "-m", "bench", "coldstart", "--messages", "100", "--reps", "1",
                    "--binary", binary, cwd=ROOT, timeout=120)
    (result,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert result["binary"] == str(binary) and 0 < result["binary_secs"] < 60 and result["secs"] > 0
