"""Running one measured process: wall time, steady throughput, peak RSS; and simulator processes.

Every measured program (the connector's CLI, a floor, tap-zuora) is a child process whose standard
output is read here through a pipe. The reader counts record lines at C speed (`bytes.count`) and
stamps the first and the last, so "records/s" is the steady rate from first record to last, the
same for the connector and its floor; wall time is the whole process, start-up included. Peak RSS
is the child's own high-water mark (`wait4`'s `ru_maxrss`), not the simulator's or ours.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
AIRBYTE_RECORD = b'"type":"RECORD"'
SINGER_RECORD = b'"type": "RECORD"'
AIRBYTE_STATE = b'"type":"STATE"'


@dataclass
class Measured:
    wall_seconds: float
    records: int
    states: int
    first_record_seconds: Optional[float]  # after start
    last_record_seconds: Optional[float]
    peak_rss_mb: float
    exit_code: int
    stderr_tail: str = ""
    output_bytes: int = 0
    cpu_seconds: float = 0.0  # user + system, the whole process
    # Set when the run is timed by its download instead (see `run.Bench._timed_download`).
    download_seconds: Optional[float] = None

    @property
    def steady_seconds(self) -> float:
        if self.download_seconds is not None:
            return max(self.download_seconds, 1e-6)
        if self.first_record_seconds is None or self.last_record_seconds is None:
            return self.wall_seconds
        return max(self.last_record_seconds - self.first_record_seconds, 1e-6)

    @property
    def records_per_second(self) -> float:
        if self.download_seconds is not None:
            return self.records / self.steady_seconds
        return max(self.records - 1, 0) / self.steady_seconds if self.records > 1 else 0.0

    def data_seconds(self) -> float:
        """Seconds that `data_bytes` took: the download, or first record to last (all but one
        record's share of the bytes arrive in that span)."""
        if self.download_seconds is not None:
            return self.steady_seconds
        return self.steady_seconds * self.records / max(self.records - 1, 1)


def measure(command: Sequence[str], *, marker: bytes = AIRBYTE_RECORD, env: Optional[Dict[str, str]] = None, timeout: float = 900.0) -> Measured:
    """Run `command`, reading its stdout through a counting pipe; return what it cost."""
    with tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, env=env, cwd=str(ROOT))
        assert process.stdout is not None
        # A program that hangs silently is killed at the deadline (its reads would block forever).
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.daemon = True
        watchdog.start()
        peak = _PeakMemory(process.pid)
        fd = process.stdout.fileno()
        records = states = size = 0
        first = last = None
        carry = b""
        keep = max(len(marker), len(AIRBYTE_STATE)) - 1
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            window = carry + chunk
            # Markers wholly inside the carried tail were counted with the previous read.
            found = window.count(marker) - carry.count(marker)
            if found:
                now = time.monotonic() - started
                if first is None:
                    first = now
                last = now
                records += found
            states += window.count(AIRBYTE_STATE) - carry.count(AIRBYTE_STATE)
            carry = window[-keep:]
        process.stdout.close()
        peak.stop()
        _, status, usage = os.wait4(process.pid, 0)
        watchdog.cancel()
        wall = time.monotonic() - started
        errors.seek(0)
        tail = errors.read()[-4000:].decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(status)
    # ru_maxrss also counts the parent's pages at fork time; the child's own mark (VmHWM, after
    # exec) is the figure when it could be read.
    rss_mb = peak.mb if peak.mb else usage.ru_maxrss / 1024.0
    return Measured(wall, records, states, first, last, rss_mb, code, tail, size, usage.ru_utime + usage.ru_stime)


class _PeakMemory:
    """Reads a process's VmHWM (its own peak RSS since exec) every 20 ms until it ends."""

    def __init__(self, pid: int) -> None:
        self._path = f"/proc/{pid}/status"
        self.mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while True:
            self._read()
            if self._done.wait(0.02):
                return

    def _read(self) -> None:
        try:
            with open(self._path) as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        self.mb = max(self.mb, int(line.split()[1]) / 1024.0)
                        return
        except (OSError, ValueError):
            return

    def stop(self) -> None:
        self._read()  # the last look before the process is reaped (VmHWM only grows)
        self._done.set()
        self._thread.join()


class SimulatorProcess:
    """`bench/serve.py` in a child process; `config` and `info` come from its first line."""

    def __init__(self, spec: Dict[str, Any], python: str = sys.executable) -> None:
        self.process = subprocess.Popen(
            [python, str(BENCH / "serve.py"), json.dumps(spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT), text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator {spec['vendor']} did not start: {self.process.stderr.read() if self.process.stderr else ''}")
        first = json.loads(line)
        self.config: Dict[str, Any] = first["config"]
        self.info: Dict[str, Any] = first["info"]
        self.calls: Dict[str, int] = {}

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            for line in self.process.stderr.read().splitlines():
                if line.startswith('{"calls"'):
                    self.calls = json.loads(line)["calls"]

    def __enter__(self) -> "SimulatorProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class Sample:
    """Repeated runs of one program; figures are medians."""

    runs: List[Measured] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)

    @property
    def ok(self) -> bool:
        return all(run.exit_code == 0 for run in self.runs)


def write_json(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
