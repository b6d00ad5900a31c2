"""The limits of the login path (docs/security.md "Authentication"), through the real protocol:

* password hashing: a bounded queue, a share per address, served fairly; refusals are immediate;
  token logins never wait for it;
* per address: registrations per hour, failed logins across accounts (IPv6 counted per /64);
* per account: an address that fails is locked out of the account, the owner elsewhere is not;
  many failing addresses slow each other down (backoff) without touching a clean address.

The hashing tests hold the worker threads at a gate (the real argon2 runs once the gate opens), so
what is running, waiting or refused is decided by the server, not by timing. The tests' accounts
have cheap hashes (64 KiB, 1 pass), which the server checks on the event loop by default
(`hash_inline_max_cost`); the queue tests turn that off so every check goes through the queue.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
import trio
import trio.testing

from originchats.config import AuthSection, LimitsSection
from originchats.server.ops import OpRunner
from tests.clock import autojump_clock  # noqa: F401

BUSY = {"cmd": "auth_error", "val": "Too many authentication requests in progress, please try again shortly"}
LOCKED = {"cmd": "auth_error", "val": "Too many failed login attempts, try again later"}
INVALID = {"cmd": "auth_error", "val": "Invalid password"}
NOT_FOUND = {"cmd": "auth_error", "val": "User not found"}
TOO_MANY_REGISTRATIONS = {"cmd": "auth_error", "val": "Too many registrations from your address, try again later"}


class Gate:
    """Holds every password hash or check in its worker thread until released (when holding)."""

    def __init__(self) -> None:
        self.holding = False
        self.sem = threading.Semaphore(0)

    def wrap(self, fn):  # type: ignore[no-untyped-def]
        def gated(*args):  # type: ignore[no-untyped-def]
            if self.holding:
                self.sem.acquire()
            return fn(*args)
        return gated

    def release(self, n: int = 1) -> None:
        self.sem.release(n)


@pytest.fixture
async def gate(make_server, monkeypatch):
    """Set up after make_server, so torn down before it: the held threads go before the shutdown."""
    g = Gate()
    monkeypatch.setattr(OpRunner, "_verify", g.wrap(OpRunner._verify))
    monkeypatch.setattr(OpRunner, "_hash", g.wrap(OpRunner._hash))
    yield g
    g.holding = False
    g.release(10_000)


async def nothing_yet(client) -> None:
    """Nothing has arrived once every task is blocked (`assert_silent` would also wait for the
    worker threads, which the gate holds)."""
    await trio.testing.wait_all_tasks_blocked()
    try:
        packet = client._recv.receive_nowait()
    except trio.WouldBlock:
        return
    raise AssertionError(f"unexpected packet {packet}")


async def login(server, name: str, password: str = "pass1234", ip: str = "local"):
    client = await server.connect(ip=ip)
    await client.send("login", username=name, password=password)
    return client


async def accounts(server, *names: str) -> None:
    for name in names:
        await (await server.user(name)).close()


# ---- password hashing -----------------------------------------------------------------------------


async def test_one_address_gets_its_share_of_hashing_and_another_is_served_next(make_server, gate):
    server = await make_server(auth=AuthSection(hash_threads=1, hash_inline_max_cost=0, hash_queue=8, hash_per_ip=3,
                                                registrations_per_ip_per_hour=0))
    await accounts(server, "mallory", "victim")
    gate.holding = True
    hostile = []
    for _ in range(6):
        hostile.append(await login(server, "mallory", ip="10.6.6.6"))
        await trio.testing.wait_all_tasks_blocked()
    # one check runs, two wait: that address's share; the rest are refused at once
    for client in hostile[3:]:
        assert await client.recv() == BUSY
    for client in hostile[:3]:
        await nothing_yet(client)
    victim = await login(server, "victim", ip="10.0.0.7")
    await trio.testing.wait_all_tasks_blocked()
    await nothing_yet(victim)  # waiting, not refused
    gate.release()
    assert (await hostile[0].recv())["cmd"] == "auth_success"
    # the free thread goes to the other address, before the flooder's queued checks
    gate.release()
    assert (await victim.recv())["cmd"] == "auth_success"
    for client in hostile[1:3]:
        await nothing_yet(client)
    gate.release(2)
    for client in hostile[1:3]:
        assert (await client.recv())["cmd"] == "auth_success"
    # a refused client may simply try again
    gate.holding = False
    await hostile[3].send("login", username="mallory", password="pass1234")
    assert (await hostile[3].recv())["cmd"] == "auth_success"


async def test_the_hashing_queue_is_bounded_in_total(make_server, gate):
    server = await make_server(auth=AuthSection(hash_threads=1, hash_inline_max_cost=0, hash_queue=2, hash_per_ip=4,
                                                registrations_per_ip_per_hour=0))
    await accounts(server, "alice")
    gate.holding = True
    clients = []
    for i in range(4):  # four addresses, one login each: one runs, two wait, one is refused
        clients.append(await login(server, "alice", ip=f"10.0.0.{i + 1}"))
        await trio.testing.wait_all_tasks_blocked()
    assert await clients[3].recv() == BUSY
    newcomer = await server.connect(ip="10.0.0.9")
    await newcomer.send("register", username="newbie", password="pass1234")
    assert await newcomer.recv() == BUSY  # registrations share the queue
    gate.release(3)
    for client in clients[:3]:
        assert (await client.recv())["cmd"] == "auth_success"


async def test_token_logins_never_wait_for_hashing(make_server, gate):
    server = await make_server(auth=AuthSection(hash_threads=1, hash_inline_max_cost=0, hash_queue=1, hash_per_ip=1,
                                                registrations_per_ip_per_hour=0))
    first = await server.user("alice")
    token = first.ready["validator"]
    await first.close()
    await accounts(server, "bob")
    gate.holding = True
    running = await login(server, "bob", ip="10.0.0.1")
    waiting = await login(server, "bob", ip="10.0.0.2")
    await trio.testing.wait_all_tasks_blocked()
    refused = await login(server, "bob", ip="10.0.0.3")
    assert await refused.recv() == BUSY
    # hashing is saturated; a reconnect with a session token goes straight through
    client = await server.connect(ip="10.0.0.3")
    await client.send("login", username="alice", token=token)
    assert (await client.recv())["cmd"] == "auth_success"
    await client.expect("ready")
    gate.release(2)
    for c in (running, waiting):
        assert (await c.recv())["cmd"] == "auth_success"


async def test_a_cheap_hash_is_checked_at_once_while_the_queue_is_full(make_server, gate):
    # the accounts' hashes cost 64 KiB x 1 pass: within 64, checked on the event loop
    server = await make_server(auth=AuthSection(hash_threads=1, hash_queue=0, hash_per_ip=1,
                                                hash_inline_max_cost=64, registrations_per_ip_per_hour=0))
    await accounts(server, "alice")
    gate.holding = True
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # more than the thread and the queue could take
        client = await login(server, "alice", ip=ip)
        assert (await client.recv())["cmd"] == "auth_success"
        await client.expect("ready")
    wrong = await login(server, "alice", password="wrong123", ip="10.0.0.4")
    assert await wrong.recv() == INVALID
    newcomer = await server.connect(ip="10.0.0.5")  # a new hash (64 KiB x 1 pass) too
    await newcomer.send("register", username="newbie", password="pass1234")
    assert (await newcomer.recv())["cmd"] == "auth_success"


async def test_a_hash_over_the_inline_cost_waits_for_a_thread(make_server, gate):
    server = await make_server(auth=AuthSection(hash_threads=1, hash_queue=0, hash_per_ip=1,
                                                hash_inline_max_cost=63, registrations_per_ip_per_hour=0))
    await accounts(server, "alice")
    gate.holding = True
    running = await login(server, "alice", ip="10.0.0.1")
    await trio.testing.wait_all_tasks_blocked()
    await nothing_yet(running)  # held at the gate, in the worker thread
    refused = await login(server, "alice", ip="10.0.0.2")
    assert await refused.recv() == BUSY
    gate.release()
    assert (await running.recv())["cmd"] == "auth_success"


# ---- per address ----------------------------------------------------------------------------------


async def test_registrations_per_address_per_hour(make_server, autojump_clock):
    server = await make_server(auth=AuthSection(registrations_per_ip_per_hour=2))
    for name in ("a1", "a2"):
        client = await server.connect(ip="10.0.0.1")
        await client.send("register", username=name, password="pass1234")
        assert (await client.recv())["cmd"] == "auth_success"
    client = await server.connect(ip="10.0.0.1")
    await client.send("register", username="a3", password="pass1234")
    assert await client.recv() == TOO_MANY_REGISTRATIONS
    other = await server.connect(ip="10.0.0.2")
    await other.send("register", username="b1", password="pass1234")
    assert (await other.recv())["cmd"] == "auth_success"
    await trio.sleep(3600)  # (the refused socket was closed meanwhile: not logged in within 30 s)
    again = await server.connect(ip="10.0.0.1")
    await again.send("register", username="a3", password="pass1234")
    assert (await again.recv())["cmd"] == "auth_success"


async def test_parallel_registrations_cannot_beat_the_address_limit(make_server):
    server = await make_server(auth=AuthSection(registrations_per_ip_per_hour=2, hash_per_ip=8))
    clients = [await server.connect(ip="10.0.0.1") for _ in range(5)]
    for i, client in enumerate(clients):
        await client.send("register", username=f"p{i}", password="pass1234")
    answers = [(await client.recv())["val"] for client in clients]
    assert answers.count("Authentication successful") == 2
    assert answers.count(TOO_MANY_REGISTRATIONS["val"]) == 3


async def test_an_address_failing_across_accounts_is_refused_for_a_while(make_server, autojump_clock):
    server = await make_server(auth=AuthSection(ip_failures=5, ip_failure_window_seconds=600,
                                                registrations_per_ip_per_hour=0),
                               limits=LimitsSection(login_timeout_seconds=3600))  # the prober waits it out
    await accounts(server, "alice", "bob", "carol")
    prober = await server.connect(ip="10.6.6.6")
    # unknown names and wrong passwords, over several accounts: each one counts
    for name, password, answer in (("nobody", "x1234", NOT_FOUND), ("alice", "guess", INVALID),
                                   ("bob", "guess", INVALID), ("nobody2", "x1234", NOT_FOUND),
                                   ("carol", "guess", INVALID)):
        await prober.send("login", username=name, password=password)
        assert await prober.recv() == answer
    # refused now, even for a right password, and without saying whether a name exists
    for name in ("carol", "nobody3"):
        await prober.send("login", username=name, password="pass1234")
        assert await prober.recv() == LOCKED
    # nobody else is affected
    other = await login(server, "carol", ip="10.0.0.7")
    assert (await other.recv())["cmd"] == "auth_success"
    await trio.sleep(600)
    await prober.send("login", username="carol", password="pass1234")
    assert (await prober.recv())["cmd"] == "auth_success"


async def test_ipv6_addresses_count_per_64(make_server):
    server = await make_server(auth=AuthSection(ip_failures=3, registrations_per_ip_per_hour=0))
    await accounts(server, "alice")
    for ip in ("2001:db8::1", "2001:db8::2", "2001:db8::ffff:1"):  # one /64
        client = await login(server, "alice", "guess", ip=ip)
        assert await client.recv() == INVALID
    client = await login(server, "alice", ip="2001:db8::3")
    assert await client.recv() == LOCKED
    client = await login(server, "alice", ip="2001:db8:0:1::1")  # the next /64
    assert (await client.recv())["cmd"] == "auth_success"


# ---- per account: nobody can lock the owner out ---------------------------------------------------


async def test_an_attacker_cannot_lock_the_owner_out(make_server, autojump_clock):
    server = await make_server(auth=AuthSection(registrations_per_ip_per_hour=0),
                               limits=LimitsSection(login_timeout_seconds=3600))  # the attacker waits it out
    await accounts(server, "alice")
    attacker = await server.connect(ip="10.6.6.6")
    for _ in range(10):
        await attacker.send("login", username="alice", password="guess")
        assert await attacker.recv() == INVALID
    # the attacker's address is locked out of the account, even with the right password...
    for password in ("guess", "pass1234"):
        await attacker.send("login", username="alice", password=password)
        assert await attacker.recv() == LOCKED
    # ...the owner, from an address that never failed, is not
    owner = await login(server, "alice", ip="10.0.0.7")
    assert (await owner.recv())["cmd"] == "auth_success"
    # the attacker stays locked until its window (15 minutes from its first failure) has passed
    await trio.sleep(14 * 60)
    await attacker.send("login", username="alice", password="pass1234")
    assert await attacker.recv() == LOCKED
    await trio.sleep(60)
    await attacker.send("login", username="alice", password="pass1234")
    assert (await attacker.recv())["cmd"] == "auth_success"


async def test_guesses_from_many_addresses_back_off_but_a_clean_address_does_not(make_server, autojump_clock):
    server = await make_server(auth=AuthSection(backoff_after=4, backoff_base_seconds=10, backoff_max_seconds=40,
                                                registrations_per_ip_per_hour=0),
                               limits=LimitsSection(login_timeout_seconds=3600))  # the bots wait out backoffs
    await accounts(server, "alice")
    bots = [await server.connect(ip=f"10.6.6.{i}") for i in range(4)]
    for bot in bots:  # one guess each: no address reaches its own lockout
        await bot.send("login", username="alice", password="guess")
        assert await bot.recv() == INVALID
    # the account has 4 failures: an address that failed on it waits 10 s between tries
    await bots[0].send("login", username="alice", password="guess")
    assert await bots[0].recv() == LOCKED
    owner = await login(server, "alice", ip="10.0.0.7")
    assert (await owner.recv())["cmd"] == "auth_success"
    await trio.sleep(10)
    await bots[0].send("login", username="alice", password="guess")
    assert await bots[0].recv() == INVALID
    # 5 failures: 20 s now (the wait counts from this address's own last failure)
    await trio.sleep(19)
    await bots[0].send("login", username="alice", password="guess")
    assert await bots[0].recv() == LOCKED
    await trio.sleep(1)
    await bots[0].send("login", username="alice", password="guess")
    assert await bots[0].recv() == INVALID
    # 6 failures: 40 s, the maximum; the owner still gets in from a fresh address
    await trio.sleep(39)
    await bots[0].send("login", username="alice", password="pass1234")
    assert await bots[0].recv() == LOCKED
    owner = await login(server, "alice", ip="10.0.0.8")
    assert (await owner.recv())["cmd"] == "auth_success"
    await trio.sleep(1)
    await bots[0].send("login", username="alice", password="pass1234")
    assert (await bots[0].recv())["cmd"] == "auth_success"


# ---- the counters themselves ----------------------------------------------------------------------


def test_expired_counters_are_dropped():
    """The shell's supervisor prunes `ServerState.auth` every minute with this: memory follows the
    attacks of the last window, not of the server's whole life."""
    from originchats.core import authguard
    from originchats.core.settings import AuthSettings

    cfg = AuthSettings()
    records = authguard.AuthRecords()
    for i in range(100):
        records = authguard.record_failure(records, cfg, f"u{i}", f"10.0.{i}.1", now=0.0)
        records = authguard.record_registration(records, f"10.0.{i}.1", now=0.0)
    records = authguard.record_failure(records, cfg, "u0", "10.9.9.9", now=800.0)
    assert authguard.prune(records, cfg, now=899.0) is records  # nothing expired yet
    kept = authguard.prune(records, cfg, now=1000.0)
    assert (set(kept.by_ip), set(kept.by_account_ip), set(kept.by_account)) == (
        {"10.9.9.9"}, {("u0", "10.9.9.9")}, set())  # u0's account window began at 0
    assert len(kept.registrations) == 100  # an hour
    assert dict(authguard.prune(kept, cfg, now=3600.0).registrations) == {}


@pytest.mark.parametrize(("ip", "key"), [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("local", "local"),
])
def test_addresses_are_keyed_ipv4_whole_and_ipv6_by_64(ip, key):
    from originchats.core.authguard import address_key

    assert address_key(ip) == key


@given(st.one_of(st.ip_addresses(v=4).map(str), st.text(alphabet="0123456789.x० ", max_size=20)))
def test_an_ipv4_key_is_what_parsing_the_address_gives(ip):
    """IPv4 addresses are not parsed (they key as written): the same key parsing would give."""
    import ipaddress

    from originchats.core.authguard import address_key

    try:
        parsed = str(ipaddress.ip_address(ip))
    except ValueError:
        parsed = ip
    assert address_key(ip) == parsed
