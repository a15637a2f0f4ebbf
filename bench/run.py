"""The benchmark suite: `python bench/run.py [--quick] [--cases zuora,veeva,...] [--repeat N]`.

Serves large exports from the simulators on 127.0.0.1 (each in its own process, bodies rendered
once into a cache), runs the connector's real `read` through its CLI entrypoint, and next to each
figure a raw floor measured in the same run on the same data (`floor.py`). The machine is shared
and noisy, so figures are medians of `--repeat` runs and targets are ratios to the floor.
Prints a table, and writes `bench/results.md` and `bench/results.json` (the last run's figures,
committed so the next change can be compared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import AIRBYTE_RECORD, BENCH, ROOT, SINGER_RECORD, Measured, SimulatorProcess, measure  # noqa: E402

PYTHON = sys.executable
RECORD_PATH_ENV = "SOURCE_VAULT_EXPORTS_RECORD_PATH"  # = fast_records.RECORD_PATH_ENV (not imported: no CDK here)
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "source-vault-exports-bench"
MB = 1_000_000

SIZES: Dict[str, Dict[str, Any]] = {
    "full": {
        "zuora_rows": 1_000_000, "plain_rows": 100_000, "objects8_rows": 20_000, "processing_seconds": 4.0,
        "veeva_records": 500, "veeva_file_bytes": 2 * 1024 * 1024, "veeva_part_bytes": 256 * 1024 * 1024,
        "batch_profiles": 450_000, "batch_part_bytes": 100 * 1024 * 1024,
        "tape_records": 100_000, "tape_credits": 2000, "tape_interval_seconds": 25.0,
        "scaling": [10_000, 100_000, 1_000_000], "peer_rows": 100_000, "peer8_rows": 10_000, "peer8_processing_seconds": 0.5, "repeat": 3,
    },
    "quick": {
        "zuora_rows": 100_000, "plain_rows": 20_000, "objects8_rows": 5_000, "processing_seconds": 2.0,
        "veeva_records": 200, "veeva_file_bytes": 256 * 1024, "veeva_part_bytes": 16 * 1024 * 1024,
        "batch_profiles": 45_000, "batch_part_bytes": 10 * 1024 * 1024,
        "tape_records": 10_000, "tape_credits": 200, "tape_interval_seconds": 5.0,
        "scaling": [10_000, 30_000, 100_000], "peer_rows": 20_000, "peer8_rows": 5_000, "peer8_processing_seconds": 0.2, "repeat": 1,
    },
}
CASES = ("zuora", "zuora8", "veeva", "batch", "tape", "scaling", "peer")


@dataclass
class Line:
    """One row of the table: a program's medians, and the target it is judged against."""

    case: str
    program: str
    records: int
    records_per_second: float
    mb_per_second: Optional[float]
    peak_rss_mb: float
    wall_seconds: float
    ratio: Optional[float] = None  # to the floor (or whatever `ratio_label` says)
    ratio_label: str = "floor"
    target: str = ""
    passed: Optional[bool] = None
    note: str = ""
    runs: List[Dict[str, Any]] = field(default_factory=list)


