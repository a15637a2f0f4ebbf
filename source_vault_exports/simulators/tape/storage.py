"""Tape's file host: signed, expiring download links on a separate loopback server.

vendor-apis.md 3.4: `download_url` is a signed storage URL that expires; a fresh one comes from
re-reading the record; the Tape key must never reach the storage host. Errors follow the S3
convention (XML, 403 for a stale or bad link, 404 for a missing object; 3.8 leaves this open).
Endpoint name for faults and counters: `storage_file`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from typing import TYPE_CHECKING, Optional, Tuple
from urllib.parse import quote

from source_vault_exports.simulators.http import SimRequest, SimResponse, SimulatorApp

if TYPE_CHECKING:
    from source_vault_exports.simulators.tape.app import TapeSimulator

# Until `set_storage_url` is called, links point at the discard port: downloads are refused, loudly.
UNSET_STORAGE_URL = "http://127.0.0.1:9"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class LinkSigner:
    """Issues and checks download links; `expire_all` makes every link issued so far stale."""

    def __init__(self, ttl_seconds: float, secret: bytes = b"tape-storage-sim") -> None:
        self.base_url = UNSET_STORAGE_URL
        self.ttl_seconds = ttl_seconds
        self._secret = secret
        self._generation = 0
        self._lock = threading.Lock()

    def url(self, file_id: int, filename: str) -> str:
        with self._lock:
            generation = self._generation
        expires = f"{time.time() + self.ttl_seconds:.3f}"  # milliseconds: tests use sub-second lifetimes
        signature = self._sign(file_id, expires, generation)
        return f"{self.base_url}/files/{file_id}/{quote(filename or 'file', safe='')}?expires={expires}&g={generation}&signature={signature}"

    def refusal(self, file_id: int, request: SimRequest) -> Optional[Tuple[str, str]]:
        """(S3 code, message) when the link must be refused, None when it is good."""
        expires, generation, signature = (request.param(name, "") or "" for name in ("expires", "g", "signature"))
        try:
            expected = self._sign(file_id, expires, int(generation))
        except ValueError:
            return "AccessDenied", "Query-string authentication requires the signature and expires parameters"
        if not hmac.compare_digest(expected, signature):
            return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided"
        with self._lock:
            revoked = int(generation) < self._generation
        if revoked or float(expires) <= time.time():
            return "AccessDenied", "Request has expired"
        return None

    def expire_all(self) -> None:
        with self._lock:
            self._generation += 1

    def _sign(self, file_id: int, expires: str, generation: int) -> str:
        return hmac.new(self._secret, f"{file_id}:{expires}:{generation}".encode("ascii"), hashlib.sha256).hexdigest()


class TapeStorageApp(SimulatorApp):
    """Serves the files of a `TapeSimulator`; run it on its own `LoopbackServer` and pass its URL
    to `simulator.set_storage_url`."""

    def __init__(self, simulator: "TapeSimulator") -> None:
        super().__init__()
        self.simulator = simulator
        for method in ("GET", "HEAD"):
            self.route(method, r"/files/(?P<file_id>\d+)/(?P<name>[^/]+)", "storage_file", self._file)

    def _file(self, request: SimRequest) -> SimResponse:
        if request.header("authorization"):
            # Presigned links refuse any other credentials; and the Tape key must never come here (3.4).
            return _s3_error(403, "AccessDenied", "Only one auth mechanism allowed: the presigned query string or the Authorization header, not both")
        file_id = int(request.path_params["file_id"])
        refusal = self.simulator.links.refusal(file_id, request)
        if refusal:
            return _s3_error(403, *refusal)
        data = self.simulator.data
        info = data.file_info(file_id)
        if info is None or data.is_deleted(file_id):
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        start, end, status = 0, info.size, 200
        headers = {
            "Content-Type": info.mimetype,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(info.filename, safe='')}",
            "Accept-Ranges": "bytes",
        }
        wanted = request.header("range")
        if wanted:
            # Single ranges only, enough to resume a cut download.
            match = _RANGE.match(wanted.strip())
            if not match or not (match.group(1) or match.group(2)):
                return _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
            if match.group(1):
                start = int(match.group(1))
                end = min(info.size, int(match.group(2)) + 1) if match.group(2) else info.size
            else:
                start = max(0, info.size - int(match.group(2)))
            if start >= info.size or start >= end:
                return _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
        return SimResponse(status, data.file_chunks(file_id, start, end), headers, content_length=end - start)


def _s3_error(status: int, code: str, message: str) -> SimResponse:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return SimResponse(status, body.encode("utf-8"), {"Content-Type": "application/xml"})
