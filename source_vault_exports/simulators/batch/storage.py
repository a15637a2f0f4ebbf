"""The storage host behind Batch's download redirects: an S3-like app serving signed, expiring links.

Batch answers `GET /exports/download` with a 307 to a pre-signed URL on another host that expires
after 20 minutes (vendor-apis.md 2.2, 2.7.3-4). This app is that host: it checks the link's signature
and expiry, and refuses any request carrying Batch credentials, so a connector that forwards
`Authorization` or `X-Batch-Project` across the redirect fails loudly. Endpoint name: `storage_file`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from typing import Callable, Iterable, Optional, Tuple

from source_vault_exports.simulators.http import SimRequest, SimResponse, SimulatorApp

# file id -> (size in bytes, chunks, content type), or None when the file does not exist.
Resolver = Callable[[str], Optional[Tuple[int, Iterable[bytes], str]]]


class BatchStorageApp(SimulatorApp):
    """Serves export parts at `/batch-exports/<export id>/<file id>.<ext>?issued=&expires=&signature=`."""

    def __init__(self, secret: str, resolve: Resolver) -> None:
        super().__init__()
        self.base_url: Optional[str] = None  # set by BatchSimulator.set_storage_url
        self._secret = secret.encode("utf-8")
        self._resolve = resolve
        self._revoked_before_ms = 0
        self._lock = threading.Lock()
        # Logged so tests can assert that credentials never reached this host.
        self.logged_headers = ("authorization", "x-batch-project")
        self.route("GET", r"/batch-exports/(?P<export>\w+)/(?P<file>file_\w+)\.(?P<ext>[\w.]+)", "storage_file", self._file)
        self.route("GET", r"/.*", "unknown", lambda _: _s3_error(404, "NoSuchKey", "The specified key does not exist."))

    def sign(self, path: str, ttl_seconds: float) -> str:
        """A pre-signed URL for `path`, valid for `ttl_seconds` from now."""
        if self.base_url is None:
            raise RuntimeError("call BatchSimulator.set_storage_url(server.url) before downloading")
        issued = int(time.time() * 1000)
        expires = issued + int(ttl_seconds * 1000)
        return f"{self.base_url}{path}?issued={issued}&expires={expires}&signature={self._signature(path, issued, expires)}"

    def expire_links(self) -> None:
        """Every link issued so far is expired from now on; later ones are fine."""
        with self._lock:
            self._revoked_before_ms = int(time.time() * 1000) + 1

    def _signature(self, path: str, issued: int, expires: int) -> str:
        return hmac.new(self._secret, f"{path}|{issued}|{expires}".encode(), hashlib.sha256).hexdigest()

    def _file(self, request: SimRequest) -> SimResponse:
        if request.header("authorization") or request.header("x-batch-project"):
            # S3 refuses a second auth mechanism; credentials must never leave Batch (2.7.3).
            return _s3_error(403, "AccessDenied", "Only one auth mechanism allowed; Batch credentials must not be sent to storage")
        try:
            issued, expires = int(request.param("issued", "")), int(request.param("expires", ""))
        except ValueError:
            return _s3_error(403, "AccessDenied", "Query-string authentication requires the issued, expires and signature parameters")
        if not hmac.compare_digest(self._signature(request.path, issued, expires), request.param("signature", "") or ""):
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        with self._lock:
            revoked = issued < self._revoked_before_ms
        if revoked or time.time() * 1000 >= expires:
            return _s3_error(403, "AccessDenied", "Request has expired")
        found = self._resolve(request.path_params["file"])
        if found is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        size, chunks, content_type = found
        return SimResponse(200, chunks, {"Content-Type": content_type}, content_length=size)


def _s3_error(status: int, code: str, message: str) -> SimResponse:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>SIM0000000000000</RequestId></Error>'
    return SimResponse(status, body.encode("utf-8"), {"Content-Type": "application/xml"})
