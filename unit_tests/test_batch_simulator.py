"""The Batch simulator over real HTTP: auth, create validation, lifecycle, files, storage links, list."""

from __future__ import annotations

import gzip
import json
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

import pytest
import requests

from source_vault_exports.simulators.batch import BatchOptions, BatchSimulator
from source_vault_exports.simulators.batch.dataset import NATIVE_ATTRIBUTES
from source_vault_exports.simulators.http import LoopbackServer

FAST = {"created_seconds": 0.01, "pending_seconds": 0.01, "running_seconds": 0.02}


class Harness:
    """A started simulator (API + storage) and a client holding Batch's two auth headers."""

    def __init__(self, sim: BatchSimulator, api: LoopbackServer, storage: LoopbackServer) -> None:
        self.sim, self.storage_url = sim, storage.url
        self.base = f"{api.url}/{sim.options.version}"
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {sim.options.rest_api_key}", "X-Batch-Project": sim.options.project_key})

    def create(self, body: Dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.base}/profiles/export", json=body)

    def view(self, export_id: str) -> requests.Response:
        return self.session.get(f"{self.base}/exports/view", params={"id": export_id})

    def wait(self, export_id: str, timeout: float = 5.0) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view = self.view(export_id).json()
            if view["status"] in ("SUCCESS", "ERROR") or time.monotonic() > deadline:
                return view
            time.sleep(0.01)

    def export(self, body: Dict[str, Any]) -> Dict[str, Any]:
        created = self.create(body)
        assert created.status_code == 202, created.text
        return self.wait(created.json()["id"])

    def location(self, file_id: str) -> str:
        answer = self.session.get(f"{self.base}/exports/download", params={"id": file_id}, allow_redirects=False)
        assert answer.status_code == 307, answer.text
        return answer.headers["Location"]

    def part_bytes(self, file_id: str) -> bytes:
        answer = requests.get(self.location(file_id))  # no credentials to storage (vendor-apis.md 2.7.3)
        assert answer.status_code == 200, answer.text
        return answer.content

    def list_pages(self, limit: int) -> List[Dict[str, Any]]:
        pages, cursor = [], None
        while True:
            params = {"limit": limit, **({"from": cursor} if cursor else {})}
            page = self.session.get(f"{self.base}/exports/list", params=params).json()
            pages.append(page)
            if not page["has_more"]:
                return pages
            cursor = page["next_from"]


@pytest.fixture
def batch():
    with ExitStack() as stack:

        def start(options: Optional[BatchOptions] = None, **kwargs: Any) -> Harness:
            sim = BatchSimulator(options or BatchOptions(**FAST), **kwargs)
            api = stack.enter_context(LoopbackServer(sim))
            storage = stack.enter_context(LoopbackServer(sim.storage))
            sim.set_storage_url(storage.url)
            return Harness(sim, api, storage)

        yield start


def decode(content: bytes, file_format: str, gzipped: bool) -> List[Dict[str, Any]]:
    if gzipped:
        assert content[:2] == b"\x1f\x8b"
        content = gzip.decompress(content)
    if file_format == "ndjson":
        return [json.loads(line) for line in content.decode("utf-8").splitlines()]
    return json.loads(content.decode("utf-8"))


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def rfc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


ATTRIBUTES = {"export_type": "ATTRIBUTES", "attributes": ["$email_address", "$language", "plan", "lifetime_value", "interests"], "identifiers": ["custom_id", "installation_ids"]}


# -- auth ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-Batch-Project": "other"}, {"Authorization": "Bearer {key}"}, {"Authorization": "{key}", "X-Batch-Project": "{project}"}],
    ids=["none", "wrong-key", "wrong-project", "key-without-project", "key-without-bearer"],
)
def test_every_endpoint_answers_401_without_the_bearer_key_and_project_header(batch, headers):
    h = batch()
    o = h.sim.options
    sent = {name: value.format(key=o.rest_api_key, project=o.project_key) for name, value in headers.items()}
    calls = [
        requests.post(f"{h.base}/profiles/export", json=ATTRIBUTES, headers=sent),
        requests.get(f"{h.base}/exports/view", params={"id": "export_x"}, headers=sent),
        requests.get(f"{h.base}/exports/list", headers=sent),
        requests.get(f"{h.base}/exports/download", params={"id": "file_x"}, headers=sent, allow_redirects=False),
    ]
    for answer in calls:
        assert answer.status_code == 401
        assert answer.json()["error_code"] == "AUTHENTICATION_INVALID" and answer.json()["error_message"]
    assert h.sim.calls["export_create"] == 1 and len(h.sim.exports) == 25  # nothing was created


