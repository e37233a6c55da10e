"""Settings from the environment and ./.env, validated once at start-up."""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from dotenv import dotenv_values

from . import defaults
from .errors import ConfigError

CREDENTIALS = ("WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_SECRET")
# Every setting's name: an application's app.config may carry any of them (it wins over the environment).
NAMES = CREDENTIALS + (
    "WECHAT_ENCODING_AES_KEY", "WECHAT_ENCODING_AES_KEY_PREVIOUS", "WECHAT_TIMESTAMP_TOLERANCE", "PUBLIC_BASE_URL",
    "NGROK_API_URL", "REDIS_URL", "WECHAT_API_BASE", "WECHAT_OPEN_BASE", "SECRET_KEY", "TRUSTED_PROXIES",
    "LOG_FORMAT", "WECHAT_URL_PREFIX", "WECHAT_ENCRYPTION", "WECHAT_VERIFY_FILE", "WECHAT_QR_LOGIN",
    "WECHAT_API_KEYS", "WECHAT_METRICS", "WECHAT_RENEWAL_CONCURRENCY", "WECHAT_RENEWAL_RATE", "WECHAT_ACCOUNT_NAME",
    "WECHAT_IP_DB",
)
ENCRYPTION_MODES = ("plaintext", "compatible", "safe")
# How the admin panel names each mode (消息加解密方式).
PANEL_NAMES = {"plaintext": "明文模式", "compatible": "兼容模式", "safe": "安全模式"}

# A setting by its name: its value, stripped, or None when it is unset or blank.
_Get = Callable[[str], "str | None"]

_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")
_APPID = re.compile(r"wx[A-Za-z0-9]{16}")
_SECRET = re.compile(r"[A-Za-z0-9]{32}")
_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")
_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_VERIFY_FILE = re.compile(r"MP_verify_[A-Za-z0-9]{1,64}\.txt")


class Account(NamedTuple):
    """The official account's three credentials, all set."""

    token: str
    appid: str
    secret: str


