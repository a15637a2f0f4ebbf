"""The fast record path writes what the CDK's plain path writes: records and state, byte for byte.

Each sync runs twice against the same simulator, in-process and with the clock frozen (the sync's
end lands in the state): once on the plain path (`SOURCE_VAULT_EXPORTS_RECORD_PATH=plain`: one CDK
`Record` per row, the CDK's cursor and `AirbyteEntrypoint`), once on the fast path exactly as the
CLI runs it (`FastEntrypoint` + `write_output`). Per stream, the RECORD, STATE and stream-status
lines must be the same bytes in the same order; only `emitted_at` (the wall clock) is blanked.
Streams are set up with one partition each, so their order within a stream is deterministic.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import pytest
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, SyncMode

from integration_tests.helpers import catalog_for, discover
from source_vault_exports.core.fast_records import RECORD_PATH_ENV, FastEntrypoint, write_output
from source_vault_exports.source import SourceVaultExports
from source_vault_exports.vendors.batch import config as batch_config
from source_vault_exports.vendors.batch import streams as batch_streams
from source_vault_exports.vendors.tape import streams as tape_streams
from source_vault_exports.vendors.veeva import streams as veeva_streams
from source_vault_exports.vendors.zuora import streams as zuora_streams

_EMITTED_AT = re.compile(r'"emitted_at":[0-9.eE+]+')
# Tape's simulator signs download links with its wall clock: the same link, another expiry.
_SIGNED_LINK = re.compile(r"expires=[0-9.]+&g=0&signature=[0-9a-f]+")


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> List[datetime]:
    """Every vendor's "now" (the end of the sync's windows) is `clock[0]`, the same for both runs."""
    clock = [datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=2)]

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock[0].astimezone(tz) if tz is not None else clock[0].replace(tzinfo=None)

    for module in (zuora_streams, batch_streams, batch_config, veeva_streams, tape_streams):
        monkeypatch.setattr(module, "datetime", Frozen)
    return clock


def _files(config: Mapping[str, Any], streams: Optional[Sequence[str]], state: Optional[List[Dict[str, Any]]]) -> List[str]:
    folder = Path(tempfile.mkdtemp(prefix="fast-path-"))
    discovered = [s for s in discover(config) if streams is None or s.name in streams]
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "catalog.json").write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog_for(discovered, SyncMode.incremental))))
    args = ["read", "--config", str(folder / "config.json"), "--catalog", str(folder / "catalog.json")]
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
        args += ["--state", str(folder / "state.json")]
    return args


def read_plain(monkeypatch: pytest.MonkeyPatch, args: List[str]) -> List[str]:
    monkeypatch.setenv(RECORD_PATH_ENV, "plain")
    entrypoint = AirbyteEntrypoint(SourceVaultExports())
    lines = list(entrypoint.run(entrypoint.parse_args(args)))
    monkeypatch.delenv(RECORD_PATH_ENV)
    return lines


def read_fast(monkeypatch: pytest.MonkeyPatch, args: List[str]) -> List[str]:
    monkeypatch.delenv(RECORD_PATH_ENV, raising=False)
    entrypoint = FastEntrypoint(SourceVaultExports())
    out = io.BytesIO()
    write_output(entrypoint.run(entrypoint.parse_args(args)), out)
    return out.getvalue().decode("utf-8").splitlines()


def by_stream(lines: List[str]) -> Dict[str, List[str]]:
    """RECORD, STATE and stream-status lines per stream, in order, `emitted_at` blanked."""
    grouped: Dict[str, List[str]] = {}
    for line in lines:
        message = json.loads(line)
        kind = message["type"]
        if kind == "RECORD":
            stream = message["record"]["stream"]
        elif kind == "STATE":
            stream = message["state"]["stream"]["stream_descriptor"]["name"]
        elif kind == "TRACE" and message["trace"]["type"] == "STREAM_STATUS":
            stream = message["trace"]["stream_status"]["stream_descriptor"]["name"]
        else:
            continue
        grouped.setdefault(stream, []).append(_SIGNED_LINK.sub("signed", _EMITTED_AT.sub('"emitted_at":0', line)))
    return grouped


def assert_same_output(monkeypatch: pytest.MonkeyPatch, config: Union[Mapping[str, Any], Callable[[], Mapping[str, Any]]],
                       streams: Optional[Sequence[str]] = None, state: Optional[List[Dict[str, Any]]] = None) -> Dict[str, List[str]]:
    """`config` may be a function starting a fresh simulator per run (Vault numbers its jobs)."""
    fresh = config if callable(config) else (lambda: config)
    plain = by_stream(read_plain(monkeypatch, _files(fresh(), streams, state)))
    fast = by_stream(read_fast(monkeypatch, _files(fresh(), streams, state)))
    assert sorted(fast) == sorted(plain)
    for stream in plain:
        assert any('"type":"RECORD"' in line for line in plain[stream]) or streams is not None, f"{stream} read no records"
        assert fast[stream] == plain[stream], f"{stream}: the fast path wrote other bytes than the plain path"
    return plain


def last_states(lines_by_stream: Dict[str, List[str]]) -> List[Dict[str, Any]]:
    states = []
    for lines in lines_by_stream.values():
        stream_states = [json.loads(line)["state"] for line in lines if '"type":"STATE"' in line]
        if stream_states:
            states.append(stream_states[-1])
    return states


def test_zuora_records_and_state_are_the_same_bytes_on_both_paths_and_so_is_the_next_sync(start_zuora, frozen_clock, monkeypatch):
    sim, url = start_zuora({"Account": 700, "Invoice": 260}, nul_bytes=True)
    config = {"start_date": "2024-01-01T00:00:00Z", "zuora": sim.connector_config(url, window_days=3650)}
    first = assert_same_output(monkeypatch, config)
    assert sum('"type":"RECORD"' in line for line in first["zuora_account"]) == 700
    frozen_clock[0] += timedelta(hours=2)
    sim.data.update_rows("Account", [3, 500], at=frozen_clock[0] - timedelta(hours=1))
    second = assert_same_output(monkeypatch, config, state=last_states(first), streams=["zuora_account", "zuora_invoice"])
    assert sum('"type":"RECORD"' in line for line in second["zuora_account"]) == 2


def test_batch_profiles_and_events_are_the_same_bytes_on_both_paths(start_batch, frozen_clock, monkeypatch):
    sim, url = start_batch(profiles=900, events_per_hour=4, part_size_bytes=150_000)
    section = sim.connector_config(url, poll_interval_seconds=0.05, lookback_days=2, event_window_hours=24 * 3)
    assert_same_output(monkeypatch, {"batch": section}, streams=["batch_profile_attributes", "batch_profile_events"])


@pytest.mark.parametrize("delivery", ["use_records_transfer", "use_file_transfer"])
def test_veeva_files_and_attachments_are_the_same_bytes_on_both_paths(start_vault, staging_dir, frozen_clock, monkeypatch, delivery):
    def fresh_vault() -> Dict[str, Any]:
        sim, url = start_vault(documents=12, objects={"product__v": 40}, part_size_bytes=30_000)
        return {"delivery_method": {"delivery_type": delivery}, "veeva_vault": sim.connector_config(url, poll_interval_seconds=0.15)}

    assert_same_output(monkeypatch, fresh_vault)


def test_tape_records_and_attachments_are_the_same_bytes_on_both_paths(start_tape, frozen_clock, monkeypatch):
    sim, url = start_tape({101: 1200})
    assert_same_output(monkeypatch, {"tape": sim.connector_config(url)})