# -- create validation -----------------------------------------------------------------------
def test_create_answers_202_with_an_export_id(batch):
    answer = batch().create(ATTRIBUTES)
    assert answer.status_code == 202
    export_id = answer.json()["id"]
    assert export_id.startswith("export_") and len(export_id) == 39 and export_id[7:].isalnum() and export_id[7:].islower()


@pytest.mark.parametrize(
    "body, words",
    [
        ({"export_type": "ATTRIBUTES", "identifiers": ["installation_id"]}, ["installation_id", "installation_ids"]),
        ({"export_type": "EVENTS", "from": "{start}", "to": "{end}", "events": ["push_open"], "identifiers": ["installation_ids"]}, ["installation_ids"]),
        ({"export_type": "EVENTS", "from": "{old}", "to": "{end}", "events": ["email_open"]}, ["lookback", "30 days"]),
        ({"export_type": "EVENTS", "from": "{start}", "to": "{future}", "events": ["email_open"]}, ["future"]),
        ({"export_type": "EVENTS", "from": "{end}", "to": "{start}", "events": ["email_open"]}, ["before"]),
        ({"export_type": "EVENTS", "from": "{start}", "to": "{end}", "events": ["email_opened"]}, ["email_opened"]),
        ({"export_type": "EVENTS", "from": "2024-01-01 00:00", "to": "now", "events": ["email_open"]}, ["from"]),
        ({"export_type": "ATTRIBUTES"}, ["at least one"]),
        ({"export_type": "ATTRIBUTES", "attributes": ["$city"], "from": "{start}"}, ["from"]),
        ({"export_type": "PROFILES", "attributes": ["$city"]}, ["export_type"]),
    ],
    ids=["attributes-singular-id", "events-plural-id", "beyond-lookback", "future-to", "from-after-to", "unknown-event", "not-rfc3339", "nothing-asked", "foreign-field", "bad-type"],
)
def test_create_rejects_bad_bodies_with_a_400_naming_the_problem(batch, body, words):
    now = datetime.now(timezone.utc)
    times = {"start": rfc(now - timedelta(days=2)), "end": rfc(now - timedelta(days=1)), "old": rfc(now - timedelta(days=31)), "future": rfc(now + timedelta(minutes=5))}
    sent = {key: value.format(**times) if isinstance(value, str) else value for key, value in body.items()}
    answer = batch().create(sent)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] and all(word in answer.json()["error_message"] for word in words), answer.json()


