"""Downloads that break are retried without losing or repeating a row."""

import logging

import pytest
import requests

from source_vault_exports.core.decoders.csv_rows import iter_csv_rows
from source_vault_exports.core.downloads import ResultFile, stream_file_items
from source_vault_exports.core.errors import DownloadFailed
from source_vault_exports.simulators.http import LoopbackServer, SimResponse, SimulatorApp

ROWS = [f"{i},name {i}" for i in range(2000)]
BODY = ("Id,Name\n" + "\n".join(ROWS) + "\n").encode()


class FileApp(SimulatorApp):
    def __init__(self, chunked: bool = False) -> None:
        super().__init__()
        self.chunked = chunked
        self.route("GET", r"/file", "file", self._file)

    def _file(self, request):
        if self.chunked:
            return SimResponse(200, (BODY[i : i + 4096] for i in range(0, len(BODY), 4096)))
        return SimResponse(200, BODY)


def read_all(url, expected_rows=None, attempts=5, ends_with_line_break=False):
    def open_response(_file):
        response = requests.get(url, stream=True, timeout=10)
        response.raise_for_status()
        return response

    def decode(stream):
        return iter_csv_rows(stream, lambda header: (lambda cells: dict(zip(header, cells))))

    return list(
        stream_file_items(
            ResultFile("test file", url, expected_rows=expected_rows, ends_with_line_break=ends_with_line_break),
            open_response,
            decode,
            vendor="Test",
            logger=logging.getLogger("test"),
            attempts=attempts,
            sleep=lambda _: None,
        )
    )


def expected():
    return [{"Id": str(i), "Name": f"name {i}"} for i in range(2000)]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(
    "fault",
    [{"kind": "reset", "after_bytes": 10_000}, {"kind": "reset", "after_bytes": 20_001}, {"kind": "drop"}],
)
def test_a_connection_cut_mid_body_is_resumed_without_loss_or_repeats(chunked, fault):
    app = FileApp(chunked)
    app.faults.add("file", times=2, **fault)
    with LoopbackServer(app) as server:
        assert read_all(f"{server.url}/file") == expected()
    assert app.calls["file"] == 3


def test_a_body_cut_cleanly_at_a_shorter_content_length_is_caught_by_the_row_count():
    app = FileApp()
    app.faults.add("file", "short_length", missing_bytes=40)
    with LoopbackServer(app) as server:
        assert read_all(f"{server.url}/file", expected_rows=2000) == expected()
    assert app.calls["file"] == 2


def test_a_body_cut_inside_its_last_row_is_caught_by_the_missing_line_break():
    app = FileApp()
    app.faults.add("file", "short_length", missing_bytes=5)
    with LoopbackServer(app) as server:
        assert read_all(f"{server.url}/file", expected_rows=2000, ends_with_line_break=True) == expected()
    assert app.calls["file"] == 2


def test_a_file_that_never_arrives_whole_fails_with_the_file_and_last_problem():
    app = FileApp()
    app.faults.add("file", "reset", times=10, after_bytes=100)
    with LoopbackServer(app) as server:
        with pytest.raises(DownloadFailed) as failed:
            read_all(f"{server.url}/file", attempts=3)
    assert "Test: could not download test file completely after 3 attempts" in failed.value.message


def test_a_missing_row_count_mismatch_is_not_accepted():
    app = FileApp()
    with LoopbackServer(app) as server:
        with pytest.raises(DownloadFailed) as failed:
            read_all(f"{server.url}/file", expected_rows=2001, attempts=2)
    assert "decoded 2000 rows, the vendor reported 2001" in failed.value.message


class PartsApp(SimulatorApp):
    """BODY split into three byte parts, as Vault splits a large tar.gz."""

    def __init__(self) -> None:
        super().__init__()
        third = len(BODY) // 3
        self.parts = [BODY[:third], BODY[third : 2 * third], BODY[2 * third :]]
        self.route("GET", r"/part/(?P<n>\d)", "part", lambda request: SimResponse(200, self.parts[int(request.path_params["n"])]))


