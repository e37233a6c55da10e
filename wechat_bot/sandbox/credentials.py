"""The sandbox account's AppID, AppSecret, Token and EncodingAESKey: made up once, kept in ./var/sandbox.json."""
from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

_ALNUM = string.ascii_letters + string.digits


def load_or_create(var_dir: Path) -> dict[str, str]:
    path = var_dir / "sandbox.json"
    if path.exists():
        return json.loads(path.read_text())
    var_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "WECHAT_APPID": "wx" + secrets.token_hex(8),
        "WECHAT_SECRET": secrets.token_hex(16),
        "WECHAT_TOKEN": "sandbox" + secrets.token_hex(4),
        "WECHAT_ENCODING_AES_KEY": "".join(secrets.choice(_ALNUM) for _ in range(43)),
    }
    draft = var_dir / f".sandbox.{os.getpid()}.json"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return json.loads(path.read_text())
