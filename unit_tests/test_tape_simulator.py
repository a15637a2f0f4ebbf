"""The Tape simulator over real HTTP: auth, paging, filters, drift options, files, credits."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests

from source_vault_exports.simulators.http import LoopbackServer
from source_vault_exports.simulators.tape import TapeOptions, TapeSimulator, TapeStorageApp

KEY = TapeOptions().api_keys[0]
APP = 101  # 120 records by default


class QuickServer(LoopbackServer):
    """Checks for shutdown every 20 ms rather than socketserver's 500 ms: two servers per test stop fast."""

    def serve_forever(self, poll_interval: float = 0.02) -> None:
        super().serve_forever(poll_interval)


class Tape:
    """A running simulator, its storage host and a client session sending the Bearer key."""

    def __init__(self, sim: TapeSimulator, api: LoopbackServer, storage: LoopbackServer) -> None:
        self.sim, self.api, self.storage = sim, api, storage
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {KEY}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.api.url + path, params=params)

    def filter(self, filters: List[Dict[str, Any]], **params: Any) -> requests.Response:
        return self.http.post(f"{self.api.url}/v1/record/filter/app/{APP}", params=params, json={"filters": filters})

    def list_all(self, request, limit: int) -> Tuple[List[Dict[str, Any]], List[requests.Response]]:
        """Pages until a page shorter than `limit` (cursor null-ness is no stop signal, 3.3)."""
        records: List[Dict[str, Any]] = []
        responses: List[requests.Response] = []
        cursor: Optional[str] = None
        while True:
            response = request(limit=limit, **({"cursor": cursor} if cursor else {}))
            assert response.status_code == 200, response.text
            responses.append(response)
            page = response.json()
            records += page["records"]
            if len(page["records"]) < limit:
                return records, responses
            cursor = page["cursor"]


@pytest.fixture
def start() -> Iterator:
    servers: List[LoopbackServer] = []

    def start(apps: Optional[Dict[int, int]] = None, **options: Any) -> Tape:
        sim = TapeSimulator(TapeOptions(**options), apps)
        storage = QuickServer(TapeStorageApp(sim)).start()
        api = QuickServer(sim).start()
        servers.extend([api, storage])
        sim.set_storage_url(storage.url)
        return Tape(sim, api, storage)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def tape(start) -> Tape:
    return start()


def without_links(value: Any) -> Any:
    """Download links are signed per read; everything else must match the truth exactly."""
    if isinstance(value, dict):
        return {key: without_links(item) for key, item in value.items() if key != "download_url"}
    if isinstance(value, list):
        return [without_links(item) for item in value]
    return value


