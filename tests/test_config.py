"""Settings: names from the interface, read from the environment and ./.env, refused with one clear line."""
import subprocess
import sys

import pytest

from tests import processes
from tests.conftest import CREDENTIALS, project_root
from wechat_bot.config import Settings
from wechat_bot.errors import ConfigError

BAD = [
    ("WECHAT_TOKEN", "has spaces in it"),
    ("WECHAT_TOKEN", "ab"),
    ("WECHAT_TOKEN", "x" * 33),
    ("WECHAT_APPID", "not-an-appid"),
    ("WECHAT_SECRET", "short"),
    ("WECHAT_ENCODING_AES_KEY", "a" * 40),
    ("WECHAT_ENCODING_AES_KEY", "a" * 42 + "+"),
    ("WECHAT_TIMESTAMP_TOLERANCE", "-5"),
    ("WECHAT_TIMESTAMP_TOLERANCE", "five minutes"),
    ("WECHAT_TIMESTAMP_TOLERANCE", "²³"),  # str.isdigit() is true, int() refuses it
    ("TRUSTED_PROXIES", "¹"),
    ("REDIS_URL", "redis+sentinel://127.0.0.1:26379/mymaster/²"),
    ("PUBLIC_BASE_URL", "example.com"),
    ("PUBLIC_BASE_URL", "ftp://example.com"),
    ("NGROK_API_URL", "127.0.0.1:4040"),
    ("REDIS_URL", "localhost:6379"),
    ("WECHAT_API_BASE", "api.weixin.qq.com"),
    ("WECHAT_OPEN_BASE", "https://"),
    ("WECHAT_VERIFY_FILE", "abc123.txt"),
    ("WECHAT_VERIFY_FILE", "MP_verify_.txt"),
    ("WECHAT_VERIFY_FILE", "/home/me/Downloads/MP_verify_abc123.txt"),
    ("WECHAT_VERIFY_FILE", "MP_verify_abc123.txt.txt"),
    ("WECHAT_VERIFY_FILE", "MP_verify_../../etc.txt"),
    ("WECHAT_RENEWAL_CONCURRENCY", "0"),
    ("WECHAT_RENEWAL_CONCURRENCY", "lots"),
    ("WECHAT_RENEWAL_CONCURRENCY", "100000"),
    ("WECHAT_RENEWAL_RATE", "1000"),  # past WeChat's 50,000 a minute for all workers
    ("WECHAT_RENEWAL_RATE", "-5"),
    ("WECHAT_RENEWAL_RATE", "2.5"),
    ("WECHAT_RENEWAL_RATE", "²"),
    ("WECHAT_QR_LOGIN", "yes"),
    ("WECHAT_METRICS", "1"),
    ("WECHAT_API_KEYS", "crm"),
    ("WECHAT_API_KEYS", "crm:short"),
    ("WECHAT_API_KEYS", "0123456789abcdef0123456789abcdef:crm"),  # key:name, a token_hex(16) key first
    ("WECHAT_API_KEYS", "crm:" + "k" * 40 + ",0123456789abcdef0123456789abcdef:erp"),
    ("WECHAT_ACCOUNT_NAME", "店" * 31),
    ("WECHAT_ACCOUNT_NAME", "小店\t服务号"),
]


@pytest.mark.parametrize("name, value", BAD)
def test_a_malformed_value_is_refused_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as error:
        Settings.load({**CREDENTIALS, name: value})
    message = str(error.value)
    assert message.startswith(name + ":") and "\n" not in message
    if name in ("WECHAT_TOKEN", "WECHAT_SECRET", "WECHAT_ENCODING_AES_KEY") and len(value) > 2:
        assert value not in message  # a near-miss secret is still a secret
    if name == "WECHAT_API_KEYS":
        assert not [part for part in value.replace(",", ":").split(":") if len(part) >= 32 and part in message]


def test_the_previous_aes_key_needs_a_current_one():
    with pytest.raises(ConfigError, match="^WECHAT_ENCODING_AES_KEY_PREVIOUS:"):
        Settings.load({**CREDENTIALS, "WECHAT_ENCODING_AES_KEY_PREVIOUS": "a" * 43})


def test_partial_credentials_name_what_is_missing():
    with pytest.raises(ConfigError, match="^WECHAT_SECRET: not set"):
        Settings.load({"WECHAT_TOKEN": "tok123", "WECHAT_APPID": "wx0123456789abcdef"})


def test_defaults():
    settings = Settings.load(CREDENTIALS)
    assert settings.timestamp_tolerance == 300
    assert settings.api_base == "https://api.weixin.qq.com"
    assert settings.open_base == "https://open.weixin.qq.com"
    assert settings.ngrok_api_url == "http://127.0.0.1:4040"
    assert settings.redis_url is None and settings.aes_key is None
    assert settings.var_dir.name == "var"
    assert (settings.renewal_concurrency, settings.renewal_rate) == (64, 250)


def test_dotenv_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "WECHAT_TOKEN=fromdotenv\nWECHAT_APPID=wx0123456789abcdef\n"
        "WECHAT_SECRET=0123456789abcdef0123456789abcdef\nWECHAT_TIMESTAMP_TOLERANCE=60\n")
    monkeypatch.setenv("WECHAT_TIMESTAMP_TOLERANCE", "90")
    settings = Settings.load()
    assert settings.token == "fromdotenv" and settings.timestamp_tolerance == 90


def test_trailing_slash_of_a_base_url_is_dropped():
    assert Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://bot.example.com/"}).public_base_url == \
        "https://bot.example.com"


def run_py(*args, cwd, env_extra=None, timeout=30):
    return subprocess.run([sys.executable, str(project_root() / "run.py"), *args], cwd=cwd,
                          env=processes.clean_env(**(env_extra or {})), capture_output=True, text=True,
                          timeout=timeout)


def test_the_production_app_without_credentials_names_the_missing_variables():
    from wechat_bot import create_app

    with pytest.raises(ConfigError) as error:
        create_app()  # what gunicorn 'wechat_bot:create_app()' calls: no sandbox there
    message = str(error.value)
    assert all(name in message for name in ("WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_SECRET"))


def test_run_py_with_a_bad_value_stops_with_one_line(tmp_path):
    result = run_py("serve", cwd=tmp_path, env_extra={**CREDENTIALS, "WECHAT_ENCODING_AES_KEY": "x" * 40})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: WECHAT_ENCODING_AES_KEY: must be exactly 43 letters or digits (got 40 characters)"]
