import io
from pathlib import PurePosixPath

import pytest

from source_vault_exports.core.files import FileStager, digest_stream, safe_relative_path


def test_untrusted_path_parts_are_contained():
    assert safe_relative_path("../../etc", "/passwd") == PurePosixPath("etc/passwd")
    assert safe_relative_path("00P1", "a\\..\\b", "Site map.png") == PurePosixPath("00P1/a/b/Site map.png")
    with pytest.raises(ValueError):
        safe_relative_path("..", "/", ".")


def test_staged_files_land_under_the_stream_folder_with_size_and_md5(tmp_path):
    stager = FileStager(str(tmp_path))
    digest = stager.stage("veeva_files", PurePosixPath("../00P1/field/Report.pdf"), io.BytesIO(b"%PDF" * 1000))
    assert digest.size == 4000 and digest.md5 == digest_stream(io.BytesIO(b"%PDF" * 1000)).md5
    reference = digest.file_reference
    assert reference.source_file_relative_path == "veeva_files/00P1/field/Report.pdf"
    assert reference.staging_file_url == str(tmp_path / "veeva_files/00P1/field/Report.pdf")
    assert reference.file_size_bytes == 4000
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".partial-")]


def test_a_stream_that_breaks_leaves_no_half_written_file(tmp_path):
    class Breaking(io.RawIOBase):
        def __init__(self):
            self.calls = 0

        def readable(self):
            return True

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 2:
                raise ConnectionResetError("cut")
            return b"x" * 1000

    with pytest.raises(ConnectionResetError):
        FileStager(str(tmp_path)).stage("s", PurePosixPath("f.bin"), Breaking())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
