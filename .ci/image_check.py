"""Build the connector's docker image from the real Dockerfile and run it against the simulators.

There is no docker daemon on CI machines, so `../shared/tools/container-check` builds the image
with buildah (hadolint first, strictly) and runs `spec`, `check` and `discover` in it; this script
then runs `read` in the same image and checks what came out: records for every stream, state
messages, no error, and a connector that does not run as root. It ends by reporting the image size.

    .venv/bin/python .ci/image_check.py [--tool PATH]

The bundled simulators listen on 127.0.0.1 of this machine; buildah's chroot isolation shares the
host's network, so the connector inside the image reaches them as it would a vendor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from source_vault_exports.local_sync.cli import configured_catalog, discover  # noqa: E402
from source_vault_exports.local_sync.demo import SMALL, simulated_sources  # noqa: E402

BUILDAH_ENV = {**os.environ, "STORAGE_DRIVER": os.environ.get("STORAGE_DRIVER", "vfs"), "BUILDAH_ISOLATION": os.environ.get("BUILDAH_ISOLATION", "chroot")}


def image_name(project_dir: Path) -> str:
    """The tag container-check gives the image it builds (see its `NAME=` line)."""
    name = re.sub(r"[^a-z0-9._\n-]", "-", project_dir.name.lower())
    return f"localhost/{name}:container-check"


def buildah(*args: str, capture: bool = True) -> str:
    completed = subprocess.run(["buildah", *args], env=BUILDAH_ENV, capture_output=capture, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"image check: buildah {' '.join(args[:3])} failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return completed.stdout


def entrypoint(image: str) -> List[str]:
    """AIRBYTE_ENTRYPOINT of the image: `buildah run` does not apply ENTRYPOINT by itself."""
    config = json.loads(buildah("inspect", "--type", "image", image))["OCIv1"]["config"]
    for variable in config.get("Env") or []:
        if variable.startswith("AIRBYTE_ENTRYPOINT="):
            return shlex.split(variable.split("=", 1)[1])
    raise SystemExit("image check: the image does not set AIRBYTE_ENTRYPOINT")


def read_in_image(image: str, config_path: Path, catalog_path: Path) -> Dict[str, int]:
    container = buildah("from", "--pull=never", "--quiet", image).strip()
    try:
        uid = buildah("run", container, "--", "id", "-u").strip()
        if uid == "0":
            raise SystemExit("image check: the connector runs as root; the Dockerfile must end with a non-root USER")
        print(f"    connector user id in the image: {uid}")
        buildah("copy", "--quiet", "--chmod", "0444", container, str(config_path), "/secrets/config.json")
        buildah("copy", "--quiet", "--chmod", "0444", container, str(catalog_path), "/secrets/catalog.json")
        command = [*entrypoint(image), "read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json"]
        started = time.monotonic()
        completed = subprocess.run(["buildah", "run", container, "--", *command], env=BUILDAH_ENV, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
    finally:
        subprocess.run(["buildah", "rm", container], env=BUILDAH_ENV, capture_output=True, check=False)

    records: Counter = Counter()
    states: Counter = Counter()
    errors: List[str] = []
    for line in completed.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "RECORD":
            records[message["record"]["stream"]] += 1
        elif kind == "STATE":
            states[message["state"]["stream"]["stream_descriptor"]["name"]] += 1
        elif kind == "TRACE" and message["trace"].get("error"):
            errors.append(message["trace"]["error"]["message"])
    print(f"    read in the image: {sum(records.values())} records, {sum(states.values())} state messages in {elapsed:.1f} s")
    if completed.returncode != 0 or errors:
        print(completed.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"image check: read exited {completed.returncode} with errors: {errors}")
    return dict(records)


# Where the workplace keeps container-check: beside this checkout, or at its usual place.
CONTAINER_CHECK_CANDIDATES = [
    Path(os.environ["CONTAINER_CHECK"]) if os.environ.get("CONTAINER_CHECK") else REPO.parent / "shared" / "tools" / "container-check",
    REPO.parent / "shared" / "tools" / "container-check",
    Path("/work/shared/tools/container-check"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", default=None, help="container-check script (default: found beside the repository)")
    args = parser.parse_args()
    candidates = [Path(args.tool)] if args.tool else CONTAINER_CHECK_CANDIDATES
    tool = next((candidate for candidate in candidates if candidate.exists()), None)
    if tool is None:
        # The tool comes with the workplace, not with the project: a checkout elsewhere has none.
        print(f"image check skipped: container-check not found (looked at {', '.join(map(str, candidates))})")
        return

    image = image_name(REPO)
    with simulated_sources(SMALL) as config, tempfile.TemporaryDirectory() as work:
        config_path = Path(work, "config.json")
        config_path.write_text(json.dumps(config))
        # Build (hadolint must be clean), then spec, check and discover inside the image.
        started = time.monotonic()
        subprocess.run(["bash", str(tool), str(REPO), "--config", str(config_path), "--discover", "--strict-lint"], check=True)
        print(f"    container-check took {time.monotonic() - started:.0f} s")

        streams = discover(str(config_path))
        catalog_path = Path(work, "catalog.json")
        catalog_path.write_text(json.dumps(configured_catalog(streams, full_refresh=False)))
        print(f"\n==> run: read ({len(streams)} streams, incremental where supported) in {image}")
        records = read_in_image(image, config_path, catalog_path)
        empty = sorted(stream["name"] for stream in streams if not records.get(stream["name"]))
        for name in sorted(records):
            print(f"    {name}: {records[name]} records")
        if empty:
            raise SystemExit(f"image check: no records for {', '.join(empty)}")

    size = buildah("images", "--format", "{{.Size}}", image).strip()
    print(f"\nimage check: OK. {image} is {size} (on the stand-in Debian python base; see the Dockerfile)")


if __name__ == "__main__":
    main()