@dataclass(frozen=True)
class Settings:
    token: str | None
    appid: str | None
    secret: str | None
    aes_key: str | None
    aes_key_previous: str | None
    timestamp_tolerance: int
    public_base_url: str | None
    ngrok_api_url: str
    redis_url: str | None
    api_base: str
    open_base: str
    secret_key: str | None
    var_dir: Path
    trusted_proxies: int = 0
    log_format: str = "text"
    url_prefix: str = ""
    encryption: str = "plaintext"  # plaintext, compatible or safe: the mode picked in the admin panel
    verify_file: str | None = None  # MP_verify_<code>.txt, served at the site's root
    qr_login: bool = True  # desktop browsers may sign in by scanning the account's QR code
    api_keys: tuple[tuple[str, str], ...] = ()  # the token service's callers: (name, SHA-256 of the key)
    metrics: bool = True  # GET {prefix}/metrics
    renewal_concurrency: int = defaults.RENEWAL_CONCURRENCY  # refreshes in flight at once, per worker process
    renewal_rate: int = defaults.RENEWAL_RATE  # refreshes started a second, per worker process
    account_name: str | None = None  # the account's name as users find it in WeChat (公众号名称)
    ip_db: str | None = None  # an ip2region .xdb file: a computer's place from its IP address

    @classmethod
    def load(cls, overrides: Mapping[str, str] | None = None) -> Settings:
        """Read overrides, then the process environment, then ./.env; raise ConfigError on a bad value."""
        env = {**dotenv_values(".env"), **os.environ, **(overrides or {})}
        get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731
        settings = cls(
            token=_match(get, "WECHAT_TOKEN", _TOKEN, "must be 3-32 letters or digits"),
            appid=_match(get, "WECHAT_APPID", _APPID, "must be 'wx' followed by 16 letters or digits"),
            secret=_match(get, "WECHAT_SECRET", _SECRET, "must be 32 letters or digits"),
            aes_key=_match(get, "WECHAT_ENCODING_AES_KEY", _AES_KEY, "must be exactly 43 letters or digits"),
            aes_key_previous=_match(
                get, "WECHAT_ENCODING_AES_KEY_PREVIOUS", _AES_KEY, "must be exactly 43 letters or digits"
            ),
            timestamp_tolerance=_seconds(get, "WECHAT_TIMESTAMP_TOLERANCE", defaults.TIMESTAMP_TOLERANCE),
            public_base_url=_url(get, "PUBLIC_BASE_URL", ("http", "https")),
            ngrok_api_url=_url(get, "NGROK_API_URL", ("http", "https")) or "http://127.0.0.1:4040",
            redis_url=_redis_url(get),
            api_base=_url(get, "WECHAT_API_BASE", ("http", "https")) or "https://api.weixin.qq.com",
            open_base=_url(get, "WECHAT_OPEN_BASE", ("http", "https")) or "https://open.weixin.qq.com",
            secret_key=get("SECRET_KEY"),
            var_dir=Path("var").resolve(),
            trusted_proxies=_seconds(get, "TRUSTED_PROXIES", 0),
            log_format=_choice(get, "LOG_FORMAT", ("text", "json"), "text"),
            url_prefix=_prefix(get),
            encryption=_choice(get, "WECHAT_ENCRYPTION", ENCRYPTION_MODES,
                               "compatible" if get("WECHAT_ENCODING_AES_KEY") else "plaintext"),
            verify_file=_match(get, "WECHAT_VERIFY_FILE", _VERIFY_FILE,
                               "must be the file's name as WeChat gave it, MP_verify_<code>.txt"),
            qr_login=_choice(get, "WECHAT_QR_LOGIN", ("on", "off"), "on") == "on",
            api_keys=_api_keys(get("WECHAT_API_KEYS")),
            metrics=_choice(get, "WECHAT_METRICS", ("on", "off"), "on") == "on",
            renewal_concurrency=_count(get, "WECHAT_RENEWAL_CONCURRENCY", defaults.RENEWAL_CONCURRENCY,
                                       defaults.RENEWAL_CONCURRENCY_MAX, "threads in one worker process"),
            renewal_rate=_count(get, "WECHAT_RENEWAL_RATE", defaults.RENEWAL_RATE, defaults.RENEWAL_RATE_SHARED,
                                "WeChat allows 50,000 refreshes a minute for all workers together"),
            account_name=_account_name(get("WECHAT_ACCOUNT_NAME")),
            ip_db=_ip_db(get("WECHAT_IP_DB")),
        )
        settings._check_consistency()
        return settings

    @classmethod
    def for_app(cls, config: Mapping[str, object], overrides: Mapping[str, str] | None = None) -> Settings:
        """An application's settings: `overrides`, then its app.config, then the environment, then ./.env."""
        placeholders = [name for name in NAMES if config.get(name) is Ellipsis]
        if placeholders:
            raise ConfigError(f"{placeholders[0]}: app.config holds `...`, the README's placeholder; put the real "
                              "value there (or leave WECHAT_TOKEN, WECHAT_APPID and WECHAT_SECRET out: the sandbox)")
        from_config = {name: str(config[name]) for name in NAMES if config.get(name) not in (None, "")}
        try:
            return cls.load({**from_config, **(overrides or {})})
        except ConfigError as error:
            if str(error).split(":", 1)[0] in from_config:
                raise ConfigError(f"{error} (set in app.config)") from None
            raise

    @property
    def missing_credentials(self) -> list[str]:
        """The names of the WeChat credentials not set (WECHAT_TOKEN, WECHAT_APPID, WECHAT_SECRET)."""
        values = dict(zip(CREDENTIALS, (self.token, self.appid, self.secret), strict=True))
        return [name for name, value in values.items() if not value]

    @property
    def account(self) -> Account:
        """The credentials, typed as set: what the parts built after the start-up check read (in the sandbox, its
        own account's); before they are set, the one line that stops a server (missing_credentials_error)."""
        if self.token and self.appid and self.secret:
            return Account(self.token, self.appid, self.secret)
        raise self.missing_credentials_error()

    def missing_credentials_error(self) -> ConfigError:
        """The one line that stops a server with no WeChat credentials (outside the sandbox)."""
        return ConfigError(f"{', '.join(self.missing_credentials)}: not set "
                           "(put them in app.config, the environment or .env)")

    @property
    def refuses_plaintext(self) -> bool:
        """Safe mode: every genuine push is encrypted, so a plaintext one is forged."""
        return self.encryption == "safe"

    def _check_consistency(self) -> None:
        missing = self.missing_credentials
        if missing and len(missing) < len(CREDENTIALS):
            raise ConfigError(f"{missing[0]}: not set, but {_others(missing)} set; set all three or none")
        if self.aes_key_previous and not self.aes_key:
            raise ConfigError("WECHAT_ENCODING_AES_KEY_PREVIOUS: set without WECHAT_ENCODING_AES_KEY")
        if self.encryption != "plaintext" and not self.aes_key:
            raise ConfigError(f"WECHAT_ENCRYPTION: {self.encryption} needs WECHAT_ENCODING_AES_KEY")
        if self.aes_key and missing:
            raise ConfigError("WECHAT_ENCODING_AES_KEY: set, but safe mode also needs WECHAT_TOKEN and WECHAT_APPID")


