"""The sandbox account's AppID, AppSecret, Token and EncodingAESKey: made up once, kept in ./var/sandbox.json."""
from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

from ..var_files import write_once

_ALNUM = string.ascii_letters + string.digits


def load_or_create(var_dir: Path) -> dict[str, str]:
    return json.loads(write_once(var_dir / "sandbox.json", lambda: json.dumps({
        "WECHAT_APPID": "wx" + secrets.token_hex(8),
        "WECHAT_SECRET": secrets.token_hex(16),
        "WECHAT_TOKEN": "sandbox" + secrets.token_hex(4),
        "WECHAT_ENCODING_AES_KEY": "".join(secrets.choice(_ALNUM) for _ in range(43)),
    })))