def test_byte_parts_are_read_as_one_stream_and_a_broken_part_restarts_without_repeats():
    from source_vault_exports.core.downloads import ChainedBody

    app = PartsApp()
    app.faults.add("part", "reset", skip=1, after_bytes=3000)  # part 2 of the first attempt breaks
    with LoopbackServer(app) as server:
        parts = [ResultFile(f"part {n}", f"{server.url}/part/{n}", expected_bytes=len(app.parts[n])) for n in range(3)]

        def open_part(part):
            response = requests.get(part.location, stream=True, timeout=10)
            response.raise_for_status()
            return response

        rows = list(
            stream_file_items(
                ResultFile("archive", "all parts"),
                lambda _file: ChainedBody(parts, open_part),
                lambda stream: iter_csv_rows(stream, lambda header: (lambda cells: dict(zip(header, cells)))),
                vendor="Test",
                logger=logging.getLogger("test"),
                sleep=lambda _: None,
            )
        )
    assert rows == expected()
    assert app.calls["part"] == 5  # 2 on the broken attempt, 3 on the good one


def test_a_whole_file_with_a_wrong_checksum_is_fetched_again_then_accepted():
    import hashlib

    from source_vault_exports.core.downloads import fetch_whole_file

    answers = iter([b"corrupted", b"good bytes"])
    wanted = hashlib.md5(b"good bytes").hexdigest()

    class Fake:
        def __init__(self, body):
            import io

            self.raw = io.BytesIO(body)
            self.raw.read = lambda n, decode_content=True, _r=self.raw.read: _r(n)
            self.headers = {}

        def close(self):
            pass

    digest = fetch_whole_file(
        "attachment 7",
        lambda: Fake(next(answers)),
        lambda stream: hashlib.md5(stream.read()).hexdigest(),
        lambda md5: None if md5 == wanted else f"md5 {md5} is not {wanted}",
        vendor="Test",
        logger=logging.getLogger("test"),
        sleep=lambda _: None,
    )
    assert digest == wanted


def test_a_body_cut_inside_a_typed_value_is_a_broken_download_not_a_bad_value():
    from source_vault_exports.core.coercion import compile_row_builder

    body = ("Id,At\n" + "".join(f"{i},2024-01-01T00:00:{i % 60:02d}Z\n" for i in range(500))).encode()

    class StampApp(SimulatorApp):
        def __init__(self) -> None:
            super().__init__()
            self.route("GET", r"/file", "file", lambda request: SimResponse(200, body))

    app = StampApp()
    # The last timestamp arrives as "2024-01-01T00:0": the right number of cells, an invalid value.
    app.faults.add("file", "short_length", missing_bytes=len("0:59Z\n"))
    properties = {"Id": {"type": "integer"}, "At": {"type": "string", "format": "date-time"}}
    with LoopbackServer(app) as server:
        rows = list(
            stream_file_items(
                ResultFile("test file", f"{server.url}/file", ends_with_line_break=True),
                lambda f: requests.get(f.location, stream=True, timeout=10),
                lambda stream: iter_csv_rows(stream, lambda header: compile_row_builder(header, properties, stream="s", location="f")),
                vendor="Test",
                logger=logging.getLogger("test"),
                sleep=lambda _: None,
            )
        )
    assert rows == [{"Id": i, "At": f"2024-01-01T00:00:{i % 60:02d}.000Z"} for i in range(500)]
    assert app.calls["file"] == 2


def test_a_bad_value_in_a_whole_file_is_still_an_error():
    from source_vault_exports.core.coercion import compile_row_builder
    from source_vault_exports.core.errors import RecordDecodeError

    app = FileApp()
    with LoopbackServer(app) as server:
        with pytest.raises(RecordDecodeError, match="column `Name` holds 'name 0'"):
            list(
                stream_file_items(
                    ResultFile("test file", f"{server.url}/file", ends_with_line_break=True),
                    lambda f: requests.get(f.location, stream=True, timeout=10),
                    lambda stream: iter_csv_rows(stream, lambda header: compile_row_builder(header, {"Name": {"type": "integer"}}, stream="s", location="f")),
                    vendor="Test",
                    logger=logging.getLogger("test"),
                    sleep=lambda _: None,
                )
            )
