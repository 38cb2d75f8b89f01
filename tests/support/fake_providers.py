"""A real local HTTP server speaking the OpenAI and Gemini embedding wire formats.

It answers on 127.0.0.1 (port chosen by the OS) from a background thread, returns deterministic
vectors (`vector_for`), records every request, and can be scripted to answer the next N requests
with a fault: `server.script(rate_limited("7"), times=2)`. For faults decided per request (a
storm for a while, a share of failures), set `server.responder` to a function of the recorded
request returning a Fault or None; scripted faults still come first. `hang()` holds the answer
until the client gives up (the request's `hung_for` says how long it waited) or the server
stops. Each recorded request carries its monotonic arrival time `at` and the `status` answered.

Import the fixtures explicitly in a test module (the `_fixture` names keep ruff's F811 quiet
when a test then asks for `fake_openai` / `fake_gemini`):
    from tests.support.fake_providers import fake_openai_fixture  # noqa: F401
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

_GEMINI_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):batchEmbedContents$")


def vector_for(text: str, dims: int) -> list[float]:
    """The (not normalised) vector the server returns for `text`: stable across runs."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return [float(x) for x in np.random.default_rng(seed).normal(size=dims)]


@dataclass(frozen=True)
class Fault:
    """How to spoil one answer. `kind` is one of the factory names below."""

    kind: str
    status: int = 200
    message: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    dims: int = 0


def rate_limited(retry_after: str | None = None) -> Fault:
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Fault("status", 429, "Rate limit reached for requests", headers)


def http_error(status: int, message: str = "something went wrong") -> Fault:
    return Fault("status", status, message)


def echo_key_error(status: int = 401) -> Fault:
    """An error whose message repeats the credential the client sent, as some servers do."""
    return Fault("echo_key", status)


def malformed_body() -> Fault:
    return Fault("malformed")


def missing_field() -> Fault:
    return Fault("missing_field")


def wrong_dims(dims: int) -> Fault:
    return Fault("wrong_dims", dims=dims)


def wrong_count() -> Fault:
    return Fault("wrong_count")


def nan_values() -> Fault:
    return Fault("nan")


def zero_vector() -> Fault:
    return Fault("zero")


def delay(seconds: float) -> Fault:
    return Fault("delay", seconds=seconds)


def hang() -> Fault:
    """Never answer: wait until the client closes the connection (or the server stops)."""
    return Fault("hang")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    at: float = field(default_factory=time.monotonic)
    fault: Fault | None = None
    status: int | None = None  # what was answered (None: nothing, e.g. a hang)
    hung_for: float | None = None  # a hang: seconds until the client closed the connection


@dataclass
class FakeProviderServer:
    """Serves /v1/embeddings (OpenAI) and /v1beta/models/{m}:batchEmbedContents (Gemini)."""

    dims: int = 8
    shuffle: bool = False  # answer OpenAI `data` items out of order (their `index` stays right)
    requests: list[RecordedRequest] = field(default_factory=list)
    responder: Callable[[RecordedRequest], Fault | None] | None = None
    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def gemini_base_url(self) -> str:
        return f"{self.url}/v1beta"

    def script(self, fault: Fault, times: int = 1) -> None:
        """Answer the next `times` requests with `fault` (after any already scripted)."""
        with self._lock:
            self._faults.extend([fault] * times)

    def start(self) -> FakeProviderServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a `delay` fault
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            fault = self._faults.pop(0) if self._faults else None
            if fault is None and self.responder is not None:
                fault = self.responder(request)
            request.fault = fault
            return fault


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProviderServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest("POST", self.path, headers, body)
        fault = self.fake._record(request)
        if fault is not None and fault.kind == "hang":
            request.hung_for = self._wait_for_client_to_leave() - request.at
            return
        if fault is not None and fault.kind == "delay":
            if self.fake._stopping.wait(fault.seconds):
                return
            fault = None
        self._request = request
        self._answer(body, headers, fault)

    def _wait_for_client_to_leave(self) -> float:
        """Block until the client closes the connection (or the server stops); when."""
        while not self.fake._stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        break
                except OSError:
                    break
        self.close_connection = True
        return time.monotonic()

    def _answer(self, body: Any, headers: dict[str, str], fault: Fault | None) -> None:
        gemini = _GEMINI_PATH.match(self.path)
        if not gemini and not self.path.endswith("/embeddings"):
            return self._send_error(404, f"no route for {self.path}")
        texts = _texts(body, gemini_model=gemini.group("model") if gemini else None)
        if texts is None:
            return self._send_error(400, "request body does not match the wire format")
        if fault is not None and fault.kind in ("status", "echo_key", "malformed", "missing_field"):
            return self._send_fault(fault, headers)
        vectors = _spoil([vector_for(t, self.fake.dims) for t in texts], fault)
        if gemini:
            return self._send_json(200, {"embeddings": [{"values": v} for v in vectors]})
        return self._send_json(200, self._openai_payload(body, vectors))

    def _openai_payload(self, body: Any, vectors: list[list[float]]) -> dict[str, Any]:
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        if self.fake.shuffle:
            random.Random(len(data)).shuffle(data)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model"),
            "usage": {"prompt_tokens": len(data), "total_tokens": len(data)},
        }

    def _send_fault(self, fault: Fault, headers: dict[str, str]) -> None:
        if fault.kind == "malformed":
            return self._send(200, b"<html>upstream proxy error</html>", "text/html")
        if fault.kind == "missing_field":
            return self._send_json(200, {"object": "list"})
        message = fault.message
        if fault.kind == "echo_key":
            sent = headers.get("authorization", "") or headers.get("x-goog-api-key", "")
            message = f"Incorrect API key provided: {sent}. Find your key in your dashboard."
        return self._send_error(fault.status, message, fault.headers)

    def _send_error(
        self, status: int, message: str, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self._send_json(status, {"error": {"message": message, "code": status}}, extra)

    def _send_json(
        self, status: int, payload: Any, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", extra)

    def _send(
        self, status: int, raw: bytes, content_type: str, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        request = getattr(self, "_request", None)
        if request is not None:
            request.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)


def _texts(body: Any, gemini_model: str | None) -> list[str] | None:
    """The texts a request carries, or None when it does not follow the wire format."""
    try:
        if gemini_model is None:
            texts = body["input"]
            return [texts] if isinstance(texts, str) else [str(t) for t in texts]
        return [str(r["content"]["parts"][0]["text"]) for r in body["requests"]]
    except (KeyError, IndexError, TypeError):
        return None


def _spoil(vectors: list[list[float]], fault: Fault | None) -> list[list[float]]:
    if fault is None:
        return vectors
    if fault.kind == "wrong_dims":
        return [v[: fault.dims] + [0.5] * max(0, fault.dims - len(v)) for v in vectors]
    if fault.kind == "wrong_count":
        return vectors[:-1]
    if fault.kind == "nan":
        return [[float("nan"), *v[1:]] for v in vectors]
    if fault.kind == "zero":
        return [[0.0] * len(v) for v in vectors]
    return vectors


@pytest.fixture(name="fake_openai")
def fake_openai_fixture() -> Iterator[FakeProviderServer]:
    """A running fake server; point an OpenAI-compatible client at `.openai_base_url`."""
    with FakeProviderServer() as server:
        yield server


@pytest.fixture(name="fake_gemini")
def fake_gemini_fixture() -> Iterator[FakeProviderServer]:
    """A running fake server; point a Gemini client at `.gemini_base_url`."""
    with FakeProviderServer() as server:
        yield server
