"""The README's second way in: PyAirbyte runs this connector offline from a local executable.

PyAirbyte pins its own duckdb and pandas, so it gets a virtualenv of its own, created here on first
use and kept in the user cache (keyed by its version) for later runs. The sync runs
`docs/examples/pyairbyte_sync.py`, the script the README shows, against the four simulators.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from source_vault_exports.local_sync.demo import SMALL, simulated_sources

PYAIRBYTE_VERSION = "0.71.3"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "pyairbyte_sync.py"
INSTALL_TIMEOUT_SECONDS = 900
# What pip prints when it cannot reach the package index (as opposed to a broken install).
UNREACHABLE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Could not fetch URL",
    "ConnectTimeoutError",
    "No matching distribution found for airbyte",
)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "source-vault-exports"


@pytest.fixture(scope="module")
def pyairbyte_python() -> Iterator[Path]:
    """The Python of a virtualenv with airbyte==PYAIRBYTE_VERSION (created once, then reused)."""
    venv = Path(os.environ.get("VAULT_EXPORTS_PYAIRBYTE_VENV") or _cache_root() / f"pyairbyte-{PYAIRBYTE_VERSION}")
    ready = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time; the others wait and reuse it
        if not ready.exists():
            shutil.rmtree(venv, ignore_errors=True)  # a half-made one from an interrupted run
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            install = subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"airbyte=={PYAIRBYTE_VERSION}"],
                capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS,
            )  # fmt: skip
            if install.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                output = install.stdout + install.stderr
                if any(sign in output for sign in UNREACHABLE):
                    pytest.skip(f"PyPI is unreachable, so PyAirbyte {PYAIRBYTE_VERSION} cannot be installed: {output.strip()[-300:]}")
                pytest.fail(f"pip install airbyte=={PYAIRBYTE_VERSION} failed:\n{output[-3000:]}")
            ready.write_text(PYAIRBYTE_VERSION)
    yield venv / "bin" / "python"


@pytest.mark.timeout(INSTALL_TIMEOUT_SECONDS + 300)  # a first run installs PyAirbyte
def test_pyairbyte_syncs_every_stream_from_the_local_executable_offline(pyairbyte_python: Path, tmp_path: Path):
    connector = Path(sys.executable).parent / "source-vault-exports"
    assert connector.exists(), "the connector's console script is installed beside this Python"
    env = {
        **os.environ,
        "AIRBYTE_OFFLINE_MODE": "1",  # the example sets it too, before importing airbyte
        "DO_NOT_TRACK": "1",
        "AIRBYTE_LOGGING_ROOT": str(tmp_path / "logs"),
        "NO_COLOR": "1",
    }
    with simulated_sources(SMALL) as config:
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        completed = subprocess.run(
            [str(pyairbyte_python), str(EXAMPLE), "--config", str(config_path), "--executable", str(connector), "--cache-dir", str(tmp_path / "cache")],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
        )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rows = json.loads(completed.stdout.strip().splitlines()[-1])["rows"]
    assert len(rows) == 14 and all(count > 0 for count in rows.values()), rows
    for name in ("zuora_account", "zuora_invoice_item", "zuora_contact"):
        assert rows[name] == SMALL.zuora_rows, (name, rows[name])
    assert rows["batch_profile_attributes"] == SMALL.batch_profiles
    assert "first rows of" in completed.stdout  # read back from PyAirbyte's DuckDB cache with pandas
