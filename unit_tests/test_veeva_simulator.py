"""The Veeva Vault simulator over real HTTP: the surface the connector is written against.

Each test starts a simulator on a loopback port and talks to it with `requests`, asserting against
the simulator's own truth helpers. Time-based behaviour (sessions, bursts, jobs) runs on scaled
clocks of a fraction of a second.
"""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import requests

from source_vault_exports.simulators.http import LoopbackServer
from source_vault_exports.simulators.veeva import VaultOptions, VaultSimulator

VERSION = "v25.3"
# Jobs finish almost at once and may be polled freely unless a test says otherwise.
FAST = {"job_queued_seconds": 0.02, "job_running_seconds": 0.02, "job_poll_min_seconds": 0.0, "part_size_bytes": 8192}


class QuickServer(LoopbackServer):
    """Test-speed tweaks of `LoopbackServer`, which would cost seconds over this module.

    `serve_forever` polls for shutdown every 0.5 s by default, and headers and body leave in two
    writes, so Nagle's algorithm meets the client's delayed ACK (about 40 ms per response).
    """

    def serve_forever(self, poll_interval: float = 0.01) -> None:
        super().serve_forever(poll_interval)

    def get_request(self) -> tuple:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class Vault:
    """A thin client: logs in once and sends the session id on every call."""

    def __init__(self, sim: VaultSimulator, url: str) -> None:
        self.sim, self.url = sim, url
        self.http = requests.Session()
        self.session_id: Optional[str] = None

    def login(self, password: Optional[str] = None, version: str = VERSION) -> Dict[str, Any]:
        form = {"username": self.sim.options.username, "password": self.sim.options.password if password is None else password}
        body = self.http.post(f"{self.url}/api/{version}/auth", data=form).json()
        self.session_id = body.get("sessionId")
        return body

    def call(self, method: str, path: str, authorization: Optional[str] = None, **kwargs: Any) -> requests.Response:
        if self.session_id is None:
            self.login()
        url = f"{self.url}{path}" if path.startswith("/api/") else f"{self.url}/api/{VERSION}{path}"
        headers = {"Authorization": authorization or self.session_id, **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Dict[str, Any]:
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def query(self, vql: str) -> List[Dict[str, Any]]:
        """Every row of a VQL query, following next_page until it is absent (vendor-apis.md 1.3)."""
        page = self.json("POST", "/query", data={"q": vql})
        rows = list(page["data"])
        while "next_page" in page["responseDetails"]:
            page = self.json("POST", page["responseDetails"]["next_page"])
            assert page["responseStatus"] == "SUCCESS", page
            rows += page["data"]
        return rows

    def export(self, object_name: str, ids: List[str], **params: str) -> Dict[str, Any]:
        return self.json("POST", f"/vobjects/{object_name}/attachment_fields/actions/export", json=[{"id": i} for i in ids], params=params)

    def wait_for_job(self, job_id: int) -> Dict[str, Any]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            body = self.json("GET", f"/services/jobs/{job_id}")
            if body["data"]["status"] not in ("QUEUED", "RUNNING"):
                return body
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish")

    def export_archive(self, object_name: str, job_id: int) -> tuple:
        results = self.json("GET", f"/vobjects/{object_name}/attachment_fields/actions/export/{job_id}/results")["data"]
        parts = sorted(results["filepart_details"], key=lambda part: part["filepart"])
        blobs = [self.call("GET", part["url"]).content for part in parts]
        return results, blobs


@pytest.fixture
def start() -> Iterator[Callable[..., Vault]]:
    servers: List[QuickServer] = []

    def run(documents: int = 12, objects: Optional[Dict[str, int]] = None, dataset: Optional[Dict[str, Any]] = None, **options: Any) -> Vault:
        sim = VaultSimulator(VaultOptions(**{**FAST, **options}), documents=documents, objects=objects or {"product__v": 30, "site__c": 10}, **(dataset or {}))
        server = QuickServer(sim).start()
        servers.append(server)
        return Vault(sim, server.url)

    yield run
    for server in servers:
        server.stop()


def failure_type(body: Dict[str, Any]) -> str:
    assert body["responseStatus"] == "FAILURE", body
    return body["errors"][0]["type"]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def record_ids(vault: Vault, object_name: str) -> List[str]:
    return [row["id"] for row in vault.sim.records(object_name)]


# -- auth and sessions ----------------------------------------------------------------------


def test_login_returns_a_session_for_this_vault_usable_bare_or_as_bearer(start):
    vault = start()
    body = vault.login(version="v24.1")  # the auth call's version need not match later calls
    assert body["responseStatus"] == "SUCCESS"
    assert body["userId"] == vault.sim.options.user_id and body["vaultId"] == vault.sim.options.vault_id
    assert body["vaultIds"] == [{"id": vault.sim.options.vault_id, "name": vault.sim.options.vault_name, "url": f"{vault.url}/api"}]
    for authorization in (body["sessionId"], f"Bearer {body['sessionId']}"):
        assert vault.json("POST", "/keep-alive", authorization=authorization)["responseStatus"] == "SUCCESS"


def test_a_wrong_password_fails_inside_http_200(start):
    vault = start()
    body = vault.login(password="nope")
    assert failure_type(body) == "USERNAME_OR_PASSWORD_INCORRECT"
    assert body["errorType"] == "AUTHENTICATION_FAILED" and "sessionId" not in body


def test_wrong_vault_mode_issues_a_session_for_another_vault(start):
    vault = start(wrong_vault=True)
    body = vault.login()
    assert body["responseStatus"] == "SUCCESS"
    assert body["vaultId"] != vault.sim.options.vault_id
    assert all(not entry["url"].startswith(vault.url) for entry in body["vaultIds"])


def test_logins_past_the_auth_burst_fail_with_api_limit_exceeded(start):
    vault = start(auth_burst_per_minute=3)
    assert [vault.login()["responseStatus"] for _ in range(3)] == ["SUCCESS"] * 3
    assert failure_type(vault.login()) == "API_LIMIT_EXCEEDED"


def test_an_idle_session_expires_but_keep_alive_holds_it_open(start):
    vault = start(session_idle_seconds=0.3)
    vault.login()
    for _ in range(3):  # 0.45 s in all, never 0.3 s idle
        time.sleep(0.15)
        assert vault.json("POST", "/keep-alive")["responseStatus"] == "SUCCESS"
    time.sleep(0.4)
    response = vault.call("POST", "/query", data={"q": "SELECT id FROM documents"})
    assert response.status_code == 200
    assert failure_type(response.json()) == "INVALID_SESSION_ID"


def test_sessions_end_at_the_hard_maximum_and_on_expire_sessions(start):
    vault = start(session_max_seconds=0.3)
    vault.login()
    for _ in range(4):
        time.sleep(0.1)
        vault.call("POST", "/keep-alive")
    assert failure_type(vault.json("POST", "/keep-alive")) == "INVALID_SESSION_ID"
    vault.login()
    vault.sim.expire_sessions()
    assert failure_type(vault.json("GET", "/objects/documents/101/attachments")) == "INVALID_SESSION_ID"


def test_burst_headers_count_down_and_calls_past_the_limit_are_delayed_not_rejected(start):
    vault = start(burst_limit=4, burst_window_seconds=60, over_limit_delay_seconds=0.1)
    vault.login()  # call 1
    remaining = [vault.call("POST", "/keep-alive").headers["X-VaultAPI-BurstLimitRemaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    began = time.monotonic()
    delayed = vault.call("POST", "/keep-alive")
    assert time.monotonic() - began >= 0.1
    assert delayed.status_code == 200 and delayed.json()["responseStatus"] == "SUCCESS"
    assert delayed.headers["X-VaultAPI-BurstLimit"] == "4"
    assert delayed.headers["X-VaultAPI-ResponseDelay"] == "100"
    assert vault.sim.delayed_calls == 1


# -- VQL ------------------------------------------------------------------------------------


def test_vql_follows_next_page_to_the_end_in_modified_order(start):
    vault = start(documents=25)
    first = vault.json("POST", "/query", data={"q": "SELECT id, version_modified_date__v FROM documents ORDER BY version_modified_date__v ASC PAGESIZE 10"})
    details = first["responseDetails"]
    assert (details["pagesize"], details["pageoffset"], details["size"], details["total"]) == (10, 0, 10, 25)
    assert details["next_page"].startswith(f"/api/{VERSION}/query/") and details["next_page"].endswith("pagesize=10&pageoffset=10")
    rows = vault.query("SELECT id, version_modified_date__v FROM documents ORDER BY version_modified_date__v ASC PAGESIZE 10")
    truth = [{"id": doc["id"], "version_modified_date__v": doc["version_modified_date__v"]} for doc in vault.sim.documents()]
    assert rows == truth
    assert vault.sim.calls["query_page"] == 2


def test_shrunk_pages_are_smaller_than_asked_yet_cover_every_row_once(start):
    vault = start(objects={"product__v": 120}, shrink_pages=True)
    sizes = []
    page = vault.json("POST", "/query", data={"q": "SELECT id, modified_date__v FROM product__v ORDER BY modified_date__v ASC PAGESIZE 20"})
    rows = list(page["data"])
    sizes.append(page["responseDetails"]["size"])
    while "next_page" in page["responseDetails"]:
        page = vault.json("POST", page["responseDetails"]["next_page"])
        rows += page["data"]
        sizes.append(page["responseDetails"]["size"])
    assert [row["id"] for row in rows] == record_ids(vault, "product__v")
    assert any(size < 20 for size in sizes[:-1]), sizes  # short pages while more remained


def test_where_filters_records_by_modified_date_and_a_new_file_moves_its_record_last(start):
    vault = start(objects={"product__v": 40})
    records = vault.sim.records("product__v")
    since = records[30]["modified_date__v"]
    vql = f"SELECT id, modified_date__v FROM product__v WHERE modified_date__v >= '{since}' ORDER BY modified_date__v ASC"
    assert [row["id"] for row in vault.query(vql)] == [r["id"] for r in records[30:]]
    vault.sim.add_field_file("product__v", records[3]["id"], "label_scan__c", "new scan.pdf")
    rows = vault.query(vql)
    assert [row["id"] for row in rows] == [r["id"] for r in records[30:]] + [records[3]["id"]]
    assert rows[-1]["modified_date__v"] > records[-1]["modified_date__v"]


def test_bad_vql_unknown_objects_and_expired_links_fail_with_a_type(start):
    vault = start(page_link_ttl_seconds=0.2)
    assert failure_type(vault.json("POST", "/query", data={"q": "SELEC id FROM documents"})) == "INCORRECT_QUERY_SYNTAX_ERROR"
    assert failure_type(vault.json("POST", "/query", data={"q": "SELECT nope__v FROM documents"})) == "INCORRECT_QUERY_SYNTAX_ERROR"
    unknown = vault.json("POST", "/query", data={"q": "SELECT id FROM ghost__c"})
    assert failure_type(unknown) == "INVALID_DATA" and "ghost__c" in unknown["errors"][0]["message"]
    page = vault.json("POST", "/query", data={"q": "SELECT id FROM documents PAGESIZE 5"})
    time.sleep(0.3)
    assert failure_type(vault.json("POST", page["responseDetails"]["next_page"])) == "INVALID_DATA"


# -- document attachments -------------------------------------------------------------------


def test_document_attachments_match_the_truth_with_absolute_foreign_version_urls(start):
    vault = start()
    truth = vault.sim.document_attachments()
    assert truth, "the dataset should hold attachments"
    listed = []
    for doc_id in sorted({doc for doc, _ in truth}):
        body = vault.json("GET", f"/objects/documents/{doc_id}/attachments")
        listed += [(doc_id, attachment) for attachment in body["data"]]
    assert listed == truth
    some = [attachment for _, attachment in truth]
    assert all(None not in attachment.values() for attachment in some)  # optional keys omitted, never null
    assert any("external_id__v" in a for a in some) and any("external_id__v" not in a for a in some)
    assert any(len(a["versions"]) > 1 for a in some)
    url = some[0]["versions"][0]["url"]
    assert url.startswith("https://myvault.veevavault.com/api/v15.0/objects/documents/")  # rebuild from ids


def test_every_attachment_version_downloads_with_its_md5_and_file_name(start):
    vault = start()
    for doc_id, attachment in vault.sim.document_attachments()[:6]:
        base = f"/objects/documents/{doc_id}/attachments/{attachment['id']}"
        latest = vault.call("GET", f"{base}/file")
        assert md5(latest.content) == attachment["md5checksum__v"] and len(latest.content) == attachment["size__v"]
        assert latest.headers["Content-Type"] == attachment["format__v"]
        assert latest.headers["Content-Length"] == str(attachment["size__v"])
        assert latest.headers["Content-Disposition"].startswith("attachment;filename=")
        for version in attachment["versions"]:
            number = version["version__v"]
            content = vault.call("GET", f"{base}/versions/{number}/file").content
            assert content == vault.sim.file_bytes(doc_id=doc_id, attachment_id=attachment["id"], version=number)
    assert vault.sim.calls["attachment_file"] >= 12


def test_large_attachments_come_chunked_without_a_length(start):
    vault = start(content_length_max_bytes=50_000)
    added = vault.sim.add_attachment(101, "Großer Scan 東京.pdf", size=200_000)
    response = vault.call("GET", f"/objects/documents/101/attachments/{added['id']}/file")
    assert "Content-Length" not in response.headers and response.headers["Transfer-Encoding"] == "chunked"
    assert md5(response.content) == added["md5checksum__v"] and len(response.content) == 200_000
    assert "filename*=UTF-8''Gro%C3%9Fer%20Scan%20" in response.headers["Content-Disposition"]


def test_md5_mismatch_and_json_envelope_instead_of_bytes_modes(start):
    vault = start()
    doc_id, attachment = vault.sim.document_attachments()[0]
    vault.sim.options.md5_mismatch_attachment_ids.add(attachment["id"])
    path = f"/objects/documents/{doc_id}/attachments/{attachment['id']}/file"
    served = vault.call("GET", path).content
    assert len(served) == attachment["size__v"] and md5(served) != attachment["md5checksum__v"]
    vault.sim.fail_next_download("attachment_file", error_type="UNEXPECTED_ERROR")
    envelope = vault.call("GET", path)
    assert envelope.status_code == 200 and envelope.headers["Content-Type"] == "application/json"
    assert failure_type(envelope.json()) == "UNEXPECTED_ERROR"


def test_new_attachments_and_versions_leave_the_document_modified_date_alone(start):
    vault = start()
    before = vault.query("SELECT id, version_modified_date__v FROM documents")
    added = vault.sim.add_attachment(102)
    bumped = vault.sim.add_attachment_version(102, added["id"])
    assert bumped["version__v"] == 2 and bumped["md5checksum__v"] != added["md5checksum__v"]
    assert vault.query("SELECT id, version_modified_date__v FROM documents") == before  # trap 1.8.7
    listed = vault.json("GET", "/objects/documents/102/attachments")["data"]
    assert listed[-1] == bumped


# -- attachment-field export ----------------------------------------------------------------


def test_export_create_reports_success_warning_and_failure_per_record(start):
    vault = start()
    truth = vault.sim.field_files("product__v")
    with_files = sorted({f["record_id"] for f in truth})
    without = [i for i in record_ids(vault, "product__v") if i not in with_files]
    body = vault.export("product__v", [with_files[0], without[0], "00P999999999999"])
    assert body["responseStatus"] == "SUCCESS" and isinstance(body["data"]["job_id"], int)
    success, warning, failed = body["data"]["records"]
    assert success == {"responseStatus": "SUCCESS", "data": {"id": with_files[0], "id_param_value": with_files[0]}}
    assert warning == {
        "responseStatus": "WARNING",
        "warnings": [{"warning_type": "INVALID_DATA", "message": f"No attachment field values found for resource [{without[0]}]"}],
    }
    assert failed["responseStatus"] == "FAILURE" and failed["errors"][0]["type"] == "INVALID_DATA"


def test_export_of_records_without_files_creates_no_job(start):
    vault = start()
    with_files = {f["record_id"] for f in vault.sim.field_files("product__v")}
    without = [i for i in record_ids(vault, "product__v") if i not in with_files][:2]
    body = vault.export("product__v", without)
    assert body["responseStatus"] == "SUCCESS" and "job_id" not in body["data"]
    assert [record["responseStatus"] for record in body["data"]["records"]] == ["WARNING", "WARNING"]
    assert vault.sim.jobs == {}


def test_export_refuses_more_than_500_records_and_accepts_external_ids(start):
    vault = start(objects={"product__v": 600})
    assert failure_type(vault.export("product__v", record_ids(vault, "product__v")[:501])) == "INVALID_DATA"
    truth = vault.sim.field_files("product__v")
    record = next(r for r in vault.sim.records("product__v") if r["id"] == truth[0]["record_id"])
    body = vault.json(
        "POST",
        "/vobjects/product__v/attachment_fields/actions/export",
        params={"idParam": "external_id__v", "field_names": truth[0]["field_name"]},
        json=[{"external_id__v": record["external_id__v"]}],
    )
    assert body["data"]["records"][0]["data"] == {"id": record["id"], "id_param_value": record["external_id__v"]}


def test_jobs_advance_queued_running_success_and_fast_polls_are_refused(start):
    vault = start(job_queued_seconds=0.3, job_running_seconds=0.6, job_poll_min_seconds=0.2)
    job_id = vault.export("product__v", record_ids(vault, "product__v"))["data"]["job_id"]
    first = vault.json("GET", f"/services/jobs/{job_id}")["data"]
    assert first["status"] == "QUEUED" and first["id"] == job_id and first["method"] == "POST" and "run_start_date" not in first
    assert failure_type(vault.json("GET", f"/services/jobs/{job_id}")) == "API_LIMIT_EXCEEDED"
    time.sleep(0.45)
    running = vault.json("GET", f"/services/jobs/{job_id}")["data"]
    assert running["status"] == "RUNNING" and "run_end_date" not in running
    early = vault.json("GET", f"/vobjects/product__v/attachment_fields/actions/export/{job_id}/results")
    assert failure_type(early) == "OPERATION_NOT_ALLOWED"
    time.sleep(0.6)
    done = vault.json("GET", f"/services/jobs/{job_id}")["data"]
    assert done["status"] == "SUCCESS"
    assert done["created_date"] <= done["run_start_date"] <= done["run_end_date"] and done["run_end_date"].endswith("Z")


@pytest.mark.parametrize("status", ["ERRORS_ENCOUNTERED", "CANCELLED", "TIMEOUT"])
def test_fail_next_job_ends_the_next_job_in_that_status_without_results(start, status):
    vault = start()
    vault.sim.fail_next_job(status, message="Export failed: disk full")
    job_id = vault.export("product__v", record_ids(vault, "product__v"))["data"]["job_id"]
    finished = vault.wait_for_job(job_id)
    assert finished["data"]["status"] == status and finished["responseMessage"] == "Export failed: disk full"
    assert failure_type(vault.json("GET", f"/vobjects/product__v/attachment_fields/actions/export/{job_id}/results")) == "OPERATION_NOT_ALLOWED"
    next_job = vault.export("product__v", record_ids(vault, "product__v"))["data"]["job_id"]
    assert vault.wait_for_job(next_job)["data"]["status"] == "SUCCESS"


def test_export_parts_concatenate_into_one_tar_gz_whose_members_are_the_field_files(start):
    vault = start(part_size_bytes=4096)
    vault.sim.add_field_file("product__v", record_ids(vault, "product__v")[0], "attachment__c", "Ünïcode name with spaces.pdf")
    job_id = vault.export("product__v", record_ids(vault, "product__v"))["data"]["job_id"]
    vault.wait_for_job(job_id)
    results, blobs = vault.export_archive("product__v", job_id)
    name = f"{vault.sim.options.user_id}-{job_id}-product__v"
    assert (results["name"], results["filename"]) == (name, f"{name}.tar.gz")
    assert results["fileparts"] == len(blobs) > 2 and results["size"] == sum(map(len, blobs))
    assert [part["size"] for part in results["filepart_details"]] == [len(blob) for blob in blobs]
    assert results["filepart_details"][1]["filename"] == f"{name}.tar.gz.002"
    assert results["filepart_details"][1]["url"] == f"/api/{VERSION}/vobjects/product__v/attachment_fields/files/{name}.002"
    with pytest.raises(tarfile.ReadError):  # parts are byte splits: only the concatenation is an archive
        tarfile.open(fileobj=io.BytesIO(blobs[1]), mode="r:gz").getmembers()
    with tarfile.open(fileobj=io.BytesIO(b"".join(blobs)), mode="r:gz") as archive:
        found = {member.name: md5(archive.extractfile(member).read()) for member in archive.getmembers()}
    expected = {f"{f['record_id']}/{f['field_name']}/{f['file_name']}": f["md5"] for f in vault.sim.field_files("product__v")}
    assert found == expected
    assert any(" " in key and not key.isascii() for key in found)


def test_archives_too_big_to_cache_are_regenerated_byte_for_byte(start):
    vault = start(part_size_bytes=5000, archive_cache_max_bytes=0, content_length_max_bytes=1000)
    job_id = vault.export("product__v", record_ids(vault, "product__v"))["data"]["job_id"]
    vault.wait_for_job(job_id)
    job = vault.sim.jobs[job_id]
    results, blobs = vault.export_archive("product__v", job_id)
    assert job.cached is None
    part = vault.call("GET", results["filepart_details"][0]["url"])
    assert "Content-Length" not in part.headers  # large parts are streamed chunked
    # Parts in order continue a parked stream; out of order they are cut from a fresh one: same bytes.
    assert vault.call("GET", results["filepart_details"][2]["url"]).content == blobs[2]
    assert vault.call("GET", results["filepart_details"][1]["url"]).content == blobs[1]
    # Another job over the same records builds the same bytes (deterministic gzip and tar).
    again = vault.export("product__v", record_ids(vault, "product__v"))["data"]["job_id"]
    vault.wait_for_job(again)
    assert b"".join(vault.export_archive("product__v", again)[1]) == b"".join(blobs)


def test_hostile_members_mode_adds_escaping_paths_and_links(start):
    vault = start(hostile_members=True)
    job_id = vault.export("product__v", record_ids(vault, "product__v"))["data"]["job_id"]
    vault.wait_for_job(job_id)
    _, blobs = vault.export_archive("product__v", job_id)
    with tarfile.open(fileobj=io.BytesIO(b"".join(blobs)), mode="r:gz") as archive:  # read only, never extracted
        members = archive.getmembers()
    names = [member.name for member in members]
    assert any(name.startswith("../") for name in names) and any(name.startswith("/") for name in names)
    assert any(member.issym() for member in members) and any(member.islnk() for member in members)
    regular = {m.name for m in members if m.isfile() and not m.name.startswith(("/", "..")) and ".." not in m.name.split("/")}
    assert regular == {f"{f['record_id']}/{f['field_name']}/{f['file_name']}" for f in vault.sim.field_files("product__v")}


def test_one_field_file_downloads_as_a_fallback(start):
    vault = start()
    truth = vault.sim.field_files("site__c")[0]
    response = vault.call("GET", f"/vobjects/site__c/{truth['record_id']}/attachment_fields/{truth['field_name']}/file")
    assert md5(response.content) == truth["md5"]
    assert response.content == vault.sim.file_bytes("site__c", truth["record_id"], truth["field_name"], truth["file_name"])


def test_wrong_methods_unknown_paths_and_infrastructure_faults(start):
    vault = start()
    job_id = vault.export("product__v", record_ids(vault, "product__v"))["data"]["job_id"]
    vault.wait_for_job(job_id)
    # The docs' sample uses POST for results (vendor-apis.md 1.2 doc bug): Vault answers in its envelope.
    wrong = vault.json("POST", f"/vobjects/product__v/attachment_fields/actions/export/{job_id}/results")
    assert failure_type(wrong) == "METHOD_NOT_SUPPORTED"
    assert failure_type(vault.json("GET", "/nothing/here")) == "MALFORMED_URL"
    first_part = vault.json("GET", f"/vobjects/product__v/attachment_fields/actions/export/{job_id}/results")["data"]["filepart_details"][0]["url"]
    vault.sim.fail_next_download("export_part")  # a JSON envelope where bytes were expected (1.8.2)
    refused = vault.call("GET", first_part)
    assert refused.status_code == 200 and refused.headers["Content-Type"] == "application/json"
    assert failure_type(refused.json()) == "UNEXPECTED_ERROR"
    assert vault.call("GET", first_part).headers["Content-Type"] == "application/octet-stream"
    vault.sim.faults.add("export_results", "status", status=503)
    assert vault.call("GET", f"/vobjects/product__v/attachment_fields/actions/export/{job_id}/results").status_code == 503


def test_connector_config_names_every_object_and_attachment_field(start):
    vault = start()
    config = vault.sim.connector_config(vault.url, api_version="v24.1")
    assert config["vault_url"] == vault.url and config["api_version"] == "v24.1" and config["document_attachments"] is True
    assert config["attachment_field_objects"] == [
        {"object_name": "product__v", "field_names": ["attachment__c", "label_scan__c"]},
        {"object_name": "site__c", "field_names": ["attachment__c"]},
    ]
    assert (config["username"], config["password"]) == (vault.sim.options.username, vault.sim.options.password)