class Bench:
    def __init__(self, sizes: Dict[str, Any], cache: Path, repeat: int, tap_python: Optional[str], log: Callable[[str], None]) -> None:
        self.sizes = sizes
        self.cache = cache
        self.repeat = repeat
        self.tap_python = tap_python
        self.log = log
        self.lines: List[Line] = []
        self.work = Path(tempfile.mkdtemp(prefix="bench-"))

    # -- programs -------------------------------------------------------------------------------
    def connector_files(self, name: str, config: Dict[str, Any], streams: Sequence[str]) -> List[str]:
        """Config and configured catalog files for `read` (the catalog from the connector's discover)."""
        config_path = self.work / f"{name}.config.json"
        config_path.write_text(json.dumps(config))
        found = subprocess.run([PYTHON, "-m", "source_vault_exports.run", "discover", "--config", str(config_path)], capture_output=True, text=True, cwd=ROOT)
        catalogs = [json.loads(line) for line in found.stdout.splitlines() if line.startswith('{"type":"CATALOG"')]
        if not catalogs:
            raise RuntimeError(f"discover failed for {name}: {found.stdout[-2000:]} {found.stderr[-2000:]}")
        configured = []
        for stream in catalogs[0]["catalog"]["streams"]:
            if stream["name"] not in streams:
                continue
            incremental = "incremental" in stream.get("supported_sync_modes", [])
            configured.append({
                "stream": stream,
                "sync_mode": "incremental" if incremental else "full_refresh",
                "destination_sync_mode": "append",
                **({"cursor_field": stream.get("default_cursor_field", [])} if incremental else {}),
            })
        catalog_path = self.work / f"{name}.catalog.json"
        catalog_path.write_text(json.dumps({"streams": configured}))
        return ["read", "--config", str(config_path), "--catalog", str(catalog_path)]

    def connector(self, args: List[str], plain: bool = False, extra_env: Optional[Dict[str, str]] = None) -> Measured:
        env = {**os.environ, **(extra_env or {})}
        env.pop(RECORD_PATH_ENV, None)
        if plain:
            env[RECORD_PATH_ENV] = "plain"
        return measure([PYTHON, "-m", "source_vault_exports.run", *args], env=env)

    def floor(self, spec: Dict[str, Any]) -> Measured:
        return measure([PYTHON, str(BENCH / "floor.py"), json.dumps(spec)])

    def repeated(self, label: str, run: Callable[[], Measured], times: Optional[int] = None) -> List[Measured]:
        runs = []
        for attempt in range(times or self.repeat):
            started = time.monotonic()
            result = run()
            runs.append(result)
            self.log(f"  {label} #{attempt + 1}: {result.records} records, {result.records_per_second:,.0f}/s, "
                     f"RSS {result.peak_rss_mb:.0f} MB, wall {result.wall_seconds:.1f} s (exit {result.exit_code}, {time.monotonic() - started:.1f} s)")
            if result.exit_code != 0:
                self.log(f"    stderr: {result.stderr_tail[-1500:]}")
        return runs

    def paired(self, run_floor: Callable[[], Measured], run_connector: Callable[[], Measured]) -> Tuple[List[Measured], List[Measured]]:
        """Floor and connector runs alternated, so a change in the machine's load hits both alike."""
        floors: List[Measured] = []
        connectors: List[Measured] = []
        for _ in range(self.repeat):
            floors += self.repeated("floor", run_floor, 1)
            connectors += self.repeated("connector", run_connector, 1)
        return floors, connectors

    @staticmethod
    def paired_ratio(floors: List[Measured], connectors: List[Measured], rate: Callable[[Measured], float]) -> Optional[float]:
        """The median of each pair's ratio (connector / floor)."""
        ratios = [rate(c) / rate(f) for f, c in zip(floors, connectors) if rate(f)]
        return statistics.median(ratios) if ratios else None

    def line(self, case: str, program: str, runs: List[Measured], *, data_bytes: Optional[int] = None, note: str = "") -> Line:
        def median(values: List[float]) -> float:
            return statistics.median(values) if values else 0.0

        records = int(median([r.records for r in runs]))
        mbps = None
        if data_bytes:
            mbps = median([data_bytes / r.data_seconds() / MB for r in runs])
        result = Line(case, program, records, median([r.records_per_second for r in runs]), mbps, median([r.peak_rss_mb for r in runs]),
                      median([r.wall_seconds for r in runs]), note=note, runs=[asdict(r) | {"records_per_second": r.records_per_second} for r in runs])
        if any(r.exit_code != 0 for r in runs):
            result.note = (result.note + " FAILED RUN").strip()
        self.lines.append(result)
        return result

    @staticmethod
    def judge(line: Line, ratio: Optional[float], target: str, passed: Optional[bool], label: str = "floor") -> None:
        line.ratio, line.target, line.passed, line.ratio_label = ratio, target, passed, label

    def expect_records(self, line: Line, expected: int) -> None:
        if line.records != expected:
            line.passed = False
            line.note = (line.note + f" expected {expected} records").strip()

    # -- cases ----------------------------------------------------------------------------------
    def zuora_export(self, rows: int, *, plain_too: bool = False, case: str = "zuora") -> Dict[str, Line]:
        spec = {"vendor": "zuora", "rows": rows, "objects": 1, "cache": str(self.cache)}
        out: Dict[str, Line] = {}
        with SimulatorProcess(spec) as sim:
            section = sim.config["zuora"]
            args = self.connector_files(f"{case}-{rows}", {"start_date": "2024-01-01T00:00:00Z", "zuora": section}, ["zuora_bench1"])
            floor_runs, fast_runs = self.paired(lambda: self.floor({"vendor": "zuora", "section": section}), lambda: self.connector(args))
            floor = self.line(case, f"floor {rows:,} rows", floor_runs, data_bytes=sim.info["bytes"])
            fast = self.line(case, f"connector {rows:,} rows", fast_runs, data_bytes=sim.info["bytes"])
            fast.ratio = self.paired_ratio(floor_runs, fast_runs, lambda r: r.records_per_second)
            out.update(floor=floor, fast=fast)
            if plain_too:
                plain = self.line(case, f"connector, plain CDK path (before) {rows:,} rows", self.repeated("plain path", lambda: self.connector(args, plain=True), 1),
                                  data_bytes=sim.info["bytes"])
                out["plain"] = plain
        for key in ("fast", "plain"):
            if key in out:
                self.expect_records(out[key], rows)
        return out

    def case_zuora(self) -> None:
        rows = self.sizes["zuora_rows"]
        self.log(f"zuora: one export of {rows:,} rows x {20} columns")
        got = self.zuora_export(rows)
        fast = got["fast"]
        ratio = fast.ratio
        self.judge(fast, ratio, "records/s >= 0.5 x floor, RSS < 200 MB", bool(ratio and ratio >= 0.5 and fast.peak_rss_mb < 200))
        self.expect_records(fast, rows)
        plain_rows = self.sizes["plain_rows"]
        self.log(f"zuora: before/after at {plain_rows:,} rows (plain CDK path vs fast path)")
        small = self.zuora_export(plain_rows, plain_too=True, case="zuora-before-after")
        floor_rate = small["floor"].records_per_second
        self.judge(small["fast"], small["fast"].ratio, "(before/after figure)", None)
        self.judge(small["plain"], small["plain"].records_per_second / floor_rate if floor_rate else None, "(before/after figure)", None)

    def case_zuora8(self) -> None:
        rows, seconds = self.sizes["objects8_rows"], self.sizes["processing_seconds"]
        self.log(f"zuora8: 8 objects x {rows:,} rows, every job {seconds:g} s of processing, vs 1 object")
        walls: Dict[int, Line] = {}
        for objects in (1, 8):
            spec = {"vendor": "zuora", "rows": rows, "objects": objects, "cache": str(self.cache), "processing_seconds": seconds}
            with SimulatorProcess(spec) as sim:
                streams = [f"zuora_bench{n}" for n in range(1, objects + 1)]
                args = self.connector_files(f"zuora8-{objects}", {"start_date": "2024-01-01T00:00:00Z", "zuora": sim.config["zuora"]}, streams)
                walls[objects] = self.line("zuora8", f"connector, {objects} object(s)", self.repeated(f"{objects} object(s)", lambda: self.connector(args)))
                self.expect_records(walls[objects], rows * objects)
        ratio = walls[8].wall_seconds / walls[1].wall_seconds
        self.judge(walls[8], ratio, "wall <= 1.5 x one object's", ratio <= 1.5, label="1 object")

    def case_veeva(self) -> None:
        s = self.sizes
        timing_file = self.work / "veeva-part-timings.jsonl"
        spec = {"vendor": "veeva", "records": s["veeva_records"], "file_bytes": s["veeva_file_bytes"], "part_bytes": s["veeva_part_bytes"],
                "cache": str(self.cache), "timing_file": str(timing_file)}
        self.log(f"veeva: attachment field export of {s['veeva_records']} files x {s['veeva_file_bytes'] / MB:.1f} MB in parts of {s['veeva_part_bytes'] / MB:.0f} MB")
        with SimulatorProcess(spec) as sim:
            size, files = sim.info["bytes"], sim.info["rows"]
            section = sim.config["veeva_vault"]
            for delivery in ("use_records_transfer", "use_file_transfer"):
                staging = self.work / f"staging-{delivery}"
                config = {"delivery_method": {"delivery_type": delivery}, "veeva_vault": section}
                args = self.connector_files(f"veeva-{delivery}", config, ["veeva_attachment_field_files"])
                files_spec = {"vendor": "veeva", "section": section, "file_transfer": delivery == "use_file_transfer"}

                def run_connector() -> Measured:
                    staging.mkdir(parents=True, exist_ok=True)  # the CDK stages files there only if it exists
                    try:
                        return self.connector(args, extra_env={"AIRBYTE_STAGING_DIRECTORY": str(staging)})
                    finally:
                        subprocess.run(["rm", "-rf", str(staging)])

                floor_runs, fast_runs = self.paired(lambda: self._timed_download(timing_file, lambda: self.floor(files_spec)),
                                                    lambda: self._timed_download(timing_file, run_connector))
                floor = self.line(f"veeva {delivery}", f"floor ({size / MB:,.0f} MB tar.gz, {files} files)", floor_runs, data_bytes=size)
                fast = self.line(f"veeva {delivery}", "connector", fast_runs, data_bytes=size)
                ratio = self.paired_ratio(floor_runs, fast_runs, lambda r: 1.0 / r.data_seconds())
                self.judge(fast, ratio, "MB/s >= 0.5 x floor, RSS < 200 MB", bool(ratio and ratio >= 0.5 and fast.peak_rss_mb < 200))
                self.expect_records(fast, files)

    @staticmethod
    def _timed_download(timing_file: Path, run: Callable[[], Measured]) -> Measured:
        """Time a run by its download: from the first part's request to the last part's last byte.

        Vault files are few and large, so the first and the last record are too close together to
        time anything; the simulator notes when it served each part instead.
        """
        timing_file.unlink(missing_ok=True)
        result = run()
        spans = [json.loads(line) for line in timing_file.read_text().splitlines()] if timing_file.exists() else []
        if spans:
            began, ended = min(s[0] for s in spans), max(s[1] for s in spans)
            result.download_seconds = ended - began
        return result

    def case_batch(self) -> None:
        s = self.sizes
        spec = {"vendor": "batch", "profiles": s["batch_profiles"], "part_bytes": s["batch_part_bytes"], "cache": str(self.cache)}
        self.log(f"batch: profile export of {s['batch_profiles']:,} profiles in parts of {s['batch_part_bytes'] / MB:.0f} MB")
        with SimulatorProcess(spec) as sim:
            section = sim.config["batch"]
            args = self.connector_files("batch", {"batch": section}, ["batch_profile_attributes"])
            from_spec = {"vendor": "batch", "section": section, "attributes": sim.info["attributes"], "identifiers": sim.info["identifiers"]}
            note = f"{sim.info['parts']} parts, {sim.info['bytes'] / MB:,.0f} MB"
            floor_runs, fast_runs = self.paired(lambda: self.floor(from_spec), lambda: self.connector(args))
            self.line("batch", "floor", floor_runs, data_bytes=sim.info["bytes"], note=note)
            fast = self.line("batch", "connector", fast_runs, data_bytes=sim.info["bytes"], note=note)
            ratio = self.paired_ratio(floor_runs, fast_runs, lambda r: r.records_per_second)
            self.judge(fast, ratio, "records/s >= 0.5 x floor, RSS < 200 MB", bool(ratio and ratio >= 0.5 and fast.peak_rss_mb < 200))
            self.expect_records(fast, sim.info["rows"])

    def case_tape(self) -> None:
        s = self.sizes
        spec = {"vendor": "tape", "records": s["tape_records"], "credits": s["tape_credits"], "interval_seconds": s["tape_interval_seconds"], "cache": str(self.cache)}
        self.log(f"tape: {s['tape_records']:,} records in pages of 500")
        for label in ("floor", "connector"):
            # A fresh simulator per program: its credit bucket starts full and it counts the pages.
            sim = SimulatorProcess(spec)
            try:
                limit = sim.info["requests_per_second_limit"]
                section = sim.config["tape"]
                if label == "floor":
                    runs = self.repeated(label, lambda: self.floor({"vendor": "tape", "section": section}), 1)
                else:
                    args = self.connector_files("tape", {"tape": section}, ["tape_records"])
                    runs = self.repeated(label, lambda: self.connector(args), 1)
            finally:
                sim.stop()
            pages = sim.calls.get("records_list", 0) + sim.calls.get("records_filter", 0)
            line = self.line("tape", label, runs, note=f"{pages} pages")
            per_second = pages / line.wall_seconds if line.wall_seconds else 0.0
            line.note += f", {per_second:.1f} req/s, limit {limit:.1f}"
            if label == "connector":
                # Bounded by the limit: over the whole run, its page requests come near the limit.
                self.judge(line, per_second / limit, "req/s >= 0.7 x rate limit", per_second >= 0.7 * limit, label="limit")
                self.expect_records(line, s["tape_records"])
            else:
                self.judge(line, per_second / limit, "", None, label="limit")

    def case_scaling(self) -> None:
        sizes = self.sizes["scaling"]
        self.log(f"scaling: {', '.join(f'{n:,}' for n in sizes)} rows")
        got = []
        for rows in sizes:
            known = next((l for l in self.lines if l.case == "zuora" and l.program == f"connector {rows:,} rows"), None)
            if known is not None:
                known = Line("scaling", known.program, known.records, known.records_per_second, known.mb_per_second, known.peak_rss_mb,
                             known.wall_seconds, note="the zuora case's run", runs=known.runs)
                self.lines.append(known)
            else:
                known = self.zuora_export(rows, case="scaling")["fast"]
            got.append((rows, known))
        middle, largest, smallest = got[len(got) // 2][1], got[-1][1], got[0][1]
        linear = largest.records_per_second / middle.records_per_second if middle.records_per_second else 0
        flat = largest.peak_rss_mb - smallest.peak_rss_mb
        self.judge(largest, linear, f"rows/s at {sizes[-1]:,} >= 0.8 x at {sizes[len(sizes) // 2]:,}; RSS grows < 50 MB (+{flat:.0f} MB)",
                   linear >= 0.8 and flat < 50, label=f"{sizes[len(sizes) // 2]:,} rows")

    def case_peer(self) -> None:
        if not self.tap_python:
            self.log("peer: skipped (no tap-zuora virtualenv; see --tap-venv)")
            return
        rows, rows8, seconds = self.sizes["peer_rows"], self.sizes["peer8_rows"], self.sizes["peer8_processing_seconds"]
        self.log(f"peer: tap-zuora {_tap_version(self.tap_python)} vs the connector: {rows:,} rows; 8 objects x {rows8:,} rows, jobs of {seconds:g} s")
        # 8 objects: a year of data ending now, so tap-zuora's 30-day windows are 13 exports per object.
        year_ago = (datetime.now(timezone.utc) - timedelta(days=365)).replace(hour=0, minute=0, second=0, microsecond=0)
        results: Dict[str, Line] = {}
        for objects, rows_each, processing, first in ((1, rows, 0.1, None), (8, rows8, seconds, year_ago)):
            spec = {"vendor": "zuora", "rows": rows_each, "objects": objects, "cache": str(self.cache), "processing_seconds": processing}
            if first is not None:
                spec["first_updated"] = first.isoformat()
            with SimulatorProcess(spec) as sim:
                z = sim.config["zuora"]
                settings = {"base_url": z["base_url"], "client_id": z["client_id"], "client_secret": z["client_secret"], "objects": z["objects"],
                            "start_date": z["start_date"], "poll": z["poll_interval_seconds"]}
                tap = [self.tap_python, str(BENCH / "tap_zuora_run.py"), json.dumps(settings)]
                streams = [f"zuora_bench{n}" for n in range(1, objects + 1)]
                args = self.connector_files(f"peer-{objects}", {"start_date": z["start_date"], "zuora": z}, streams)
                label = f"{objects} object(s) x {rows_each:,} rows" + (f", jobs of {processing:g} s" if objects > 1 else "")
                results[f"tap{objects}"] = self.line("peer", f"tap-zuora, {label}", self.repeated("tap-zuora", lambda: measure(tap, marker=SINGER_RECORD, timeout=600), 1))
                results[f"ours{objects}"] = self.line("peer", f"connector, {label}", self.repeated("connector", lambda: self.connector(args), 1))
        ours, theirs = results["ours1"], results["tap1"]
        ratio = ours.records_per_second / theirs.records_per_second if theirs.records_per_second else None
        self.judge(ours, ratio, "records/s >= 3 x tap-zuora's", bool(ratio and ratio >= 3), label="tap-zuora")
        ours8, theirs8 = results["ours8"], results["tap8"]
        self.judge(ours8, ours8.wall_seconds / theirs8.wall_seconds, "wall time vs tap-zuora's (reported)", None, label="tap-zuora wall")


def _tap_version(python: str) -> str:
    found = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('tap-zuora'))"], capture_output=True, text=True)
    return found.stdout.strip() or "?"


