import io
import tarfile

import pytest

from source_vault_exports.core.decoders.tar_members import ArchiveLimits, iter_archive_members
from source_vault_exports.core.downloads import CorruptFile


def archive(entries) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "device": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
                info.linkname = payload.decode() if payload else ""
                tar.addfile(info)
    return buffer.getvalue()


def members(data: bytes, limits=ArchiveLimits()):
    skipped = []
    found = [(m.path, m.content.read()) for m in iter_archive_members(io.BytesIO(data), lambda n, r: skipped.append((n, r)), limits)]
    return found, skipped


def test_regular_files_are_streamed_in_order_with_their_paths():
    data = archive([("00P1", "dir", b""), ("00P1/attachment__c/Site map.png", "file", b"png"), ("00P2/photos__c/東京.jpg", "file", b"jpg")])
    assert members(data) == ([("00P1/attachment__c/Site map.png", b"png"), ("00P2/photos__c/東京.jpg", b"jpg")], [])


def test_hostile_members_are_skipped_with_a_reason_and_never_yielded():
    data = archive(
        [
            ("../escape.txt", "file", b"x"),
            ("/etc/passwd", "file", b"x"),
            ("a/../../b", "file", b"x"),
            ("link", "symlink", b"/etc/passwd"),
            ("hard", "hardlink", b"a/ok.txt"),
            ("dev", "device", b""),
            ("pipe", "fifo", b""),
            ("a/ok.txt", "file", b"fine"),
        ]
    )
    found, skipped = members(data)
    assert found == [("a/ok.txt", b"fine")]
    assert [name for name, _ in skipped] == ["../escape.txt", "/etc/passwd", "a/../../b", "link", "hard", "dev", "pipe"]
    assert dict(skipped)["link"] == "it is a symbolic link"


def test_members_above_the_size_limit_are_skipped_before_they_are_read():
    data = archive([("big.bin", "file", b"0" * 5000), ("small.bin", "file", b"1")])
    found, skipped = members(data, ArchiveLimits(max_member_bytes=1000))
    assert found == [("small.bin", b"1")]
    assert skipped == [("big.bin", "it declares 5000 bytes, above the 1000-byte limit")]


def test_an_archive_that_lies_about_a_member_size_is_damaged():
    import gzip

    # The header promises 2048 bytes; only 1000 follow, as a lying header would leave it.
    plain = gzip.decompress(archive([("a.txt", "file", b"x" * 2048)]))
    with pytest.raises(CorruptFile):
        members(gzip.compress(plain[: 512 + 1000]))


def test_a_cut_gzip_stream_is_damaged():
    data = archive([("a.txt", "file", b"x" * 100_000)])
    with pytest.raises(CorruptFile):
        members(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_before_it_fills_memory_or_disk():
    from source_vault_exports.core.decoders.tar_members import ArchiveBomb

    # 20 MB of zeros compress to ~20 KB: a 1000x expansion, far beyond real attachments.
    data = archive([("a/bomb.bin", "file", b"\x00" * 20_000_000)])
    limits = ArchiveLimits(bomb_floor_bytes=1_000_000, max_expansion_ratio=250)
    with pytest.raises(ArchiveBomb, match="decompression bomb"):
        members(data, limits)


def test_ordinary_compressible_files_pass_the_bomb_check():
    import os

    data = archive([("a/text.csv", "file", b"id,name\n" * 50_000), ("a/photo.jpg", "file", os.urandom(300_000))])
    found, skipped = members(data, ArchiveLimits(bomb_floor_bytes=100_000, max_expansion_ratio=250))
    assert [path for path, _ in found] == ["a/text.csv", "a/photo.jpg"] and skipped == []
