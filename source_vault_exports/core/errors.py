"""Errors that carry what a user needs to act: vendor, object, job id and the vendor's own words.

Every error a user can see is an `AirbyteTracedException`, so the CDK turns it into a TRACE
message with a failure type instead of a bare stack trace:
- `config_error`: the user must change something (credentials, object names, URLs);
- `transient_error`: retrying later may help (network, vendor outage);
- `system_error`: the vendor did something we did not expect.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


class ConfigError(AirbyteTracedException):
    """A config value is wrong; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(
            message=f"Config field `{field}`: {problem}",
            internal_message=f"invalid config field {field}: {problem}",
            failure_type=FailureType.config_error,
        )


class VendorError(AirbyteTracedException):
    """The vendor answered with an error we cannot retry away."""

    def __init__(
        self,
        vendor: str,
        message: str,
        failure_type: FailureType = FailureType.system_error,
        status_code: Optional[int] = None,
    ) -> None:
        self.vendor = vendor
        self.status_code = status_code
        super().__init__(
            message=f"{vendor}: {message}",
            internal_message=f"{vendor} error (HTTP {status_code}): {message}",
            failure_type=failure_type,
        )


class NotFoundError(VendorError):
    """HTTP 404 from the vendor: an unknown object, a purged export, a file that is gone."""

    def __init__(self, vendor: str, message: str) -> None:
        super().__init__(vendor, message, FailureType.system_error, status_code=404)


class ExportJobFailed(AirbyteTracedException):
    """An export job ended in a failed or cancelled state, or could not be finished."""

    def __init__(
        self,
        vendor: str,
        object_name: str,
        job_id: Optional[str],
        reason: str,
        scope: Optional[str] = None,
        failure_type: FailureType = FailureType.system_error,
    ) -> None:
        self.vendor = vendor
        self.object_name = object_name
        self.job_id = job_id
        self.reason = reason
        self.scope = scope
        where = f" for window {scope}" if scope else ""
        message = f"{vendor} export of {object_name}{where} (job {job_id or 'not created'}) failed: {reason}"
        super().__init__(message=message, internal_message=message, failure_type=failure_type)


class ExportJobTimedOut(ExportJobFailed):
    """A job did not reach a terminal state before our deadline."""

    def __init__(
        self, vendor: str, object_name: str, job_id: str, waited_seconds: float, scope: Optional[str] = None
    ) -> None:
        super().__init__(
            vendor,
            object_name,
            job_id,
            f"still not finished after {waited_seconds:.0f} s",
            scope=scope,
            failure_type=FailureType.transient_error,
        )


class DownloadFailed(AirbyteTracedException):
    """A result file could not be downloaded completely after every retry."""

    def __init__(self, vendor: str, file_label: str, attempts: int, last_problem: str) -> None:
        message = (
            f"{vendor}: could not download {file_label} completely after {attempts} attempts; "
            f"last problem: {last_problem}"
        )
        super().__init__(message=message, internal_message=message, failure_type=FailureType.transient_error)


class RecordDecodeError(AirbyteTracedException):
    """A value in a result file does not match the type the schema declares."""

    def __init__(self, stream: str, column: str, value: str, expected: str, location: str) -> None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        message = (
            f"Stream {stream}: column `{column}` holds {shown!r}, which is not a valid {expected} "
            f"({location})"
        )
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)


@contextlib.contextmanager
def reaching(vendor: str, action: str, url: str, field: str) -> Iterator[None]:
    """For `check`: a config problem stays as it is; any other failure means the host was not
    reached, which the user fixes in `field` or in the network, so the message says so."""
    try:
        yield
    except AirbyteTracedException as problem:
        if problem.failure_type == FailureType.config_error:
            raise
        raise VendorError(
            vendor, f"could not {action} {url} (check {field} and the network): {problem.message}", FailureType.transient_error
        ) from None
