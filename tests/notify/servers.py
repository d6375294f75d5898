"""Loopback HTTP servers that answer like Slack, PagerDuty and webhook receivers.

Each fake is a real `http.server` on 127.0.0.1 with a free port, run in a
thread. Tests script failures with `fail_next` and read what arrived from
`requests`. The daemon's tests reuse these.
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from slo_engine.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

__all__ = [
    "FakeServer",
    "HangingServer",
    "PagerDutyServer",
    "Reply",
    "Request",
    "SlackServer",
    "WebhookReceiver",
]


@dataclass(frozen=True)
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = Request(
            method="POST",
            path=self.path,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self.rfile.read(length),
        )
        reply = self.server.fake.receive(request)
        body = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeServer:
    """A loopback HTTP server; subclasses answer in `answer`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, in order, then normally."""
        with self._lock:
            self._script.extend(replies)

    def receive(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.pop(0)
            return self.answer(request)

    def answer(self, request: Request) -> Reply:
        return Reply(200, {"ok": True})


class SlackServer(FakeServer):
    """Slack's Web API: `chat.postMessage` and `chat.update`, with bearer auth."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.messages: dict[str, dict[str, Any]] = {}
        self._next_ts = 0

    def answer(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        body = request.json()
        if request.path == "/api/chat.postMessage":
            return self._post(body)
        if request.path == "/api/chat.update":
            return self._update(body)
        return Reply(200, {"ok": False, "error": "unknown_method"})

    @staticmethod
    def rate_limited(seconds: int) -> Reply:
        headers = {"Retry-After": str(seconds)}
        return Reply(429, {"ok": False, "error": "ratelimited"}, headers)

    def _post(self, body: dict[str, Any]) -> Reply:
        self._next_ts += 1
        ts = f"1700000000.{self._next_ts:06d}"
        self.messages[ts] = body
        return Reply(200, {"ok": True, "channel": "C0SLO", "ts": ts})

    def _update(self, body: dict[str, Any]) -> Reply:
        if body.get("ts") not in self.messages:
            return Reply(200, {"ok": False, "error": "message_not_found"})
        self.messages[body["ts"]] = {**self.messages[body["ts"]], **body}
        return Reply(200, {"ok": True, "channel": "C0SLO", "ts": body["ts"]})


class PagerDutyServer(FakeServer):
    """PagerDuty's Events API v2: one incident per `dedup_key`."""

    def __init__(self, routing_key: str) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.incidents: dict[str, str] = {}
        self.triggers: dict[str, int] = {}

    def answer(self, request: Request) -> Reply:
        event = request.json()
        if (
            request.path != "/v2/enqueue"
            or event.get("routing_key") != self.routing_key
        ):
            return Reply(
                400, {"status": "invalid event", "message": "Event object is invalid"}
            )
        key = event["dedup_key"]
        if event["event_action"] == "trigger":
            self.triggers[key] = self.triggers.get(key, 0) + 1
            self.incidents.setdefault(key, "triggered")
        elif event["event_action"] == "resolve" and key in self.incidents:
            self.incidents[key] = "resolved"
        body = {"status": "success", "message": "Event processed", "dedup_key": key}
        return Reply(202, body)


class WebhookReceiver(FakeServer):
    """A webhook endpoint that checks the HMAC signature, if it has a secret."""

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret
        self.accepted: list[Request] = []

    def answer(self, request: Request) -> Reply:
        if self.secret is not None and not self._signed(request):
            return Reply(401, {"error": "bad signature"})
        self.accepted.append(request)
        return Reply(204)

    def _signed(self, request: Request) -> bool:
        timestamp = request.headers.get(TIMESTAMP_HEADER.lower(), "")
        given = request.headers.get(SIGNATURE_HEADER.lower(), "")
        expected = sign(str(self.secret), timestamp, request.body)
        return bool(timestamp) and hmac.compare_digest(given, expected)


class HangingServer:
    """Accepts connections and never answers, so clients must time out."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._socket.settimeout(0.05)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._socket.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self._held.append(connection)
