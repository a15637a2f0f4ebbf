import gzip
import io

import pytest

from source_vault_exports.core.decoders.json_rows import iter_json_records
from source_vault_exports.core.downloads import CorruptFile

RECORDS = [{"id": 1, "name": "a"}, {"id": 2, "nested": {"x": [1, 2.5]}}, {"id": 3, "text": "é\n"}]


def encode(kind: str) -> bytes:
    import json

    if kind == "ndjson":
        return "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
    return ("\n  " + json.dumps(RECORDS, indent=2)).encode()


def read(data: bytes):
    return list(iter_json_records(io.BufferedReader(io.BytesIO(data))))


@pytest.mark.parametrize("kind", ["ndjson", "array"])
@pytest.mark.parametrize("zipped", [False, True])
def test_arrays_and_json_lines_are_detected_gzipped_or_not(kind, zipped):
    data = encode(kind)
    assert read(gzip.compress(data) if zipped else data) == RECORDS


def test_a_byte_order_mark_blank_lines_and_a_missing_last_newline_are_fine():
    assert read(b"\xef\xbb\xbf" + b'{"id": 1}\n\n{"id": 2}') == [{"id": 1}, {"id": 2}]


def test_an_empty_file_has_no_records():
    assert read(b"") == [] and read(gzip.compress(b"")) == []


@pytest.mark.parametrize("data", [b'{"id": 1}\n{"id": 2, "na', b'[{"id": 1}, {"id":', gzip.compress(b'{"id": 1}\n')[:-6]])
def test_a_cut_file_is_reported_as_damaged(data):
    with pytest.raises(CorruptFile):
        read(data)
