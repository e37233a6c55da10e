"""Files under ./var/ that the first process writes and every other process of the machine reads."""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def write_once(path: Path, make: Callable[[], str]) -> str:
    """The file's content; if it does not exist yet, `make()` is written atomically (mode 600), first writer wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text()
