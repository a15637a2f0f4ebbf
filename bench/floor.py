"""The raw floor: the least work that reads the same export and prints Airbyte RECORD lines.

`python bench/floor.py '<json: vendor, config section, stream>'`. Each floor does the vendor's job
dance with plain `requests` (no retries, no checks), streams the same HTTP download, decodes it with
the fastest standard tools (csv, orjson, tarfile streaming, hashlib) and writes one
`{"type":"RECORD","record":{...}}` line per row to standard output with orjson. No typing, no
state, no checkpoints: this is what the connector's figures are divided by.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from typing import Any, Dict, Iterator, List

import orjson
import requests

OUT = open(1, "wb", buffering=1 << 16, closefd=False)


def emit(stream: str, data: Any) -> None:
    OUT.write(orjson.dumps({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": int(time.time() * 1000)}}))
    OUT.write(b"\n")


class _Body(io.RawIOBase):
    """A response body as a raw stream (urllib3's own closes itself at the end, mid-read)."""

    def __init__(self, response: requests.Response) -> None:
        self._raw = response.raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer), decode_content=True)
        buffer[: len(data)] = data
        return len(data)


def raw_stream(response: requests.Response) -> io.BufferedReader:
    return io.BufferedReader(_Body(response), 1 << 20)


def wait_until(check, interval: float = 0.05) -> Any:
    while True:
        value = check()
        if value is not None:
            return value
        time.sleep(interval)


# -- Zuora: token, one export of every field, poll, stream the CSV ---------------------------------
def zuora(section: Dict[str, Any], objects: List[str]) -> None:
    base = section["base_url"]
    http = requests.Session()
    token = http.post(f"{base}/oauth/token", data={"grant_type": "client_credentials", "client_id": section["client_id"], "client_secret": section["client_secret"]}).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    for object_name in objects:
        import xml.etree.ElementTree as ElementTree

        describe = ElementTree.fromstring(http.get(f"{base}/v1/describe/{object_name}").content)
        fields = [f.findtext("name") for f in describe.iterfind("./fields/field") if "export" in [c.text for c in f.iterfind("./contexts/context")]]
        export_id = http.post(f"{base}/v1/object/export", json={"Format": "csv", "Query": f"select {', '.join(fields)} from {object_name}"}).json()["Id"]

        def file_id() -> Any:
            status = http.get(f"{base}/v1/object/export/{export_id}").json()
            return status["FileId"] if status["Status"] == "Completed" else None

        response = http.get(f"{base}/v1/files/{wait_until(file_id)}", stream=True)
        reader = csv.reader(io.TextIOWrapper(raw_stream(response), encoding="utf-8", newline=""))
        header = [name.split(".", 1)[-1] for name in next(reader)]
        stream = f"zuora_{object_name.lower()}"
        for cells in reader:
            emit(stream, dict(zip(header, cells)))


