"""Runs the DBOS side of a figure in the benchmark environment's Python, where ``dbos`` is
installed (it is never a dependency of the project), and reads its numbers back."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from . import env

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "dbos_side.py"


def dbos_python() -> str | None:
    """BENCH_DBOS_PYTHON, or .venv-bench/bin/python, if ``import dbos`` works there."""
    python = os.environ.get("BENCH_DBOS_PYTHON") or str(ROOT / ".venv-bench" / "bin" / "python")
    if not Path(python).exists():
        return None
    probe = subprocess.run([python, "-c", "import dbos, psutil"], capture_output=True, timeout=60)
    return python if probe.returncode == 0 else None


class Dbos:
    """The DBOS side, or a stand-in that measures nothing when DBOS is not installed."""

    def __init__(self, python: str | None) -> None:
        self.python = python
        self.errors: list[str] = []
        if python:
            env.ensure_database(env.DBOS_DB)

    @property
    def available(self) -> bool:
        return self.python is not None

    def measure(self, figure: str, url: str | None = None, **params: Any) -> dict[str, Any]:
        """DBOS's numbers for ``figure``, on its PostgreSQL database (or ``url``, e.g. SQLite)."""
        if not self.python:
            return {}
        environ = {**os.environ, "DBOS_BENCH_URL": url or env.libpq_url(env.DBOS_DB)}
        proc = subprocess.run(
            [self.python, str(SCRIPT), figure, json.dumps(params)],
            capture_output=True,
            text=True,
            env=environ,
            cwd=ROOT,
            timeout=1800,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            self.errors.append(f"DBOS {figure} failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
            return {}
        result: dict[str, Any] = json.loads(lines[-1])
        return result
