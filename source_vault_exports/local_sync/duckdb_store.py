"""Writing Airbyte records into an embedded DuckDB file: one typed table per stream.

Rows are buffered per stream and written when that stream's STATE message arrives (and at the
end), so the state kept beside the file never covers rows the file does not hold. Tables are keyed
by the stream's primary key: a row seen again replaces the older version (by cursor when the
stream has one), so repeated windows after a crash or a lookback never duplicate rows.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence

import duckdb
import orjson

EXTRACTED_AT = "_airbyte_extracted_at"


def duckdb_type(prop: Mapping[str, Any]) -> str:
    declared = prop.get("type", "string")
    types = [declared] if isinstance(declared, str) else [t for t in declared if t != "null"]
    kind = types[0] if types else "string"
    if kind == "string":
        return {"date-time": "TIMESTAMPTZ", "date": "DATE"}.get(prop.get("format", ""), "VARCHAR")
    return {"integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN"}.get(kind, "JSON")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass
class StreamTable:
    name: str
    columns: Dict[str, str]  # column -> DuckDB type
    primary_key: List[str]
    cursor: Optional[str]
    buffer: List[Dict[str, Any]] = field(default_factory=list)
    written: int = 0


class DuckDBStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._connection = duckdb.connect(path)
        self._tables: Dict[str, StreamTable] = {}

    def prepare(self, name: str, json_schema: Mapping[str, Any], primary_key: Sequence[str], cursor: Optional[str]) -> None:
        columns = {column: duckdb_type(prop) for column, prop in (json_schema.get("properties") or {}).items()}
        columns[EXTRACTED_AT] = "TIMESTAMPTZ"
        table = StreamTable(name, columns, list(primary_key), cursor)
        definitions = [f"{quote(column)} {kind}" for column, kind in columns.items()]
        if primary_key:
            definitions.append(f"PRIMARY KEY ({', '.join(quote(key) for key in primary_key)})")
        self._connection.execute(f"CREATE TABLE IF NOT EXISTS {quote(name)} ({', '.join(definitions)})")
        existing = {row[0] for row in self._connection.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]).fetchall()}
        for column, kind in columns.items():
            if column not in existing:
                self._connection.execute(f"ALTER TABLE {quote(name)} ADD COLUMN {quote(column)} {kind}")
        self._tables[name] = table

    def add(self, stream: str, record: Dict[str, Any], emitted_at_ms: int) -> None:
        table = self._tables[stream]
        record[EXTRACTED_AT] = datetime.fromtimestamp(emitted_at_ms / 1000, timezone.utc).isoformat()
        for column in record:
            if column not in table.columns:
                # A column the schema does not know is kept, as text.
                self._connection.execute(f"ALTER TABLE {quote(stream)} ADD COLUMN {quote(column)} VARCHAR")
                table.columns[column] = "VARCHAR"
        table.buffer.append(record)

    def flush(self, stream: str) -> int:
        table = self._tables[stream]
        rows = self._dedupe(table)
        table.buffer = []
        if not rows:
            return 0
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
            for row in rows:
                handle.write(orjson.dumps({k: (json.dumps(v) if table.columns.get(k) == "JSON" and v is not None else v) for k, v in row.items()}))
                handle.write(b"\n")
            batch_path = handle.name
        try:
            names = list(table.columns)
            column_types = "{" + ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': '{t}'" for c, t in table.columns.items()) + "}"
            select = ", ".join(quote(c) for c in names)
            source = f"read_json('{batch_path}', columns={column_types}, format='newline_delimited')"
            statement = f"INSERT INTO {quote(stream)} ({select}) SELECT {select} FROM {source}"
            if table.primary_key:
                updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in names if c not in table.primary_key)
                keys = ", ".join(quote(k) for k in table.primary_key)
                statement += f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
                if table.cursor:
                    kept = f"{quote(stream)}.{quote(table.cursor)}"
                    statement += f" WHERE excluded.{quote(table.cursor)} >= {kept} OR {kept} IS NULL"
            self._connection.execute(statement)
        finally:
            os.unlink(batch_path)
        table.written += len(rows)
        return len(rows)

    @staticmethod
    def _dedupe(table: StreamTable) -> List[Dict[str, Any]]:
        """One row per key within a batch: the newest by cursor, else the last seen."""
        if not table.primary_key:
            return table.buffer
        newest: Dict[tuple, Dict[str, Any]] = {}
        for row in table.buffer:
            key = tuple(row.get(k) for k in table.primary_key)
            kept = newest.get(key)
            if kept is None or not table.cursor or (row.get(table.cursor) or "") >= (kept.get(table.cursor) or ""):
                newest[key] = row
        return list(newest.values())

    def remove_rows_not_seen_since(self, stream: str, sync_started: datetime) -> int:
        """After a full refresh, rows the source no longer has go away."""
        result = self._connection.execute(
            f"DELETE FROM {quote(stream)} WHERE {quote(EXTRACTED_AT)} < ?", [sync_started]
        ).fetchone()
        return int(result[0]) if result else 0

    def has(self, stream: str) -> bool:
        return stream in self._tables

    def count(self, stream: str) -> int:
        return int(self._connection.execute(f"SELECT count(*) FROM {quote(stream)}").fetchone()[0])

    def close(self) -> None:
        self._connection.close()
