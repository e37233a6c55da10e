"""One session key for every host: without SECRET_KEY it is made once and kept in Redis, so a user signed in on
one host behind a load balancer is signed in on the next; an upgrade keeps the key a host had under ./var/."""
import pytest

from tests.conftest import CREDENTIALS
from wechat_bot.check import run_checks
from wechat_bot.config import Settings


@pytest.fixture
def host(site, tmp_path, monkeypatch):
    """A host of its own (its own working directory, so its own ./var/) serving the site on the shared Redis."""
    def start(name: str, secret_key_file: str | None = None, overrides: dict | None = None) -> str:
        home = tmp_path / name
        (home / "var").mkdir(parents=True)
        if secret_key_file:
            (home / "var" / "secret_key").write_text(secret_key_file)  # what an earlier version made
        monkeypatch.chdir(home)
        base, app = site(overrides)

        @app.get("/account")
        def account():
            from flask import session
            return f"hello {session.get('wechat_openid', 'stranger')}"
        return base
    return start


def test_a_user_signed_in_on_one_host_is_signed_in_on_the_next(host, phone):
    first, second = host("host1"), host("host2")
    browser = phone()
    assert browser.get(f"{first}/oauth/login", params={"next": "/account"}, timeout=10).text == "hello o_alice"
    assert browser.get(f"{second}/account", timeout=10).text == "hello o_alice"


def test_an_upgraded_host_keeps_the_sessions_its_old_key_signed(host, phone):
    old = host("before", overrides={"SECRET_KEY": "the-key-var-held-before"})  # the earlier version, as it signed
    browser = phone()
    assert browser.get(f"{old}/oauth/login", params={"next": "/account"}, timeout=10).text == "hello o_alice"
    upgraded = host("upgraded", secret_key_file="the-key-var-held-before\n")
    assert browser.get(f"{upgraded}/account", timeout=10).text == "hello o_alice"
    another = host("another", secret_key_file="another-hosts-own-key")  # its key loses: Redis already has one
    assert browser.get(f"{another}/account", timeout=10).text == "hello o_alice"


def test_check_says_where_the_session_key_comes_from(redis, host, phone, monkeypatch):
    settings = Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://127.0.0.1:9"})
    assert any("session key: not made yet" in line for line in run_checks(settings, redis).lines())
    phone().get(f"{host('host1')}/oauth/login", params={"next": "/account"}, timeout=10)
    assert any(line.startswith("ok    session key: made once and kept in Redis")
               for line in run_checks(settings, redis).lines())
    monkeypatch.setenv("SECRET_KEY", "set-by-the-operator")
    lines = run_checks(Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://127.0.0.1:9"}), redis).lines()
    assert any(line.startswith("ok    session key: SECRET_KEY, as set") for line in lines)
    assert not any("set-by-the-operator" in line for line in lines)
