"""gunicorn's logs for gunicorn.conf.py: the access log one JSON object per request, whatever the request carried;
under LOG_FORMAT=json, gunicorn's own lines (its error log: booting, workers, signals) JSON objects too, as
wechat_bot's own are (logs.JsonLines).

gunicorn puts the decoded path (`%(U)s`) and headers in the line and escapes only `"`: a `%0A` in a path would
start a forged line, a backslash would break the JSON. Every value here is escaped as a JSON string instead.
"""
from __future__ import annotations

import json
import os

from gunicorn.glogging import Logger, SafeAtoms

from .logs import JsonLines

_LIMIT = 2048  # characters of one value: a request line may be long, a log line need not be


class JsonSafeAtoms(SafeAtoms):
    def __init__(self, atoms: dict) -> None:
        dict.__init__(self)
        for name, value in atoms.items():
            self[name] = json_text(value) if isinstance(value, str) else value


def json_text(value: str) -> str:
    """`value` as the inside of a JSON string: quotes, backslashes, line breaks and all non-ASCII escaped.
    WSGI hands paths and headers over as bytes in latin-1 clothing: they are read back as the UTF-8 they were."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return json.dumps(value[:_LIMIT])[1:-1]


class AccessLog(Logger):
    """gunicorn.conf.py's `logger_class`."""

    atoms_wrapper_class = JsonSafeAtoms

    def setup(self, cfg) -> None:
        super().setup(cfg)
        if _log_format() == "json":
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonLines())


def _log_format() -> str:
    """LOG_FORMAT from the environment, else ./.env (as the settings and the app read it)."""
    if os.environ.get("LOG_FORMAT"):
        return os.environ["LOG_FORMAT"]
    if os.path.isfile(".env"):
        from dotenv import dotenv_values

        return dotenv_values(".env").get("LOG_FORMAT") or "text"
    return "text"
