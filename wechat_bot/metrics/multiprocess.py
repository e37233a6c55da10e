"""Where every process's metrics meet: prometheus_client's multiprocess mode, a folder of per-process files that a
scrape sums. gunicorn's workers and `wechat-bot worker` point PROMETHEUS_MULTIPROC_DIR at one folder (the shipped
settings and the worker command default it to ./var/metrics); it must be set before prometheus_client is imported.
Nothing here imports prometheus_client: gunicorn's master runs it before its workers patch the standard library.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .retired import retire

ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_DIR = Path("var") / "metrics"
_PID = re.compile(r"_(\d+)\.db$")


def prepare(folder: str | os.PathLike | None = None) -> str:
    """Set PROMETHEUS_MULTIPROC_DIR (unless the operator did), make the folder, and retire the files of processes
    that are gone: their counters and histograms move into files of their own, so no sum a scrape reports ever
    goes down, and their gauges go (retired.py); the live ones' stay."""
    chosen = os.environ.get(ENV) or str(Path(folder or DEFAULT_DIR).resolve())
    os.environ[ENV] = chosen
    Path(chosen).mkdir(parents=True, exist_ok=True)
    dead = [file for file in Path(chosen).glob("*.db")
            if (found := _PID.search(file.name)) and not _alive(int(found.group(1)))]
    if dead:
        retire(Path(chosen), dead)
    return chosen


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def join_the_workers() -> bool:
    """A development server (`run.py serve`, `flask run`) reads and writes the folder a `worker` beside it writes
    to, so its /metrics counts that worker's renewals too; not when prometheus_client is imported already (a site's
    own metrics), whose values then stay in this process. True when it joined."""
    import sys

    if "prometheus_client" in sys.modules:
        return bool(os.environ.get(ENV))
    prepare()
    return True

