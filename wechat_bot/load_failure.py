"""A configuration error as the one line the person starting the app reads, whichever host loads it: gunicorn (its
workers, or its master under --preload), Flask's CLI, or our own commands."""
from __future__ import annotations

import os
import sys
from types import FrameType

from .errors import ConfigError


def one_line(error: ConfigError) -> BaseException:
    """A configuration error as the one line the host that is loading the app prints without a traceback:
    gunicorn prints an AppImportError's message and stops; Flask's CLI (`flask --app SITE …`) a ClickException's;
    anywhere else the ConfigError itself (our own commands print it as one line)."""
    if "gunicorn.arbiter" in sys.modules:
        from gunicorn.errors import AppImportError

        if not _in_a_gunicorn_worker():  # --preload: the master loads the app, and prints a traceback for the error
            return SystemExit(str(error))
        return AppImportError(str(error)) if _first_failing_worker() else SystemExit(0)
    import click
    from flask.cli import ScriptInfo

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_object(ScriptInfo) is not None:
        return click.ClickException(str(error))
    return error


def _first_failing_worker() -> bool:
    """Of gunicorn's workers failing to load, the first reports and stops the server; the others, within a few
    seconds, exit quietly (gunicorn starts others in their place until it stops). Two exiting with its app-load
    status make the master print a traceback of its own while it halts. The mark is a file per master (its pid
    and, where /proc tells it, its start time)."""
    import tempfile
    import time

    folder, master = tempfile.gettempdir(), os.getppid()
    mark = os.path.join(folder, f"wechat_bot-gunicorn-{master}-{_started(master)}.failed")
    try:
        os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        _sweep_marks(folder, keep=mark)
        return True
    except FileExistsError:
        try:
            if time.time() - os.stat(mark).st_mtime < _REPORTED_FOR:
                return False
            os.utime(mark)  # another master's, long gone, with the same pid
        except OSError:
            pass
        return True
    except OSError:
        return True


_REPORTED_FOR = 10.0


def _in_a_gunicorn_worker() -> bool:
    """The app is loading in one of gunicorn's workers (not in its master, as --preload does)."""
    from gunicorn.workers.base import Worker

    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if isinstance(frame.f_locals.get("self"), Worker):
            return True
        frame = frame.f_back
    return False


def _started(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def _sweep_marks(folder: str, keep: str) -> None:
    """Marks of earlier failed starts, a minute old or more."""
    import glob
    import time

    for old in glob.glob(os.path.join(folder, "wechat_bot-gunicorn-*.failed")):
        try:
            if old != keep and time.time() - os.stat(old).st_mtime > 60:
                os.unlink(old)
        except OSError:
            pass
