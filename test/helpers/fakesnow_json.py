"""fakesnow's HTTP server, answering queries with JSON result sets.

The Node driver (snowflake-sdk 2.x) reads only JSON result sets (`rowset`), which is what
Snowflake sends it. fakesnow's server answers every query with an Arrow result set
(`queryResultFormat: arrow`, `rowsetBase64`, no `rowset`), made for the Python connector,
and snowflake-sdk fails on it. This wrapper converts the Arrow payload to Snowflake's JSON
rowset (every value a string, as Snowflake encodes it) and changes nothing else.

    .venv/tools/bin/python test/helpers/fakesnow_json.py --port 18081
"""

from __future__ import annotations

import argparse
import base64
import json
from decimal import Decimal

import fakesnow.server as fake
import pyarrow as pa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def json_value(value: object, column: dict) -> str | None:
    """One value as Snowflake's JSON result format spells it."""
    if value is None:
        return None
    kind = column["type"].lower()
    if kind == "boolean":
        return "1" if value else "0"
    if kind.startswith("timestamp"):
        # Arrow struct {epoch, fraction}: seconds since the epoch and nanoseconds (a null
        # timestamp can arrive as a struct of nulls).
        if value.get("epoch") is None:
            return None
        return f"{value['epoch']}.{value['fraction'] or 0:09d}"
    if kind == "date":
        return str(value.toordinal() - 719163) if hasattr(value, "toordinal") else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def to_json_rowset(data: dict) -> None:
    encoded = data.pop("rowsetBase64", "")
    rows: list[list[str | None]] = []
    if encoded:
        table = pa.ipc.open_stream(base64.b64decode(encoded)).read_all()
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        rowtype = data["rowtype"]
        rows = [[json_value(col[r], rowtype[c]) for c, col in enumerate(columns)] for r in range(table.num_rows)]
    data["rowset"] = rows
    data["queryResultFormat"] = "json"
    data["returned"] = len(rows)


async def query_request(request: Request) -> Response:
    response = await fake.query_request(request)
    body = json.loads(bytes(response.body))
    data = body.get("data")
    if isinstance(data, dict) and data.get("queryResultFormat") == "arrow":
        to_json_rowset(data)
        return JSONResponse(body, status_code=response.status_code)
    if isinstance(data, dict) and isinstance(data.get("rowset"), list) and "returned" not in data:
        # DML answers are JSON already but lack `returned`, without which the driver never
        # completes the statement.
        data["returned"] = len(data["rowset"])
        return JSONResponse(body, status_code=response.status_code)
    return response


routes = [
    Route(r.path, query_request, methods=["POST"]) if r.path == "/queries/v1/query-request" else r for r in fake.routes
]
app = Starlette(debug=True, routes=routes)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
