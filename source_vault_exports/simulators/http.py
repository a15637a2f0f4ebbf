"""A loopback HTTP server for vendor simulators, with faults switched by name.

A simulator is a `SimulatorApp`: a list of routes, each with an endpoint name. The server counts
calls per endpoint and consults the app's `FaultPlan` before and while answering, so a test can say
`sim.faults.add("files", "reset", after_bytes=1000)` instead of editing code. Bodies may be byte
strings or iterators of chunks (sent with a Content-Length when one is known, chunked otherwise), so
a simulator can serve gigabytes without holding them.

Fault kinds:
- `status`: answer `status` with optional `headers` and JSON `body` instead of the real response;
- `slow`: wait `seconds` before answering;
- `drop`: close the connection without answering;
- `reset`: send the headers and `after_bytes` of the body, then close the connection;
- `short_length`: declare a Content-Length `missing_bytes` shorter than the body (a cleanly cut body);
- `repeat`: answer with this endpoint's previous response again (the same page served twice).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Pattern, Tuple, Union
from urllib.parse import parse_qs, urlparse

Body = Union[bytes, Iterable[bytes], None]


@dataclass
class SimRequest:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Mapping[str, str]
    body: bytes
    path_params: Dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())

    def param(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> Dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class SimResponse:
    status: int = 200
    body: Body = b""
    headers: Dict[str, str] = field(default_factory=dict)
    content_length: Optional[int] = None

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> "SimResponse":
        return cls(status, json.dumps(payload).encode("utf-8"), {"Content-Type": "application/json", **(headers or {})})


Handler = Callable[[SimRequest], SimResponse]


@dataclass
class Route:
    method: str
    pattern: Pattern[str]
    endpoint: str
    handler: Handler


@dataclass
class Fault:
    endpoint: str
    kind: str
    times: int = 1
    skip: int = 0  # let this many matching calls through first
    params: Dict[str, Any] = field(default_factory=dict)
    fired: int = 0


class FaultPlan:
    """Faults by endpoint name; each fires on the next matching calls, `times` times."""

    KINDS = ("status", "slow", "drop", "reset", "short_length", "repeat")

    def __init__(self) -> None:
        self._faults: List[Fault] = []
        self._lock = threading.Lock()

    def add(self, endpoint: str, kind: str, times: int = 1, skip: int = 0, **params: Any) -> Fault:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(self.KINDS)}")
        fault = Fault(endpoint, kind, times, skip, params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, endpoint: str) -> Optional[Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint != endpoint or fault.fired >= fault.times:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.fired += 1
                return fault
        return None

    def unfired(self) -> List[Fault]:
        with self._lock:
            return [fault for fault in self._faults if fault.fired < fault.times]


class SimulatorApp:
    """Routes plus the bookkeeping every vendor simulator needs."""

    def __init__(self) -> None:
        self.routes: List[Route] = []
        self.faults = FaultPlan()
        self.calls: Counter = Counter()
        self.request_log: List[Tuple[str, str, Dict[str, str]]] = []
        self._log_lock = threading.Lock()
        # The last byte-string response per endpoint and path, for the `repeat` fault.
        self.last_responses: Dict[Tuple[str, str], "SimResponse"] = {}
        # Headers kept in the request log, for assertions such as "no Authorization sent to storage".
        self.logged_headers = ("authorization", "idempotency-key", "zuora-entity-ids")

    def route(self, method: str, pattern: str, endpoint: str, handler: Handler) -> None:
        self.routes.append(Route(method, re.compile(f"^{pattern}$"), endpoint, handler))

    def dispatch(self, request: SimRequest) -> Tuple[str, Handler]:
        for route in self.routes:
            if route.method != request.method:
                continue
            match = route.pattern.match(request.path)
            if match:
                request.path_params = match.groupdict()
                return route.endpoint, route.handler
        return "unknown", lambda _: SimResponse.json({"message": f"no route for {request.method} {request.path}"}, 404)

    def record(self, endpoint: str, request: SimRequest) -> None:
        with self._log_lock:
            self.calls[endpoint] += 1
            kept = {name: value for name, value in request.headers.items() if name in self.logged_headers}
            self.request_log.append((endpoint, request.path, kept))

    def requests_to(self, endpoint: str) -> List[Dict[str, str]]:
        with self._log_lock:
            return [headers for name, _, headers in self.request_log if name == endpoint]


def _chunks(body: Body) -> Iterator[bytes]:
    if body is None:
        return iter(())
    if isinstance(body, (bytes, bytearray)):
        return iter((bytes(body),))
    return iter(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "LoopbackServer"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the call counters
        return

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        app = self.server.app
        parsed = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = SimRequest(
            method=self.command,
            path=parsed.path,
            query=parse_qs(parsed.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        endpoint, handler = app.dispatch(request)
        app.record(endpoint, request)
        fault = app.faults.take(endpoint)
        if fault is not None and fault.kind == "slow":
            time.sleep(float(fault.params.get("seconds", 1.0)))
            fault = None
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "status":
            response = SimResponse.json(
                fault.params.get("body", {"message": f"injected HTTP {fault.params.get('status', 500)}"}),
                int(fault.params.get("status", 500)),
                dict(fault.params.get("headers", {})),
            )
            fault = None
        elif fault is not None and fault.kind == "repeat" and (endpoint, request.path) in app.last_responses:
            response = app.last_responses[(endpoint, request.path)]
            fault = None
        else:
            response = handler(request)
        if isinstance(response.body, (bytes, bytearray)) and response.status < 300:
            # Keyed by path too: a page is served again to the listing it belongs to.
            app.last_responses[(endpoint, request.path)] = response
        self._write(response, fault)

    def _write(self, response: SimResponse, fault: Optional[Fault]) -> None:
        body = response.body
        length = response.content_length
        if isinstance(body, (bytes, bytearray)):
            length = len(body)
        declared = length
        if fault is not None and fault.kind == "short_length" and length is not None:
            declared = max(0, length - int(fault.params.get("missing_bytes", 100)))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        chunked = declared is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(declared))
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = int(fault.params.get("after_bytes", 0)) if fault is not None and fault.kind == "reset" else None
        budget = declared if not chunked else None
        sent = 0
        try:
            for chunk in _chunks(body):
                if not chunk:
                    continue
                if budget is not None:
                    chunk = chunk[: max(0, budget - sent)]
                if limit is not None and sent + len(chunk) >= limit:
                    chunk = chunk[: max(0, limit - sent)]
                    self._send_chunk(chunk, chunked)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._send_chunk(chunk, chunked)
                sent += len(chunk)
                if budget is not None and sent >= budget:
                    break
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if fault is not None and fault.kind == "short_length":
            # The rest of the body must not be read as the start of the next response.
            self.close_connection = True

    def _send_chunk(self, chunk: bytes, chunked: bool) -> None:
        if not chunk:
            return
        if chunked:
            self.wfile.write(f"{len(chunk):x}\r\n".encode("ascii") + chunk + b"\r\n")
        else:
            self.wfile.write(chunk)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve


class LoopbackServer(ThreadingHTTPServer):
    """Serves one `SimulatorApp` on 127.0.0.1 (an ephemeral port unless one is given)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: SimulatorApp, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LoopbackServer":
        # A short poll keeps stop() fast: tests start and stop servers by the dozen.
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, name=f"sim-{type(self.app).__name__}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
