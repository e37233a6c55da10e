"""Log lines go to standard error unless the host (gunicorn, a test, an application) set logging up."""
from __future__ import annotations

import json
import logging
import re

# t: the confirm token of a sign-in QR code (/oauth/qr/confirm?scene=…&t=…), a parameter of its own only
_SECRET_PARAMS = re.compile(r"((?:secret|access_token|refresh_token|code|(?<=[?&])t)=)[^&\s\"]+")


def loggable(value: object, limit: int = 64, *, spaces: bool = False) -> str:
    """A field from a push or a request, safe in a log line: printable, no line breaks, bounded; no spaces
    either (a field stays one word), unless `spaces`, for a message such as an error's, whose spaces stay spaces."""
    value = str(value)
    if len(value) <= limit and value.isprintable() and (spaces or " " not in value):
        return value
    cleaned = "".join(ch if ch.isprintable() and (ch == " " and spaces or not ch.isspace()) else "?"
                      for ch in value[:limit])
    return cleaned + ("…" if len(value) > limit else "")


class OneLine(logging.Filter):
    """The one sanitiser every wechat_bot log line goes through: whatever a field carried (a line break, an
    escape sequence), a record stays one line; fields are also passed through `loggable` where they are logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _printable(record.msg) and all(_printable(arg) for arg in _values(record.args)):
            return True  # the common case, checked without formatting the line twice
        message = record.getMessage()
        if not message.isprintable():
            record.msg, record.args = "".join(ch if ch.isprintable() else "?" for ch in message), None
        return True


def _values(args: object) -> tuple:
    if isinstance(args, dict):
        return tuple(args.values())
    return args if isinstance(args, tuple) else ()


def _printable(value: object) -> bool:
    """A str with no line break or control character, or a number (whose text never has one)."""
    if isinstance(value, str):
        return value.isprintable()
    return isinstance(value, (int, float))


_ONE_LINE = OneLine()


def logger(name: str) -> logging.Logger:
    """A wechat_bot logger whose lines go through the sanitiser."""
    log = logging.getLogger(name)
    if _ONE_LINE not in log.filters:
        log.addFilter(_ONE_LINE)
    return log


class JsonLines(logging.Formatter):
    """One JSON object per line, for log collectors (LOG_FORMAT=json)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": round(record.created, 3), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage(), "pid": record.process}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str = "text") -> None:
    logger = logging.getLogger("wechat_bot")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


class RedactSecrets(logging.Filter):
    """Masks secrets in logged URLs (the sandbox's own API calls pass through the same server's access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message:
            record.msg, record.args = _SECRET_PARAMS.sub(r"\1***", message), None
        return True


_REDACT = RedactSecrets()


def redact_werkzeug() -> None:
    """Werkzeug's access log (`run.py`, `flask run`) masks secret=, access_token=, refresh_token=, code= and t=."""
    log = logging.getLogger("werkzeug")
    if _REDACT not in log.filters:
        log.addFilter(_REDACT)
