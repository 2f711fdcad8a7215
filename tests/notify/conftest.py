"""A real SMTP server (aiosmtpd) and a real HTTP receiver on 127.0.0.1, and the wiring."""

import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from rampart.config import Settings, validate_settings
from rampart.hids import Event
from rampart.notify import Dispatcher


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """The messages the SMTP server accepted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def bodies(self) -> list[str]:
        return [str(m.get_payload(decode=True), "utf-8") for m in self.messages]


@dataclass
class SmtpServer:
    """An SMTP server on a fixed port that a test can start late (to play "down")."""

    port: int = field(default_factory=free_port)
    inbox: Inbox = field(default_factory=Inbox)
    controller: Controller | None = None

    def start(self, password: str | None = None, **tls: Any) -> None:
        """Listen; with ``password``, accept AUTH as user ``rampart`` (plain, on loopback).

        ``tls``: aiosmtpd's ``tls_context`` (STARTTLS) or ``ssl_context`` (implicit TLS).
        """
        options: dict[str, Any] = dict(tls)
        if password is not None:

            def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
                good = isinstance(data, LoginPassword) and data == (b"rampart", password.encode())
                return AuthResult(success=good, handled=False)

            options |= {
                "authenticator": check,
                "auth_require_tls": False,
                "auth_exclude_mechanism": ["LOGIN"],
            }
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """Not started: call ``smtp.start()`` (a test may first try while it is down)."""
    server = SmtpServer()
    yield server
    server.stop()


@dataclass
class Receiver:
    """A local HTTP server that records JSON posts and answers ``status``."""

    status: int = 200
    posts: list[tuple[dict[str, Any], dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            if state.status == 200:
                state.posts.append((body, dict(self.headers.items())))
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


def settings_with(alerts: dict[str, Any], state_dir: Path) -> Settings:
    return validate_settings({"state_dir": str(state_dir), "alerts": alerts})


def email_config(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "sender": "rampart@example.org",
        "to": ["ops@example.org"],
        "min_level": 5,
        "immediate_level": 12,
        "digest_interval": "10m",
        "timeout": 5,
        **extra,
    }


def make_dispatcher(alerts: dict[str, Any], state_dir: Path) -> Dispatcher:
    return Dispatcher.from_settings(settings_with(alerts, state_dir))


def event(
    level: int, rule_id: int = 5710, description: str = "sshd: invalid user", **fields: str
) -> Event:
    return Event(
        time=1_700_000_000.0,
        rule_id=rule_id,
        level=level,
        description=description,
        location="/var/log/auth.log",
        log="Nov 14 22:13:20 host sshd[1]: Invalid user admin from 198.51.100.7",
        groups=("sshd", "authentication_failed"),
        fields=fields or {"srcip": "198.51.100.7", "user": "admin"},
    )


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1, made by openssl for one test."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return Certificate(cert, key)
