"""What the incremental checks share: how a check ends (keep or remove its folder, list failures, the verdict)."""

from __future__ import annotations

import shutil
from pathlib import Path


def finish(work: Path, keep: bool, failures: list[str], title: str) -> int:
    """Keeps (`--keep`) or removes the check's temporary folder, prints each failure and the verdict; the exit code."""
    if keep:
        print("kept", work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print("FAIL", failure)
    print(f"{title}:", "OK" if not failures else "FAILED")
    return 1 if failures else 0
