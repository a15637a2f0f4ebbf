import io

import pytest

from source_vault_exports.core.decoders.csv_rows import iter_csv_rows, iter_zipped_csv_rows
from source_vault_exports.core.downloads import CorruptFile


def rows(data: bytes, **kwargs):
    stream = io.BufferedReader(io.BytesIO(data))
    return list(iter_csv_rows(stream, lambda header: (lambda cells: dict(zip(header, cells))), **kwargs))


def test_quoted_commas_quotes_and_newlines_stay_inside_their_cell():
    data = 'Id,Notes\n1,"Said ""hi"", then\nleft"\n2,plain\n'.encode()
    assert rows(data) == [{"Id": "1", "Notes": 'Said "hi", then\nleft'}, {"Id": "2", "Notes": "plain"}]


def test_blank_lines_are_skipped_and_a_missing_final_newline_is_fine():
    assert rows(b"Id,N\n\n1,a\n\n2,b") == [{"Id": "1", "N": "a"}, {"Id": "2", "N": "b"}]


def test_nul_bytes_are_removed_even_when_a_whole_chunk_is_nul():
    data = b"Id,N\n1,a\x00b\n" + b"\x00" * 70000 + b"2,c\n"
    assert rows(data) == [{"Id": "1", "N": "ab"}, {"Id": "2", "N": "c"}]


def test_a_row_with_the_wrong_number_of_cells_is_a_damaged_file():
    with pytest.raises(CorruptFile, match="CSV record 3 has 3 cells, the header has 2"):
        rows(b"Id,N\n1,a\n2,b,c\n")


def test_an_empty_file_has_no_rows():
    assert rows(b"") == []


def test_utf8_text_is_decoded():
    assert rows("Id,Name\n1,東京商事\n".encode()) == [{"Id": "1", "Name": "東京商事"}]


def test_a_zipped_csv_is_read_from_its_single_member():
    import zipfile

    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as archive:
        archive.writestr("Account.csv", "Id,N\n1,a\n")
    stream = io.BufferedReader(io.BytesIO(payload.getvalue()))
    assert list(iter_zipped_csv_rows(stream, lambda header: (lambda cells: dict(zip(header, cells))))) == [{"Id": "1", "N": "a"}]