def ensure_tap_venv(path: Path, log: Callable[[str], None]) -> Optional[str]:
    """tap-zuora in its own virtualenv (its pins clash with the CDK's), made once from the pins."""
    python = path / "bin" / "python"
    if python.exists():
        return str(python)
    log(f"creating tap-zuora's virtualenv in {path} (once)")
    made = subprocess.run([sys.executable, "-m", "venv", str(path)], capture_output=True, text=True)
    if made.returncode == 0:
        made = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(BENCH / "requirements-tap-zuora.txt")], capture_output=True, text=True)
    if made.returncode != 0:
        log(f"  could not install tap-zuora: {made.stderr[-800:]}")
        return None
    return str(python)


# -- output --------------------------------------------------------------------------------------
def table(lines: List[Line]) -> str:
    header = ["case", "program", "records", "records/s", "MB/s", "peak RSS MB", "wall s", "ratio", "target", "result"]
    rows = []
    for line in lines:
        ratio = f"{line.ratio:.2f}x {line.ratio_label}" if line.ratio is not None else ""
        result = "" if line.passed is None else ("PASS" if line.passed else "FAIL")
        rows.append([line.case, line.program + (f" ({line.note})" if line.note else ""), f"{line.records:,}", f"{line.records_per_second:,.0f}",
                     f"{line.mb_per_second:,.1f}" if line.mb_per_second is not None else "", f"{line.peak_rss_mb:,.0f}", f"{line.wall_seconds:,.1f}",
                     ratio, line.target, result])
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |", "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    return "\n".join(out)


