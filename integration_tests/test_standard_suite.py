"""Airbyte's standard connector tests (airbyte_cdk.test.standard_tests) against the simulators.

`TestStandardSuite` inherits the CDK's suite: spec, config-matches-spec, check (succeed and
failed), discover with the catalog checks, basic read (records in every stream, every record
valid against its schema), full refresh and a read with a bad catalog. The scenarios come from
`acceptance-test-config.yml` at the repository root, as in every Airbyte connector. The CDK has
no incremental test, so this class adds one that reads the `incremental` section.

The configs named there are written by `simulated_configs` (class-scoped, autouse): it starts the
four bundled simulators on free loopback ports and writes `integration_tests/simulated/*.json`
before the first test runs; the scenarios only name the files at collection time. An exclusive
lock on that folder keeps two test sessions in one working tree from overwriting each other's
configs. The docker image tests of the suite need a docker daemon: run with
`-m "not image_tests"` (without a docker CLI they are skipped); `.ci/image_check.py` runs
spec, check, discover and read in the image built by buildah instead.
"""

from __future__ import annotations

import copy
import fcntl
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import yaml
from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode, SyncMode
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from airbyte_cdk.test.standard_tests._job_runner import run_test_job

from source_vault_exports.local_sync.demo import SMALL, simulated_sources
from source_vault_exports.source import SourceVaultExports

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

ROOT = Path(__file__).resolve().parents[1]
SIMULATED = ROOT / "integration_tests" / "simulated"

# Streams whose second incremental read may repeat rows of the first, by design (README,
# "Which cursor catches what"), with the cursor and how far back: Batch lists export requests again
# one day back, since a request changes status after it is created.
REREAD_BY_DESIGN = {"batch_export_requests": ("request_date", timedelta(days=1))}


def _wrong_credentials(config: Dict[str, Any]) -> Dict[str, Any]:
    wrong = copy.deepcopy(config)
    wrong["zuora"]["client_secret"] = "not-the-client-secret"
    wrong["veeva_vault"]["password"] = "not-the-password"
    wrong["batch"]["rest_api_key"] = "not-the-rest-api-key"
    wrong["tape"]["api_key"] = "user_key_not_the_key"
    return wrong


@pytest.fixture(scope="class", autouse=True)
def simulated_configs() -> Iterator[Dict[str, Any]]:
    """The simulators of all four vendors, and the config files that point at them."""
    SIMULATED.mkdir(exist_ok=True)
    (SIMULATED / ".gitignore").write_text("# written by integration_tests/test_standard_suite.py\n*\n")
    with open(SIMULATED / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with simulated_sources(SMALL) as config:
                (SIMULATED / "config.json").write_text(json.dumps(config, indent=1))
                (SIMULATED / "wrong_credentials.json").write_text(json.dumps(_wrong_credentials(config), indent=1))
                yield config
        finally:
            for name in ("config.json", "wrong_credentials.json"):
                (SIMULATED / name).unlink(missing_ok=True)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _incremental_scenarios() -> List[ConnectorTestScenario]:
    tests = yaml.safe_load((ROOT / "acceptance-test-config.yml").read_text())["acceptance_tests"]["incremental"]["tests"]
    return [ConnectorTestScenario(config_path=test["config_path"]) for test in tests]


class TestStandardSuite(SourceTestSuiteBase):
    connector = SourceVaultExports
    connector_name = "source-vault-exports"

    def test_metadata_sync_mode_tags_match_discover(self) -> None:
        """metadata.yaml names the sync modes the discovered streams support (as `sync-mode:` tags)."""
        scenario = ConnectorTestScenario(config_path=SIMULATED.relative_to(ROOT) / "config.json")
        discovered = run_test_job(self.create_connector(scenario), "discover", connector_root=ROOT, test_scenario=scenario)
        modes = {mode.value for stream in discovered.catalog.catalog.streams for mode in stream.supported_sync_modes}
        tags = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]["tags"]
        assert {tag.split(":", 1)[1] for tag in tags if tag.startswith("sync-mode:")} == modes

    @pytest.mark.parametrize("incremental", _incremental_scenarios(), ids=lambda scenario: scenario.id)
    def test_incremental_reads_resume_from_state(self, incremental: ConnectorTestScenario) -> None:
        """Two incremental reads, the second from the first's state (what a platform does).

        Every incremental stream checkpoints state, and the second read only delivers what the
        state does not cover: with no change at the simulators, nothing, except the streams that
        re-read a window by design.
        """
        root = self.get_connector_root_dir()
        discovered = run_test_job(self.create_connector(incremental), "discover", connector_root=root, test_scenario=incremental)
        streams = discovered.catalog.catalog.streams
        catalog = ConfiguredAirbyteCatalog(
            streams=[
                ConfiguredAirbyteStream(
                    stream=stream,
                    sync_mode=SyncMode.incremental if SyncMode.incremental in stream.supported_sync_modes else SyncMode.full_refresh,
                    destination_sync_mode=DestinationSyncMode.append_dedup,
                    cursor_field=stream.default_cursor_field if SyncMode.incremental in stream.supported_sync_modes else None,
                    primary_key=stream.source_defined_primary_key,
                )
                for stream in streams
            ]
        )
        incremental_streams = {configured.stream.name for configured in catalog.streams if configured.sync_mode == SyncMode.incremental}
        assert incremental_streams, "no stream supports incremental sync"

        first = run_test_job(self.create_connector(incremental), "read", connector_root=root, test_scenario=incremental, catalog=catalog)
        first_rows = _rows_per_stream(first)
        first_states = _last_states(first)
        assert incremental_streams <= set(first_states), f"no state from {sorted(incremental_streams - set(first_states))}"

        second = _read_with_state(self.create_connector(incremental), incremental, catalog, list(first_states.values()), root)
        second_rows = _rows_per_stream(second)
        assert incremental_streams <= set(_last_states(second)), "the second read must checkpoint every incremental stream again"
        repeated = {
            name: f"{second_rows[name]} of {first_rows[name]} rows"
            for name in incremental_streams - set(REREAD_BY_DESIGN)
            if second_rows[name]
        }
        assert not repeated, f"streams read again what their state covers: {repeated}"
        for name, (cursor, lookback) in REREAD_BY_DESIGN.items():
            oldest = datetime.now(timezone.utc) - lookback - timedelta(minutes=5)
            for message in second.records:
                if message.record.stream == name:
                    value = datetime.fromisoformat(message.record.data[cursor].replace("Z", "+00:00"))
                    assert value >= oldest, f"{name} re-read {cursor} {value}, older than its {lookback} lookback"


def _rows_per_stream(output: EntrypointOutput) -> Counter:
    return Counter(message.record.stream for message in output.records)


def _last_states(output: EntrypointOutput) -> Dict[str, AirbyteStateMessage]:
    """The last STATE message of each stream: what the platform passes to the next read."""
    return {message.state.stream.stream_descriptor.name: message.state for message in output.state_messages}


def _read_with_state(
    connector: SourceVaultExports, scenario: ConnectorTestScenario, catalog: ConfiguredAirbyteCatalog, states: List[AirbyteStateMessage], root: Path
) -> EntrypointOutput:
    """`read --state`: the CDK's job runner takes no state, so this runs the entrypoint as it does."""
    output = entrypoint_wrapper.read(connector, scenario.get_config_dict(connector_root=root, empty_if_missing=False), catalog, state=states)
    assert not output.errors, output.get_formatted_error_message()
    return output