# -- Vault: session, record ids, one export job, its parts back to back, tar members md5'd ----------
class _Parts(io.RawIOBase):
    def __init__(self, responses: Iterator[requests.Response]) -> None:
        self._responses = responses
        self._current = next(responses, None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._current is not None:
            data = self._current.raw.read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self._current = next(self._responses, None)
        return 0


def veeva(section: Dict[str, Any], file_transfer: bool) -> None:
    api = f"{section['vault_url']}/api/{section['api_version']}"
    http = requests.Session()
    session = http.post(f"{api}/auth", data={"username": section["username"], "password": section["password"]}).json()["sessionId"]
    http.headers["Authorization"] = session
    target = section["attachment_field_objects"][0]
    name = target["object_name"]
    page = http.post(f"{api}/query", data={"q": f"SELECT id FROM {name}"}, headers={"X-VaultAPI-DescribeQuery": "false"}).json()
    ids = [row["id"] for row in page["data"]]
    while page["responseDetails"].get("next_page"):
        page = http.post(section["vault_url"] + page["responseDetails"]["next_page"]).json()
        ids += [row["id"] for row in page["data"]]
    for start in range(0, len(ids), 500):
        job = http.post(f"{api}/vobjects/{name}/attachment_fields/actions/export", params={"field_names": ",".join(target["field_names"])}, json=[{"id": i} for i in ids[start:start + 500]]).json()
        job_id = job["data"]["job_id"]

        def done() -> Any:
            status = http.get(f"{api}/services/jobs/{job_id}").json()
            return True if status.get("data", {}).get("status") == "SUCCESS" else None

        wait_until(done, 0.1)
        results = http.get(f"{api}/vobjects/{name}/attachment_fields/actions/export/{job_id}/results").json()["data"]
        parts = (http.get(f"{api}/vobjects/{name}/attachment_fields/files/{p['name']}", stream=True) for p in sorted(results["filepart_details"], key=lambda p: p["filepart"]))
        staging = tempfile.mkdtemp(prefix="floor-veeva-")
        with tarfile.open(fileobj=io.BufferedReader(_Parts(parts), 1 << 20), mode="r|gz") as archive:
            for info in archive:
                if not info.isfile():
                    continue
                content = archive.extractfile(info)
                digest = hashlib.md5()
                target_file = open(os.path.join(staging, str(info.offset)), "wb") if file_transfer else None
                while True:
                    chunk = content.read(1 << 20)
                    if not chunk:
                        break
                    digest.update(chunk)
                    if target_file is not None:
                        target_file.write(chunk)
                if target_file is not None:
                    target_file.close()  # kept until the end, like the connector's staged files
                record_id, field, file_name = info.name.split("/", 2)
                emit("veeva_attachment_field_files", {"object_name": name, "record_id": record_id, "field_name": field, "file_name": file_name, "size": info.size, "md5": digest.hexdigest()})
        shutil.rmtree(staging)


# -- Batch: one ATTRIBUTES export, its parts through the storage redirect, one JSON line each -------
def batch(section: Dict[str, Any], attributes: List[str], identifiers: List[str]) -> None:
    api = section["api_url"]
    http = requests.Session()
    http.headers.update({"Authorization": f"Bearer {section['rest_api_key']}", "X-Batch-Project": section["project_key"]})
    export_id = http.post(f"{api}/profiles/export", json={"export_type": "ATTRIBUTES", "attributes": attributes, "identifiers": identifiers}).json()["id"]

    def files() -> Any:
        view = http.get(f"{api}/exports/view", params={"id": export_id}).json()
        return view["files"] if view["status"] == "SUCCESS" else None

    storage = requests.Session()
    for part in sorted(wait_until(files, 0.1), key=lambda f: f["part"]):
        location = http.get(f"{api}/exports/download", params={"id": part["id"]}, allow_redirects=False).headers["Location"]
        for line in raw_stream(storage.get(location, stream=True)):
            if line.strip():
                emit("batch_profile_attributes", orjson.loads(line))


# -- Tape: every page of records, as fast as the credit limit lets -----------------------------
def tape(section: Dict[str, Any]) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {section['api_key']}"
    for app_id in section["app_ids"]:
        cursor = None
        while True:
            params: Dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            response = http.get(f"{section['api_url']}/v1/record/app/{app_id}", params=params)
            if response.status_code == 429:
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            page = response.json()
            for record in page["records"]:
                emit("tape_records", record)
            cursor = page.get("cursor")
            if not page["records"] or not cursor:
                break


def main() -> None:
    spec = json.loads(sys.argv[1])
    vendor = spec["vendor"]
    if vendor == "zuora":
        zuora(spec["section"], spec["section"]["objects"])
    elif vendor == "veeva":
        veeva(spec["section"], spec.get("file_transfer", False))
    elif vendor == "batch":
        batch(spec["section"], spec["attributes"], spec["identifiers"])
    elif vendor == "tape":
        tape(spec["section"])
    OUT.flush()


if __name__ == "__main__":
    main()
