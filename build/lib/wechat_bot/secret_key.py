"""SECRET_KEY when set, else one generated once under ./var/ and shared by every worker."""
from __future__ import annotations

import secrets
from pathlib import Path

from .var_files import write_once


def load_or_create(var_dir: Path) -> str:
    return write_once(var_dir / "secret_key", lambda: secrets.token_hex(32)).strip()
