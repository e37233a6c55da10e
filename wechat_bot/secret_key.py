"""SECRET_KEY when set, else one generated once under ./var/ and shared by every worker."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create(var_dir: Path) -> str:
    """The key in var_dir/secret_key; the first process to get here writes it, atomically."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        draft = var_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
