"""Helpers for the DAG tests: read the local DuckDB warehouse through the dbt virtualenv's Python.

Airflow's virtualenv has no duckdb on purpose; the dbt one has it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import DBT_PYTHON

_DIGEST = r"""
import hashlib, json, sys
import duckdb
path, tables = sys.argv[1], sys.argv[2:]
connection = duckdb.connect(path, read_only=True)
out = {}
for table in tables:
    exists = connection.execute(
        "select count(*) from information_schema.tables where table_schema = 'main' and table_name = ?", [table]
    ).fetchone()[0]
    if not exists:
        out[table] = None
        continue
    rows = connection.execute(f"select * from main.{table} order by all").fetchall()
    out[table] = {"rows": len(rows), "sha256": hashlib.sha256(repr(rows).encode()).hexdigest()}
print(json.dumps(out))
"""

_QUERY = r"""
import json, sys
import duckdb
connection = duckdb.connect(sys.argv[1], read_only=True)
cursor = connection.execute(sys.argv[2])
names = [d[0] for d in cursor.description]
print(json.dumps([dict(zip(names, row)) for row in cursor.fetchall()], default=str))
"""


def table_digests(duckdb_path: Path, tables: list[str]) -> dict[str, dict | None]:
    """Row count and a hash of every row (sorted) per table; None when the table is missing."""
    out = subprocess.run(
        [str(DBT_PYTHON), "-c", _DIGEST, str(duckdb_path), *tables], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def query(duckdb_path: Path, sql: str) -> list[dict]:
    out = subprocess.run(
        [str(DBT_PYTHON), "-c", _QUERY, str(duckdb_path), sql], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)
