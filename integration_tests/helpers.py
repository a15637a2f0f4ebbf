"""Builders and runners shared by the end-to-end tests of every vendor.

The runners drive the connector through the CDK's real entrypoint (`AirbyteEntrypoint.run`,
in-process via `airbyte_cdk.test.entrypoint_wrapper`), exactly as `source-vault-exports read` does.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from airbyte_cdk.models import (
    AirbyteStateMessage,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    Status,
    SyncMode,
)
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from airbyte_cdk.test.models import ExpectedOutcome

from source_vault_exports.source import SourceVaultExports


def discover(config: Mapping[str, Any]) -> List[AirbyteStream]:
    output = entrypoint_wrapper.discover(SourceVaultExports(), config)
    assert not output.errors, output.errors
    return list(output.catalog.catalog.streams)


def catalog_for(streams: Sequence[AirbyteStream], sync_mode: SyncMode = SyncMode.incremental) -> ConfiguredAirbyteCatalog:
    configured = []
    for stream in streams:
        mode = sync_mode if sync_mode in stream.supported_sync_modes else SyncMode.full_refresh
        configured.append(
            ConfiguredAirbyteStream(
                stream=stream,
                sync_mode=mode,
                destination_sync_mode=DestinationSyncMode.append_dedup if mode == SyncMode.incremental else DestinationSyncMode.overwrite,
                cursor_field=stream.default_cursor_field if mode == SyncMode.incremental else None,
                primary_key=stream.source_defined_primary_key,
            )
        )
    return ConfiguredAirbyteCatalog(streams=configured)


def read(
    config: Mapping[str, Any],
    sync_mode: SyncMode = SyncMode.incremental,
    state: Optional[List[AirbyteStateMessage]] = None,
    streams: Optional[Iterable[str]] = None,
    expect_failure: bool = False,
) -> EntrypointOutput:
    discovered = discover(config)
    if streams is not None:
        wanted = set(streams)
        discovered = [stream for stream in discovered if stream.name in wanted]
    return entrypoint_wrapper.read(
        SourceVaultExports(),
        config,
        catalog_for(discovered, sync_mode),
        state=state,
        expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION if expect_failure else ExpectedOutcome.EXPECT_SUCCESS,
    )


def check(config: Mapping[str, Any]):
    output = entrypoint_wrapper._run_command(SourceVaultExports(), ["check", "--config", _config_file(config)])
    statuses = output.connection_status_messages
    assert len(statuses) == 1, output.get_formatted_error_message()
    return statuses[0].connectionStatus


def _config_file(config: Mapping[str, Any]) -> str:
    import json
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(config, handle)
    handle.close()
    return handle.name


def records_by_stream(output: EntrypointOutput) -> Dict[str, List[Dict[str, Any]]]:
    grouped: Dict[str, List[Dict[str, Any]]] = {}
    for message in output.records:
        grouped.setdefault(message.record.stream, []).append(dict(message.record.data))
    return grouped


def latest_states(output: EntrypointOutput) -> List[AirbyteStateMessage]:
    """The last state message of each stream: what a platform would pass to the next sync."""
    latest: Dict[str, AirbyteStateMessage] = {}
    for message in output.state_messages:
        latest[message.state.stream.stream_descriptor.name] = message.state
    return list(latest.values())


def stream_state(output: EntrypointOutput, stream: str) -> Dict[str, Any]:
    for state in reversed([message.state for message in output.state_messages]):
        if state.stream.stream_descriptor.name == stream:
            return state.stream.stream_state.__dict__ if hasattr(state.stream.stream_state, "__dict__") else dict(state.stream.stream_state)
    raise AssertionError(f"no state for {stream}")


def error_messages(output: EntrypointOutput) -> List[str]:
    return [message.trace.error.message for message in output.errors]


def log_lines(output: EntrypointOutput, level: Optional[str] = None) -> List[str]:
    return [
        message.log.message
        for message in output.logs
        if level is None or message.log.level.value == level
    ]


def utc_millis(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def as_record(row: Mapping[str, Any]) -> Dict[str, Any]:
    """A vendor truth row as the connector must emit it (documented typing conventions).

    Empty values are absent: the CDK's protocol serializer omits null fields of a record.
    """
    record: Dict[str, Any] = {}
    for name, value in row.items():
        if value is None or value == "":
            continue
        if isinstance(value, datetime):
            record[name] = utc_millis(value)
        elif isinstance(value, date):
            record[name] = value.isoformat()
        else:
            record[name] = value
    return record


def by_key(records: Iterable[Mapping[str, Any]], key: str = "Id") -> Dict[Any, Mapping[str, Any]]:
    keyed: Dict[Any, Mapping[str, Any]] = {}
    for record in records:
        assert record[key] not in keyed, f"duplicate {key} {record[key]}"
        keyed[record[key]] = record
    return keyed


def succeeded(status) -> bool:
    return status.status == Status.SUCCEEDED
