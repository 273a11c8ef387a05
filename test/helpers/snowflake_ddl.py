"""Reads Snowflake DDL statements (';'-separated) on stdin and prints, as JSON, for each CREATE TABLE:
its name, whether sqlglot's Snowflake dialect parses it as TRANSIENT, its DATA_RETENTION_TIME_IN_DAYS,
and whether fakesnow (Snowflake on DuckDB) executes it; for each CREATE PIPE its COPY pattern."""

import json
import re
import sys

import fakesnow
import snowflake.connector
import sqlglot
from sqlglot import expressions as exp


def main() -> None:
    statements = [s.strip() for s in sys.stdin.read().split(";\n") if s.strip()]
    out = {"tables": [], "pipes": []}
    with fakesnow.patch():
        conn = snowflake.connector.connect()
        cur = conn.cursor()
        for sql in statements:
            if re.match(r"create (transient )?table", sql, re.IGNORECASE):
                tree = sqlglot.parse_one(sql, read="snowflake")
                props = tree.args.get("properties")
                props = props.expressions if props else []
                retention = next(
                    (
                        p.args["value"].name
                        for p in props
                        if isinstance(p, exp.Property) and p.name.lower() == "data_retention_time_in_days"
                    ),
                    None,
                )
                table = tree.find(exp.Table)
                cur.execute(f"create database if not exists {table.catalog}")
                cur.execute(f"create schema if not exists {table.catalog}.{table.db}")
                cur.execute(sql)
                cur.execute(f"select count(*) from {table.catalog}.{table.db}.{table.name}")
                out["tables"].append(
                    {
                        "name": f"{table.catalog}.{table.db}.{table.name}",
                        "transient": any(isinstance(p, exp.TransientProperty) for p in props),
                        "retention_days": None if retention is None else int(retention),
                        "executed_by_fakesnow": cur.fetchone() == (0,),
                    }
                )
            elif re.match(r"create pipe", sql, re.IGNORECASE):
                pattern = re.search(r"pattern = '([^']*)'", sql)
                out["pipes"].append({"pattern": pattern.group(1) if pattern else None})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