def tape_date(moment: datetime) -> Dict[str, Any]:
    return {"value": {"date": moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"}}


def metadata_filter(kind: str, match_type: str, moment: datetime) -> Dict[str, Any]:
    return {"type": kind, "match_type": match_type, "values": [tape_date(moment)]}


def values_of(record: Dict[str, Any], external_id: str) -> List[Any]:
    field = next(f for f in record["fields"] if (f.get("external_id") or f.get("slug")) == external_id)
    return [entry["value"] for entry in field["values"]]


def file_values(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [value for record in records for name in ("contract", "documents") for value in values_of(record, name) if "filename" in value]


# -- auth ----------------------------------------------------------------------------------
def test_bearer_and_basic_keys_both_read_the_app_with_its_field_definitions(tape):
    bearer = tape.get(f"/v1/app/{APP}")
    basic = requests.get(f"{tape.api.url}/v1/app/{APP}", auth=(KEY, ""))
    assert bearer.status_code == basic.status_code == 200
    assert bearer.json() == basic.json()
    fields = {field["external_id"]: field for field in bearer.json()["fields"]}
    assert fields["contract"]["field_type"] == "single_attachment" and fields["documents"]["field_type"] == "multi_attachment"
    assert {"field_id", "label", "type"} <= set(fields["name"])


@pytest.mark.parametrize(
    "authorization, status, code",
    [
        (None, 401, "dev_api_authentication"),
        ("Bearer sk_live_not_a_tape_key", 400, "validation"),  # malformed is 400, not 401 (3.1)
        ("Bearer user_key_well_formed_but_unknown", 401, "unauthorized"),
        ("Basic " + base64.b64encode(b"user_key_unknown:").decode(), 401, "unauthorized"),
    ],
)
def test_each_kind_of_bad_key_gets_its_own_status_and_error_code(tape, authorization, status, code):
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(f"{tape.api.url}/v1/record/app/{APP}", headers=headers)
    assert response.status_code == status
    assert response.json() == {"status_code": status, "endpoint": f"/v1/record/app/{APP}", "error_code": code, "error_message": response.json()["error_message"]}


def test_unknown_apps_are_404_and_unshared_apps_403(start):
    tape = start(unreadable_app_ids=(102,))
    assert tape.get("/v1/app/999").json()["error_code"] == "not_found"
    assert tape.get("/v1/record/app/999").status_code == 404
    forbidden = tape.get("/v1/record/app/102")
    assert (forbidden.status_code, forbidden.json()["error_code"]) == (403, "restricted_resource")
    missing = tape.get("/v1/record/123")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "record_not_exists")
    assert tape.sim.connector_config("http://x")["app_ids"] == [101]


# -- pagination ----------------------------------------------------------------------------
def test_paging_to_a_short_last_page_returns_every_record_in_id_order(tape):
    records, responses = tape.list_all(lambda **p: tape.get(f"/v1/record/app/{APP}", **p), limit=50)
    assert [len(r.json()["records"]) for r in responses] == [50, 50, 20]
    assert {r.json()["total"] for r in responses} == {120}
    assert without_links(records) == without_links(tape.sim.records(APP))
    ids = [record["record_id"] for record in records]
    assert ids == sorted(ids)
    # The last page still carries a cursor (3.3); following it gives an empty page.
    last_cursor = responses[-1].json()["cursor"]
    assert last_cursor and last_cursor.count(".") == 2  # JWT-looking
    after = tape.get(f"/v1/record/app/{APP}", limit=50, cursor=last_cursor).json()
    assert after["records"] == []


def test_the_last_page_cursor_can_be_null(start):
    tape = start(last_page_cursor_non_null=False)
    _, responses = tape.list_all(lambda **p: tape.get(f"/v1/record/app/{APP}", **p), limit=50)
    assert [r.json()["cursor"] is None for r in responses] == [False, False, True]


def test_total_is_a_snapshot_taken_at_the_first_page(tape):
    first = tape.get(f"/v1/record/app/{APP}", limit=100).json()
    tape.sim.create_records(APP, 3)
    second = tape.get(f"/v1/record/app/{APP}", limit=100, cursor=first["cursor"]).json()
    assert (first["total"], second["total"], len(second["records"])) == (120, 120, 23)


@pytest.mark.parametrize("limit, status", [(None, 200), ("1", 200), ("500", 200), ("0", 400), ("501", 400), ("ten", 400)])
def test_page_size_is_1_to_500_and_defaults_to_50(tape, limit, status):
    response = tape.get(f"/v1/record/app/{APP}", **({"limit": limit} if limit else {}))
    assert response.status_code == status
    if status == 200:
        assert len(response.json()["records"]) == min(120, int(limit or 50))
    else:
        assert response.json()["error_code"] == "validation_error"


def test_bad_foreign_and_expired_cursors_are_400(start):
    tape = start(cursor_ttl_seconds=0.8)
    cursor = tape.get(f"/v1/record/app/{APP}", limit=10).json()["cursor"]
    assert tape.get(f"/v1/record/app/{APP}", limit=10, cursor=cursor[:-3] + "abc").status_code == 400
    # A cursor belongs to its listing: not reusable with other filters.
    assert tape.filter([], limit=10, cursor=cursor).status_code == 400
    assert tape.get(f"/v1/record/app/{APP}", limit=10, cursor=cursor).status_code == 200
    time.sleep(0.85)
    expired = tape.get(f"/v1/record/app/{APP}", limit=10, cursor=cursor)
    assert expired.status_code == 400 and "expired" in expired.json()["error_message"].lower()


def test_sort_desc_reverses_the_order(tape):
    page = tape.get(f"/v1/record/app/{APP}", limit=5, sort_desc="true").json()
    assert [r["app_record_id"] for r in page["records"]] == [120, 119, 118, 117, 116]
    assert tape.get(f"/v1/record/app/{APP}", sort_by="nope").status_code == 400


# -- filters -------------------------------------------------------------------------------
def test_a_created_at_window_is_inclusive_at_both_ends(tape):
    record_ids = [r["record_id"] for r in tape.sim.records(APP)]
    low, high = tape.sim.record_times(record_ids[10])[0], tape.sim.record_times(record_ids[40])[0]
    window = [metadata_filter("created_at", "on_or_after", low), metadata_filter("created_at", "on_or_before", high)]
    records, responses = tape.list_all(lambda **p: tape.filter(window, **p), limit=7)
    assert [r["record_id"] for r in records] == record_ids[10:41]
    assert {r.json()["total"] for r in responses} == {31}
    assert tape.sim.calls["records_filter"] == len(responses)


def test_last_modified_at_never_matches_a_record_that_was_never_edited(tape):
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)
    modified = [metadata_filter("last_modified_at", "on_or_after", since)]
    records, _ = tape.list_all(lambda **p: tape.filter(modified, **p), limit=50)
    truth = [r["record_id"] for r in tape.sim.records(APP) if tape.sim.record_times(r["record_id"])[1] is not None]
    assert [r["record_id"] for r in records] == truth
    assert 0 < len(truth) < 120  # some records were never edited
    assert not any("last_modified" in key or "modified_on" in key for key in records[0])  # no such field (3.7.7)


def test_edits_and_new_records_show_up_in_the_right_filters(tape):
    now = datetime.now(timezone.utc)
    never_edited = next(r["record_id"] for r in tape.sim.records(APP) if tape.sim.record_times(r["record_id"])[1] is None)
    tape.sim.edit_record(never_edited)
    (new_id,) = tape.sim.create_records(APP, 1)
    since = now - timedelta(seconds=5)
    modified = tape.filter([metadata_filter("last_modified_at", "on_or_after", since)]).json()["records"]
    created = tape.filter([metadata_filter("created_at", "on_or_after", since)]).json()["records"]
    assert [r["record_id"] for r in modified] == [never_edited]
    assert modified[0]["title"].endswith("(edit 1)") and values_of(modified[0], "name") == [modified[0]["title"]]
    assert [r["record_id"] for r in created] == [new_id]  # new records match created_at only


@pytest.mark.parametrize(
    "filters",
    [
        [{"type": "created_at", "match_type": "on_or_after", "values": [{"value": {"relative": "last_7_days"}}]}],
        [{"type": "created_at", "match_type": "on_or_after", "values": [{"value": "2026-07-22T00:00:00.000Z"}]}],
        [{"type": "created_at", "match_type": "on_or_after", "values": [{"value": {"date": "7 days ago"}}]}],
        [{"type": "created_at", "match_type": "sometime", "values": [{"value": {"date": "2026-07-22T00:00:00.000Z"}}]}],
    ],
)
def test_relative_or_unnested_dates_are_rejected(tape, filters):
    response = tape.filter(filters)
    assert response.status_code == 400 and response.json()["error_code"] == "validation_error"


# -- drift ---------------------------------------------------------------------------------
def test_older_key_and_casing_spellings_are_switchable(start):
    tape = start(record_id_key="id", field_key="slug", field_type_case="upper")
    record = tape.get(f"/v1/record/app/{APP}", limit=1).json()["records"][0]
    assert "id" in record and "record_id" not in record
    assert all("slug" in f and "external_id" not in f for f in record["fields"])
    assert {f["field_type"] for f in record["fields"]} >= {"SINGLE_ATTACHMENT", "MULTI_ATTACHMENT", "SINGLE_TEXT"}
    assert without_links(tape.get(f"/v1/record/{record['id']}").json()) == without_links(record)


# -- attachments and storage ---------------------------------------------------------------
def test_attachment_fields_hold_files_users_malformed_values_and_nothing(tape):
    values = [v for r in tape.sim.records(APP) for name in ("contract", "documents") for v in values_of(r, name)]
    files = [v for v in values if "filename" in v]
    users = [v for v in values if v.get("type") == "user"]
    malformed = [v for v in values if set(v) == {"id"}]
    assert files and users and malformed
    assert all(set(f) == {"id", "filename", "size", "mimetype", "download_url", "created_on"} for f in files)
    assert all(set(u) == {"user_id", "mail", "image", "name", "org_id", "type"} for u in users)  # seed 003
    assert any(values_of(r, "contract") == [] for r in tape.sim.records(APP))


def test_a_file_downloads_with_its_exact_bytes_and_only_without_authorization(tape):
    file = next(f for f in file_values(tape.sim.records(APP)) if f["size"] > 1000 and f["id"] in tape.sim.downloadable_files(APP))
    plain = requests.get(file["download_url"])
    assert plain.status_code == 200 and plain.content == tape.sim.file_bytes(file["id"]) and len(plain.content) == file["size"]
    ranged = requests.get(file["download_url"], headers={"Range": "bytes=100-"})
    assert ranged.status_code == 206 and ranged.content == plain.content[100:]
    # The Tape key must never reach storage (3.4): refused even on a valid link.
    assert tape.http.get(file["download_url"]).status_code == 403
    assert tape.storage.app.requests_to("storage_file")[-1]["authorization"].startswith("Bearer")
    assert requests.get(file["download_url"].replace("signature=", "signature=0")).status_code == 403


def test_links_expire_and_rereading_the_record_gives_a_fresh_one(start):
    tape = start(link_ttl_seconds=0.8)
    downloadable = tape.sim.downloadable_files(APP)
    record = next(r for r in tape.sim.records(APP) if any(f["id"] in downloadable for f in file_values([r])))
    stale = next(f for f in file_values([record]) if f["id"] in downloadable)
    time.sleep(0.85)
    expired = requests.get(stale["download_url"])
    assert expired.status_code == 403 and b"expired" in expired.content
    fresh = next(f for f in file_values([tape.get(f"/v1/record/{record['record_id']}").json()]) if f["id"] == stale["id"])
    assert requests.get(fresh["download_url"]).status_code == 200
    tape.sim.expire_links()
    assert requests.get(fresh["download_url"]).status_code == 403


def test_deleted_files_are_listed_but_404_in_storage(tape):
    files = file_values(tape.sim.records(APP))
    downloadable = tape.sim.downloadable_files(APP)
    gone = [f for f in files if f["id"] not in downloadable]
    assert gone and requests.get(gone[0]["download_url"]).status_code == 404
    victim = next(f for f in files if f["id"] in downloadable)
    tape.sim.delete_file(victim["id"])
    assert requests.get(victim["download_url"]).status_code == 404


def test_attaching_a_file_is_an_edit_and_the_new_file_downloads(tape):
    record_id = tape.sim.records(APP)[0]["record_id"]  # index 0: never edited
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    file_id = tape.sim.attach_file(record_id, "documents", at=at)
    assert tape.sim.record_times(record_id)[1] == at
    exact = tape.filter([metadata_filter("last_modified_at", "on_or_after", at), metadata_filter("last_modified_at", "on_or_before", at)]).json()
    assert [r["record_id"] for r in exact["records"]] == [record_id]
    new = next(f for f in file_values(exact["records"]) if f["id"] == file_id)
    assert requests.get(new["download_url"]).content == tape.sim.file_bytes(file_id)


# -- credits -------------------------------------------------------------------------------
def test_rate_limit_headers_come_on_every_response(tape):
    responses = [
        tape.get(f"/v1/record/app/{APP}", limit=500),
        tape.get("/v1/app/999"),
        requests.get(f"{tape.api.url}/v1/record/app/{APP}"),
        tape.get("/v1/nowhere"),
    ]
    for response in responses:
        assert {"X-RateLimit-Limit", "X-Retry-Remaining", "X-Retry-Cost", "X-Retry-Reset", "Retry-After"} <= set(response.headers)
        datetime.strptime(response.headers["X-Retry-Reset"], "%Y-%m-%d %H:%M:%S")
    assert [r.status_code for r in responses] == [200, 404, 401, 400]
    assert responses[0].headers["X-RateLimit-Limit"] == "2000"
    assert (responses[0].headers["X-Retry-Cost"], responses[0].headers["X-Retry-Remaining"]) == ("20", "1980")
    assert (responses[1].headers["X-Retry-Cost"], responses[1].headers["X-Retry-Remaining"]) == ("10", "1970")


def test_spending_past_the_budget_is_429_until_the_interval_resets(start):
    tape = start(credits_per_minute=30, interval_seconds=1.0)
    statuses = [tape.get(f"/v1/app/{APP}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = tape.get(f"/v1/app/{APP}")
    body = refused.json()
    assert body["error_code"] == "too_many_requests" and body["status_code"] == 429
    assert {"retry_after", "rate_limit", "rate_limit_remaining", "rate_limit_cost", "rate_limit_reset"} <= set(body)
    assert (body["rate_limit"], body["rate_limit_remaining"], body["rate_limit_cost"]) == (30, 0, 10)
    assert int(refused.headers["Retry-After"]) >= 1 and tape.sim.throttled == 2
    time.sleep(float(refused.headers["Retry-After"]))  # 1 s: the scaled interval, rounded up
    assert tape.get(f"/v1/app/{APP}").status_code == 200


def test_faults_are_switched_by_endpoint_name(tape):
    tape.sim.faults.add("records_filter", "status", status=503)
    assert tape.filter([]).status_code == 503
    assert tape.filter([]).status_code == 200
    assert tape.sim.calls["records_filter"] == 2