def test_create_accepts_to_now_and_a_from_just_inside_the_lookback(batch):
    h = batch(BatchOptions(lookback_days=2, **FAST))
    now = datetime.now(timezone.utc)
    answer = h.create({"export_type": "EVENTS", "from": rfc(now - timedelta(days=2) + timedelta(minutes=1)), "to": "now", "events": ["email_open"]})
    assert answer.status_code == 202
    assert h.wait(answer.json()["id"])["request"]["to"] == "now"  # the request is echoed as sent
    assert h.create({"export_type": "ATTRIBUTES", "x": 1}).status_code == 400
    assert h.session.post(f"{h.base}/profiles/export", data=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400


# -- lifecycle -------------------------------------------------------------------------------
def test_status_moves_created_pending_running_success_and_dates_appear_on_the_way(batch):
    h = batch(BatchOptions(created_seconds=0.15, pending_seconds=0.15, running_seconds=0.15))
    export_id = h.create(ATTRIBUTES).json()["id"]
    seen: List[Dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        view = h.view(export_id).json()
        if not seen or seen[-1]["status"] != view["status"]:
            seen.append(view)
        if view["status"] == "SUCCESS":
            break
        time.sleep(0.02)
    assert [view["status"] for view in seen] == ["CREATED", "PENDING", "RUNNING", "SUCCESS"]
    created, pending, running, success = seen
    assert "start_date" not in created and "start_date" not in pending and "completion_date" not in running
    assert running["start_date"] and success["completion_date"] >= success["start_date"] >= success["request_date"]
    assert [view["files"] for view in seen[:3]] == [[], [], []] and success["files"]
    assert success["scope"] == "PROFILE_ATTRIBUTES" and success["request"] == ATTRIBUTES
    assert success["request_date"].endswith("Z") and len(success["request_date"]) == 20  # no fraction (seed 002)


def test_fail_next_export_ends_the_next_export_in_error_with_its_reason(batch):
    h = batch()
    h.sim.fail_next_export("Segment computation failed")
    failed = h.export(ATTRIBUTES)
    assert failed["status"] == "ERROR" and failed["error_message"] == "Segment computation failed"
    assert failed["files"] == [] and failed["completion_date"]
    assert h.export(ATTRIBUTES)["status"] == "SUCCESS"  # only the next one


def test_the_error_reason_can_be_left_out_of_the_view(batch):
    h = batch(BatchOptions(error_reason_in_view=False, **FAST))
    h.sim.fail_next_export("boom")
    view = h.export(ATTRIBUTES)
    assert view["status"] == "ERROR" and "error_message" not in view


def test_unknown_exports_are_404_and_requested_at_reproduces_the_doc_bug(batch):
    h = batch(BatchOptions(date_field_name="requested_at", **FAST))
    assert h.view("export_nope").status_code == 404 and h.view("export_nope").json()["error_code"] == "NOT_FOUND"
    view = h.export(ATTRIBUTES)
    assert "requested_at" in view and "request_date" not in view


# -- files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("file_format", ["ndjson", "json_array"])
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_attribute_export_parts_concatenate_to_the_profile_truth(batch, file_format, gzipped):
    h = batch(BatchOptions(part_size_bytes=4096, file_format=file_format, gzip=gzipped, **FAST), profiles=120)
    view = h.export(ATTRIBUTES)
    assert [f["part"] for f in view["files"]] == list(range(1, len(view["files"]) + 1)) and len(view["files"]) > 3
    rows = []
    for described in view["files"]:
        content = h.part_bytes(described["id"])
        assert described["size"] == len(content)
        plain = gzip.decompress(content) if gzipped else content
        assert len(plain) <= 4096  # parts stay under the limit, never splitting a record
        rows.extend(decode(content, file_format, gzipped))
    assert rows == h.sim.profile_rows(ATTRIBUTES["attributes"], ATTRIBUTES["identifiers"])
    assert any("custom_id" not in row["identifiers"] for row in rows)  # installation-only profiles
    assert {type(row["attributes"].get("lifetime_value")) for row in rows} == {float}


def test_attributes_default_to_every_native_one(batch):
    h = batch(BatchOptions(part_size_bytes=10**6, **FAST), profiles=30)
    view = h.export({"export_type": "ATTRIBUTES", "identifiers": ["custom_id"]})
    rows = decode(h.part_bytes(view["files"][0]["id"]), "ndjson", False)
    assert rows == h.sim.profile_rows(identifiers=["custom_id"])
    assert set().union(*(row["attributes"] for row in rows)) == set(NATIVE_ATTRIBUTES)
    assert all(set(row["identifiers"]) <= {"custom_id"} for row in rows)


def test_event_export_holds_exactly_the_window_including_added_events(batch):
    h = batch(BatchOptions(part_size_bytes=2048, **FAST), profiles=50, events_per_hour=4)
    end = hour_floor(datetime.now(timezone.utc)) - timedelta(hours=1)
    start = end - timedelta(hours=20, minutes=30)
    inside = h.sim.add_events(6, at=start + timedelta(minutes=10))
    outside = h.sim.add_events(2, at=end)  # `to` is exclusive
    kinds = ["email_open", "email_sent", "push_sent", "push_open", "sms_delivered"]
    body = {"export_type": "EVENTS", "from": rfc(start), "to": rfc(end), "events": kinds, "identifiers": ["installation_id", "custom_id"]}
    view = h.export(body)
    assert view["scope"] == "PROFILE_EVENTS" and len(view["files"]) > 1
    rows = [row for f in view["files"] for row in decode(h.part_bytes(f["id"]), "ndjson", False)]
    assert rows == h.sim.event_rows(start, end, kinds, ["installation_id", "custom_id"])
    assert all(rfc(start) <= row["timestamp"] < rfc(end) and row["event"] in kinds for row in rows)
    exported = {row["message_id"] for row in rows}
    assert {row["message_id"] for row in inside if row["event"] in kinds} <= exported
    assert not exported & {row["message_id"] for row in outside}
    assert any("installation_id" in row["identifiers"] for row in rows)


def test_events_are_a_function_of_the_absolute_hour():
    a, b = BatchSimulator(events_per_hour=5), BatchSimulator(events_per_hour=5)
    t0 = datetime(2024, 3, 1, 10, 17, tzinfo=timezone.utc)
    t1, t2 = t0 + timedelta(hours=3, minutes=5), t0 + timedelta(hours=7)
    whole = a.event_rows(t0, t2)
    assert whole == b.event_rows(t0, t2) == a.event_rows(t0, t1) + a.event_rows(t1, t2)
    assert 30 <= len(whole) <= 36 and all(rfc(t0) <= row["timestamp"] < rfc(t2) for row in whole)


def test_empty_event_window_is_one_empty_part(batch):
    h = batch(events_per_hour=0)
    end = hour_floor(datetime.now(timezone.utc))
    view = h.export({"export_type": "EVENTS", "from": rfc(end - timedelta(hours=2)), "to": rfc(end), "events": ["email_open"]})
    assert [(f["part"], f["size"]) for f in view["files"]] == [(1, 0)] and h.part_bytes(view["files"][0]["id"]) == b""


def test_files_are_streamed_in_chunks_not_held_whole(batch):
    h = batch(BatchOptions(part_size_bytes=10**7, **FAST), profiles=600)
    view = h.export({"export_type": "ATTRIBUTES", "identifiers": ["custom_id", "installation_ids"]})
    size, chunks, _ = h.sim._resolve_file(view["files"][0]["id"])
    assert not isinstance(chunks, bytes)
    pieces = list(chunks)
    assert len(pieces) > 3 and sum(map(len, pieces)) == size == view["files"][0]["size"]


# -- downloads and storage -------------------------------------------------------------------
def test_download_is_a_307_to_another_host_that_refuses_batch_credentials(batch):
    h = batch()
    file_id = h.export(ATTRIBUTES)["files"][0]["id"]
    location = h.location(file_id)
    assert location.startswith(h.storage_url) and not location.startswith(h.base)
    for header in ({"Authorization": f"Bearer {h.sim.options.rest_api_key}"}, {"X-Batch-Project": h.sim.options.project_key}):
        refused = requests.get(location, headers=header)
        assert refused.status_code == 403 and b"<Code>AccessDenied</Code>" in refused.content
    # Following the redirect with the API session keeps X-Batch-Project (vendor-apis.md 2.7.3): refused.
    assert h.session.get(f"{h.base}/exports/download", params={"id": file_id}).status_code == 403
    assert requests.get(location).status_code == 200
    assert {name for headers in h.sim.storage.requests_to("storage_file") for name in headers} == {"authorization", "x-batch-project"}
    assert h.sim.storage.requests_to("storage_file")[-1] == {}


def test_storage_refuses_a_tampered_signature_and_unknown_files_are_404(batch):
    h = batch()
    file_id = h.export(ATTRIBUTES)["files"][0]["id"]
    tampered = h.location(file_id).replace("signature=", "signature=0")
    assert requests.get(tampered).status_code == 403 and b"SignatureDoesNotMatch" in requests.get(tampered).content
    assert h.session.get(f"{h.base}/exports/download", params={"id": "file_unknown"}, allow_redirects=False).status_code == 404


def test_files_url_names_another_api_version_that_the_connector_must_not_follow(batch):
    h = batch()
    described = h.export(ATTRIBUTES)["files"][0]
    assert f"/2.4/exports/download?id={described['id']}" in described["url"]
    assert h.session.get(described["url"], allow_redirects=False).status_code == 404


def test_links_expire_after_their_ttl_and_a_fresh_download_works(batch):
    h = batch(BatchOptions(link_ttl_seconds=0.4, **FAST))
    file_id = h.export(ATTRIBUTES)["files"][0]["id"]
    location = h.location(file_id)
    assert requests.get(location).status_code == 200
    time.sleep(0.5)
    expired = requests.get(location)
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    assert requests.get(h.location(file_id)).status_code == 200


def test_expire_links_kills_every_issued_link_but_not_later_ones(batch):
    h = batch()
    file_id = h.export(ATTRIBUTES)["files"][0]["id"]
    old = h.location(file_id)
    h.sim.expire_links()
    assert requests.get(old).status_code == 403
    assert requests.get(h.location(file_id)).status_code == 200


# -- list ------------------------------------------------------------------------------------
def test_list_pages_cover_every_retained_request_newest_first(batch):
    h = batch()
    created = [h.create(ATTRIBUTES).json()["id"] for _ in range(3)]
    pages = h.list_pages(limit=7)
    listed = [view for page in pages for view in page["exports"]]
    assert all(page["count"] == len(page["exports"]) <= 7 for page in pages) and len(pages) > 2
    assert [v["id"] for v in listed] == [v["id"] for v in h.sim.export_requests()] and len({v["id"] for v in listed}) == len(listed)
    assert set(created) <= {v["id"] for v in listed}
    # 25 deterministic past requests over 120 days: the 19 younger than 90 days remain listed.
    assert len(listed) == 19 + 3 and len(h.sim.exports) == 25 + 3
    oldest_allowed = rfc(datetime.now(timezone.utc) - timedelta(days=90))
    assert all(v["request_date"] >= oldest_allowed for v in listed)
    assert [v["request_date"] for v in listed] == sorted((v["request_date"] for v in listed), reverse=True)
    assert {v["scope"] for v in listed} == {"PROFILE_ATTRIBUTES", "PROFILE_EVENTS"} and {v["status"] for v in listed} >= {"SUCCESS", "ERROR"}
    forgotten = next(e for e in h.sim.exports.values() if e.id not in {v["id"] for v in listed})
    assert h.view(forgotten.id).status_code == 404  # past the retention: gone from view too (2.7.5)


def test_list_default_limit_and_limit_bounds(batch):
    h = batch()
    page = h.session.get(f"{h.base}/exports/list").json()
    assert page["count"] == 10 and page["has_more"] is True and page["next_from"]
    for bad in ("0", "101", "ten"):
        assert h.session.get(f"{h.base}/exports/list", params={"limit": bad}).status_code == 400
    assert h.session.get(f"{h.base}/exports/list", params={"from": "garbage!"}).status_code == 400
    whole = h.session.get(f"{h.base}/exports/list", params={"limit": 100}).json()
    assert whole["has_more"] is False and whole["count"] == 19


def test_history_and_ids_are_deterministic(batch):
    a, b = batch(), batch()
    assert sorted(a.sim.exports) == sorted(b.sim.exports) and len(a.sim.exports) == 25
    assert a.create(ATTRIBUTES).json() == b.create(ATTRIBUTES).json()
    assert a.sim.profile_rows() == b.sim.profile_rows()


# -- rate limits and faults ------------------------------------------------------------------
def test_requests_per_second_answers_429_with_retry_after(batch):
    h = batch(BatchOptions(requests_per_second=3, **FAST))
    answers = [h.session.get(f"{h.base}/exports/list", params={"limit": 1}) for _ in range(5)]
    assert [a.status_code for a in answers].count(429) >= 2
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["Retry-After"] == "1" and limited.json()["error_code"] == "TOO_MANY_REQUESTS"


def test_faults_and_maintenance_answer_in_batch_envelope(batch):
    h = batch()
    export_id = h.create(ATTRIBUTES).json()["id"]
    h.sim.inject_error("export_view", 503, times=2)
    h.sim.faults.add("export_list", "status", status=429, headers={"Retry-After": "2"}, body={"error_code": "TOO_MANY_REQUESTS", "error_message": "slow down"})
    assert [h.view(export_id).status_code for _ in range(3)] == [503, 503, 200]
    limited = h.session.get(f"{h.base}/exports/list")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    h.sim.maintenance(0.2)
    down = h.view(export_id)
    assert down.status_code == 503 and down.json()["error_code"] == "SERVICE_UNAVAILABLE"
    time.sleep(0.25)
    assert h.view(export_id).status_code == 200 and h.sim.calls["export_view"] == 5


def test_connector_config_points_at_the_versioned_api(batch):
    h = batch()
    config = h.sim.connector_config(h.base, poll_interval_seconds=0.05)
    assert config == {"api_url": h.base, "rest_api_key": h.sim.options.rest_api_key, "project_key": h.sim.options.project_key, "poll_interval_seconds": 0.05}
    assert h.base.endswith("/2.11")