def before_after(lines: List[Line]) -> str:
    """The plain CDK path against the fast path, same rows, same run."""
    plain = next((l for l in lines if l.case == "zuora-before-after" and "plain" in l.program), None)
    fast = next((l for l in lines if l.case == "zuora-before-after" and l.program.startswith("connector ") and "plain" not in l.program), None)
    if plain is None or fast is None or not plain.records_per_second:
        return ""
    return (f"Before/after (Zuora, {fast.records:,} rows, same run): the CDK's generic record path {plain.records_per_second:,.0f} records/s "
            f"({plain.ratio or 0:.2f}x floor), the fast path {fast.records_per_second:,.0f} records/s ({fast.ratio or 0:.2f}x floor): "
            f"{fast.records_per_second / plain.records_per_second:.1f}x faster, wall {plain.wall_seconds:.1f} s -> {fast.wall_seconds:.1f} s.")


def environment() -> Dict[str, Any]:
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "load_average": os.getloadavg(),
    }


def write_results(lines: List[Line], mode: str, repeat: int, started: float, path_md: Path, path_json: Path) -> None:
    env = environment()
    env.update(mode=mode, repeat=repeat, minutes=round((time.monotonic() - started) / 60, 1))
    path_json.write_text(json.dumps({"environment": env, "lines": [asdict(line) for line in lines]}, indent=1) + "\n")
    text = [
        "# Benchmark results (last run)",
        "",
        f"`python bench/run.py{' --quick' if mode == 'quick' else ''}` on {env['when']}: {env['machine']}, Python {env['python']}, "
        f"load average {', '.join(f'{x:.1f}' for x in env['load_average'])}; medians of {repeat} run(s); {env['minutes']} minutes.",
        "records/s and MB/s are steady rates (first record to last); wall time is the whole process, start-up",
        "included; peak RSS is the measured process's own. Ratios are to the floor measured in the same run on",
        "the same data unless the column says otherwise; a connector's ratio to its floor is the median of",
        "the ratios of floor and connector runs made one after the other. Raw runs: `results.json`.",
        "",
        table(lines),
        "",
        before_after(lines),
        "",
    ]
    path_md.write_text("\n".join(text))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 3 minutes)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--repeat", type=int, help="runs per measured program (median); default 3, 1 with --quick")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"rendered simulator bodies and the tap-zuora venv (default {DEFAULT_CACHE})")
    parser.add_argument("--tap-venv", type=Path, help="tap-zuora's virtualenv (default: <cache>/tap-zuora-venv, created if missing)")
    parser.add_argument("--results", type=Path, default=BENCH, help="folder for results.md and results.json")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    sizes = dict(SIZES[mode])
    repeat = args.repeat or sizes["repeat"]
    cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    unknown = [case for case in cases if case not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    args.cache.mkdir(parents=True, exist_ok=True)
    tap_python = ensure_tap_venv(args.tap_venv or args.cache / "tap-zuora-venv", log) if "peer" in cases else None
    bench = Bench(sizes, args.cache, repeat, tap_python, log)
    for case in CASES:
        if case in cases:
            try:
                getattr(bench, f"case_{case}")()
            except Exception as problem:  # one broken case must not lose the others' figures
                log(f"{case}: FAILED: {type(problem).__name__}: {problem}")
                bench.lines.append(Line(case, "(case failed)", 0, 0, None, 0, 0, target=str(problem)[:120], passed=False))
    print(table(bench.lines))
    print(before_after(bench.lines))
    args.results.mkdir(parents=True, exist_ok=True)
    write_results(bench.lines, mode, repeat, started, args.results / "results.md", args.results / "results.json")
    log(f"wrote {args.results / 'results.md'} and results.json")
    return 0 if all(line.passed is not False for line in bench.lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
