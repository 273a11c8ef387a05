"""Helpers shared by the churnfeat DAGs: where things are, how dbt and parity are run.

Nothing here does I/O at import time; the DAG files import it while the scheduler parses.
This folder is listed in ../.airflowignore, so Airflow never parses it as DAG files.
"""
