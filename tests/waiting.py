"""Waiting for what another thread or process does, by its effect, never by a fixed sleep."""
from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, detail: Callable[[], object] = lambda: "",
               timeout: float = 30, ignoring: type[BaseException] | tuple[type[BaseException], ...] = ()) -> None:
    """Poll `condition` until it is true; after `timeout` seconds fail, naming `what` and `detail()`. Errors of the
    `ignoring` types count as not yet (a server still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except ignoring:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what} {detail()}"
        time.sleep(0.05)
