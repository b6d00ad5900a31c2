"""Built-in TLS (`[tls] cert`/`key`): `wss://` and `https://` on the listening port.

Every accepted connection is wrapped in a `trio.SSLStream` over the same transport a plain one uses
(server/fastsock.py `FastStream`), so the HTTP routes and the WebSocket code see one stream either
way; only the paths that write to the socket's descriptor directly (ws_send's Flusher, sendfile in
file_response.py) are skipped, since they check for a raw socket. The handshake happens on the
first read, inside the request deadline of connection.py (`REQUEST_TIMEOUT`); a failed one
(`BrokenResourceError`) ends the connection quietly, like a peer that went away.

Reloading (`Tls.reload`, which the CLI calls on SIGHUP): the files are read into a new
`ssl.SSLContext`, which replaces `Tls.context` only when it loaded. A connection takes the context
in use when it is accepted, so new handshakes get the new certificate while the open connections
keep the session they have: nothing is dropped. A reload that fails (a missing or mismatched file)
is logged and the previous certificate stays in use.

`load_context` raises `ConfigError` for a missing, unreadable or unusable file: the CLI checks it
before anything starts and exits with 2, as for any other configuration error.
"""

from __future__ import annotations

import datetime
import ssl

import structlog
import trio

from ..config import ConfigError, TlsSection

log = structlog.get_logger("originchats.tls")


_SSL_REASONS = {
    "KEY_VALUES_MISMATCH": "the key does not belong to the certificate",
    "PEM lib": "expected a PEM certificate chain and its PEM private key",
}


def _no_password() -> bytes:
    # an encrypted key would otherwise make OpenSSL ask for its pass phrase on the terminal
    raise ConfigError("invalid configuration:\n  tls.key: the key is encrypted; give an unencrypted PEM key "
                      "(readable by this account only)")


def load_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context with the certificate chain `cert` and its private key `key` (PEM files)."""
    if not cert or not key:
        missing = "tls.key" if cert else "tls.cert"
        raise ConfigError(f"invalid configuration:\n  {missing}: must be set too (tls.cert and tls.key go together)")
    problems = []
    for name, path in (("tls.cert", cert), ("tls.key", key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            problems.append(f"{name}: cannot read {path}: {exc.strerror or exc}")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])  # HTTP/1.1 (and its WebSocket upgrade) is all this port speaks
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except ssl.SSLError as exc:
        why = _SSL_REASONS.get(exc.reason or "", f"{exc.reason or exc}")
        raise ConfigError(f"invalid configuration:\n  tls: cannot use the certificate {cert} with the key {key}: "
                          f"{why}") from None
    return context


def _describe(cert: str) -> dict[str, str]:
    """The subject and expiry of the first certificate in `cert`, for the log (best effort)."""
    try:
        from cryptography import x509

        with open(cert, "rb") as f:
            first = x509.load_pem_x509_certificate(f.read())
        expires = first.not_valid_after_utc.astimezone(datetime.timezone.utc).isoformat()
        return {"subject": first.subject.rfc4514_string(), "not_after": expires}
    except Exception:  # the context loaded it; a description is only for the operator
        return {}


class Tls:
    """The context new connections are wrapped with, and its reload."""

    def __init__(self, cert: str, key: str) -> None:
        self.cert = cert
        self.key = key
        self.context = load_context(cert, key)
        self.reloads = 0

    @classmethod
    def from_config(cls, section: TlsSection) -> Tls | None:
        """None when `[tls]` is not set (plain `ws://` and `http://`); ConfigError for bad files."""
        if not section.cert and not section.key:
            return None
        return cls(section.cert, section.key)

    def log_enabled(self) -> None:
        log.info("tls_enabled", cert=self.cert, **_describe(self.cert))

    def reload(self) -> bool:
        """Read the files again; new connections use them when they load, else nothing changes."""
        try:
            context = load_context(self.cert, self.key)
        except ConfigError as exc:
            log.error("tls_reload_failed", error=str(exc).replace("invalid configuration:\n  ", ""),
                      advice="the previous certificate stays in use; fix the files and send SIGHUP again")
            return False
        self.context = context
        self.reloads += 1
        log.info("tls_reloaded", cert=self.cert, **_describe(self.cert))
        return True

    def wrap(self, stream: trio.abc.Stream) -> trio.SSLStream:
        return trio.SSLStream(stream, self.context, server_side=True, https_compatible=True)