def _others(missing: list[str]) -> str:
    present = [name for name in CREDENTIALS if name not in missing]
    return " and ".join(present) + (" is" if len(present) == 1 else " are")


def _match(get: _Get, name: str, pattern: re.Pattern[str], rule: str) -> str | None:
    value = get(name)
    if value is not None and not pattern.fullmatch(value):
        raise ConfigError(f"{name}: {rule} (got {len(value)} characters)")
    return value


def _seconds(get: _Get, name: str, default: int) -> int:
    """A whole number, 0 or more (seconds, or a count)."""
    value = get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()):  # str.isdigit() alone accepts ², which int() refuses
        raise ConfigError(f"{name}: must be a whole number, 0 or more")
    return int(value)


_CALLER = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_API_KEY = re.compile(r"[\x21-\x7e]{32,256}")


def _api_keys(value: str | None) -> tuple[tuple[str, str], ...]:
    """WECHAT_API_KEYS, `name:key[,name:key…]`: each key kept only as its SHA-256; a message never shows a key, nor
    a name (a key written first, `key:name`, is in the name's place: secrets.token_hex(16) fits a name)."""
    if value is None:
        return ()
    found: dict[str, str] = {}
    for number, entry in enumerate(value.split(","), 1):
        name, colon, key = entry.strip().partition(":")
        if not colon or not _CALLER.fullmatch(name):
            raise ConfigError(f"WECHAT_API_KEYS: entry {number} must be name:key, the name 1-32 letters, digits, "
                              "'_', '-' or '.'")
        if not _API_KEY.fullmatch(key) or "," in key:
            raise ConfigError(f"WECHAT_API_KEYS: the key of entry {number} must be 32-256 printable characters, "
                              "no space or comma (python -c 'import secrets; print(secrets.token_urlsafe(32))' "
                              "makes one)")
        if name in found:
            raise ConfigError(f"WECHAT_API_KEYS: entry {number} repeats an earlier name")
        found[name] = hashlib.sha256(key.encode()).hexdigest()
    return tuple(found.items())
def _count(get: _Get, name: str, default: int, most: int, why: str) -> int:
    """A whole number from 1 to `most`."""
    value = get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= most:
        raise ConfigError(f"{name}: must be a whole number from 1 to {most} ({why})")
    return int(value)


def _account_name(value: str | None) -> str | None:
    if value is not None and (len(value) > 30 or not value.isprintable()):
        raise ConfigError("WECHAT_ACCOUNT_NAME: the account's name as WeChat shows it, at most 30 characters, one line")
    return value


def _ip_db(value: str | None) -> str | None:
    if not value:
        return None
    from .qr_login.computer import check_ip_db

    problem = check_ip_db(value)
    if problem:
        raise ConfigError(f"WECHAT_IP_DB: {problem}")
    return value


def _choice(get: _Get, name: str, choices: tuple[str, ...], default: str) -> str:
    value = get(name)
    if value is None:
        return default
    if value not in choices:
        raise ConfigError(f"{name}: must be one of {', '.join(choices)}")
    return value


def _url(get: _Get, name: str, schemes: tuple[str, ...]) -> str | None:
    value = get(name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"{name}: must start with {' or '.join(s + '://' for s in schemes)} and name a host")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name}: must not carry a query or fragment")
    return value.rstrip("/")


def _prefix(get: _Get) -> str:
    value = get("WECHAT_URL_PREFIX")
    if value is None or value == "/":
        return ""
    if not _PREFIX.fullmatch(value.rstrip("/")):
        raise ConfigError("WECHAT_URL_PREFIX: must be a path such as /wx (letters, digits, . _ ~ -)")
    return value.rstrip("/")


def _redis_url(get: _Get) -> str | None:
    value = get("REDIS_URL")
    if value is None:
        return None
    try:
        scheme = urlsplit(value).scheme
    except ValueError as error:  # a broken IPv6 host; the message never repeats the URL, which may hold a password
        raise ConfigError(f"REDIS_URL: not a valid URL ({error})") from None
    if scheme in ("redis", "rediss", "unix"):
        from redis.connection import parse_url

        try:
            parse_url(value)  # a port out of range, a query value redis-py cannot read
        except ValueError as error:
            raise ConfigError(f"REDIS_URL: not a valid Redis URL ({error})") from None
    if scheme == "redis+sentinel":
        from .storage.sentinel import parse

        try:
            parse(value)
        except ValueError as error:
            raise ConfigError(f"REDIS_URL: {error}") from None
    elif scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL: must start with redis://, rediss://, unix:// or redis+sentinel://")
    return value
