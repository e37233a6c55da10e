"""Log lines go to standard error unless the host (gunicorn, a test, an application) set logging up."""
from __future__ import annotations

import logging


def configure() -> None:
    logger = logging.getLogger("wechat_bot")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
