"""The token service (中控) for the account's other systems: the shared account token, one renewal for any number of
reports of a refused token, the jsapi_ticket, users' tokens; keys, 401s, limits, one log line naming the caller."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests import processes
from tests.conftest import APPID, CREDENTIALS, inside_one_window, project_root
from wechat_bot.oauth.tokens import TokenRecord, TokenStore
from wechat_bot.sandbox import Fault

KEY = "k" * 40
OTHER_KEY = "o" * 40
KEYS = f"crm:{KEY},erp:{OTHER_KEY}"
STABLE = "/cgi-bin/stable_token"


def bearer(key: str = KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def service(site):
    base, app = site({"WECHAT_API_KEYS": KEYS})
    return base, app


def test_no_key_or_a_wrong_key_is_a_401_that_says_nothing_more(service, push_log):
    base, _ = service
    for headers in ({}, bearer("x" * 40), {"Authorization": f"Basic {KEY}"}, {"Authorization": "Bearer "}):
        for path in ("/api/account-token", "/api/jsapi-ticket", "/api/users/o_x/token"):
            answer = requests.get(base + path, headers=headers, timeout=10)
            assert (answer.status_code, answer.json()) == (401, {"error": "unauthorized"})
    assert KEY not in push_log.text and "x" * 40 not in push_log.text


def test_without_keys_there_is_no_token_service(site):
    base, _ = site()
    assert requests.get(base + "/api/account-token", headers=bearer(), timeout=10).status_code == 404


def test_the_account_token_is_the_one_every_worker_uses_and_each_call_is_one_log_line(service, push_log):
    base, app = service
    answer = requests.get(base + "/api/account-token", headers=bearer(), timeout=10)
    token = answer.json()["access_token"]
    assert answer.status_code == 200 and token == app.extensions["wechat_bot"].account_token.get()
    assert answer.json()["expires_at"] > time.time() + 3600
    lines = [r.getMessage() for r in push_log.records if r.name == "wechat_bot.token_service"]
    assert lines == ["token service: caller=crm GET /api/account-token -> 200"]
    assert token not in push_log.text and KEY not in push_log.text


def test_thirty_reports_on_two_processes_renew_once_and_all_get_the_new_token(tmp_path, redis, sandbox):
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url, WECHAT_API_KEYS=KEYS)
    with processes.run_py_servers(2, tmp_path, env) as bases:
        old = requests.get(bases[0] + "/api/account-token", headers=bearer(), timeout=10).json()["access_token"]
        calls = sandbox.calls(STABLE)
        sandbox.inject(STABLE, Fault(delay=0.5))  # the renewal is slow: the other reports arrive meanwhile
        barrier = threading.Barrier(30)

        def report(n: int) -> requests.Response:
            barrier.wait()
            return requests.post(bases[n % 2] + "/api/account-token/invalid", json={"access_token": old},
                                 headers=bearer(KEY if n % 3 else OTHER_KEY), timeout=30)

        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(report, range(30)))
    assert [a.status_code for a in answers] == [200] * 30
    tokens = {a.json()["access_token"] for a in answers}
    assert len(tokens) == 1 and old not in tokens
    assert sandbox.calls(STABLE) - calls == 1
    assert sandbox.global_token_valid(tokens.pop())


def test_a_report_racing_another_processs_renewal_never_gets_the_reported_token_back(redis, sandbox):
    """Another process's renewal lands between this one's reads of the kept token (the clock is read between
    them): the reporter gets the new token, never the one it reported, which the 30-report test saw now and then."""
    import json

    from tests.conftest import APPID, SECRET
    from wechat_bot.account.token import KEY as TOKEN_KEY
    from wechat_bot.account.token import AccountToken
    from wechat_bot.storage.leases import Leases
    from wechat_bot.wechat_api import WeChatClient

    redis.set(TOKEN_KEY + APPID, json.dumps({"token": "OLD", "expires_at": time.time() + 7000}))
    landed = []

    def clock() -> float:
        if not landed:
            landed.append(True)
            redis.set(TOKEN_KEY + APPID, json.dumps({"token": "NEW", "expires_at": time.time() + 7200}))
        return time.time()
    client = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=2, budget=3)
    token, _ = AccountToken(redis, client, Leases(redis, APPID), clock=clock).renew_if_current("OLD")
    assert token == "NEW" and sandbox.calls(STABLE) == 0


def test_a_report_of_a_token_already_replaced_costs_no_call(service, sandbox):
    base, _ = service
    first = requests.get(base + "/api/account-token", headers=bearer(), timeout=10).json()["access_token"]
    renewed = requests.post(base + "/api/account-token/invalid", json={"access_token": first}, headers=bearer(),
                            timeout=10).json()["access_token"]
    calls = sandbox.calls(STABLE)
    again = requests.post(base + "/api/account-token/invalid", json={"access_token": first}, headers=bearer(),
                          timeout=10)
    assert again.json()["access_token"] == renewed != first and sandbox.calls(STABLE) == calls
    bad = requests.post(base + "/api/account-token/invalid", data="nope", headers=bearer(), timeout=10)
    assert bad.status_code == 400 and "access_token" in bad.json()["error"]


def test_the_jsapi_ticket_is_the_shared_one(service, sandbox):
    base, app = service
    answer = requests.get(base + "/api/jsapi-ticket", headers=bearer(), timeout=10)
    assert answer.status_code == 200
    assert answer.json()["ticket"] == app.extensions["wechat_bot"].jsapi_ticket.get().ticket


def test_a_users_token_comes_back_renewed_or_as_409_with_a_link_or_404(service, sandbox, redis, phone):
    import re

    from tests.conftest import APPID, TOKEN
    from tests.wechat_client import WeChat, http_transport

    base, _ = service
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_api_user").says("登录").content
    assert phone("o_api_user").get(re.search(r'href="([^"]+)"', reply).group(1), timeout=10).status_code == 200
    store = TokenStore(redis, APPID)
    record = store.get("o_api_user")
    fresh = requests.get(base + "/api/users/o_api_user/token", headers=bearer(), timeout=10)
    assert fresh.json() == {"access_token": record.access_token, "expires_at": record.access_token_expires_at,
                            "scope": "snsapi_base"}
    store.save(TokenRecord(**{**record.__dict__, "access_token_expires_at": int(time.time()) - 1}))
    renewed = requests.get(base + "/api/users/o_api_user/token", headers=bearer(), timeout=10).json()
    assert renewed["access_token"] != record.access_token and renewed["expires_at"] > time.time()
    sandbox.expire_refresh_token("o_api_user")
    store.save(TokenRecord(**{**store.get("o_api_user").__dict__, "access_token_expires_at": int(time.time()) - 1}))
    gone = requests.get(base + "/api/users/o_api_user/token", headers=bearer(), timeout=10)
    assert gone.status_code == 409 and gone.json()["reauth_required"] is True
    assert gone.json()["authorize_url"].startswith(sandbox.url + "/connect/oauth2/authorize")
    assert "%2Fapi%2F" not in gone.json()["authorize_url"]  # the user does not land on this API
    missing = requests.get(base + "/api/users/o_nobody/token", headers=bearer(), timeout=10)
    assert missing.status_code == 404


@pytest.mark.parametrize("fault", [Fault(status=502), Fault(errcode=45009)])
def test_a_users_token_while_wechat_cannot_refresh_is_a_503_not_a_reauth(service, sandbox, redis, fault):
    base, _ = service
    now = int(time.time())
    TokenStore(redis, APPID).save(TokenRecord(openid="o_due", scope="snsapi_base", access_token="A", refresh_token="R",
                                       access_token_expires_at=now - 1, refresh_token_expires_at=now + 30 * 86400,
                                       consented_at=now))
    sandbox.inject("/sns/oauth2/refresh_token", fault, times=50)
    answer = requests.get(base + "/api/users/o_due/token", headers=bearer(), timeout=30)
    assert answer.status_code == 503 and "reauth_required" not in answer.json(), answer.text
    assert TokenStore(redis, APPID).get("o_due").status != "reauth_required"


def test_calls_are_limited_per_caller(service):
    from wechat_bot import defaults

    base, _ = service
    limit = defaults.TOKEN_SERVICE_RATE_LIMIT
    inside_one_window(defaults.TOKEN_SERVICE_RATE_WINDOW, needed=20)
    statuses = [requests.get(base + "/api/users/o_none/token", headers=bearer(), timeout=10).status_code
                for _ in range(limit + 1)]
    assert statuses == [404] * limit + [429]
    assert requests.get(base + "/api/users/o_none/token", headers=bearer(OTHER_KEY), timeout=10).status_code == 404


def test_tokens_account_prints_the_shared_token_masked_unless_revealed(tmp_path, redis, sandbox):
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url)

    def run(*args):
        return subprocess.run([sys.executable, str(project_root() / "run.py"), "tokens", "account", *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    masked, revealed = run(), run("--reveal")
    assert masked.returncode == 0 and revealed.returncode == 0, masked.stderr
    token = revealed.stdout.splitlines()[0].split(": ", 1)[1]
    assert sandbox.global_token_valid(token) and token not in masked.stdout
    assert masked.stdout.splitlines()[1].startswith("expires_at: ")


def test_the_readmes_wechatpy_example_runs_against_the_sandbox(service, sandbox):
    """The docs' wechatpy block (docs/guide/token-service.md, moved there from the README), run as written (its three
    settings pointed here): wechatpy's calls carry our token, and a 40001 is reported to us and retried with the new
    one, never fetched by wechatpy itself."""
    import re

    from tests.conftest import APPID

    text = (project_root() / "docs/guide/token-service.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(# wechatpy，账号 token 来自 wechat_bot 的 token 中控.*?)```", text, re.S).group(1)
    base, app = service
    block = re.sub(r'^BOT = .*$', f'BOT = "{base}"', block, flags=re.M)
    block = re.sub(r'^KEY = .*$', f'KEY = "{KEY}"', block, flags=re.M)
    block = re.sub(r'^APPID = .*$', f'APPID = "{APPID}"', block, flags=re.M)
    namespace: dict = {}
    exec(compile(block, "docs/guide/token-service.md", "exec"), namespace)
    client = namespace["client"]
    client.API_BASE_URL = sandbox.url + "/cgi-bin/"
    menu = {"button": [{"type": "click", "name": "今日", "key": "TODAY"}]}
    assert client.menu.create(menu)["errcode"] == 0
    ours = app.extensions["wechat_bot"].account_token.get()
    sandbox.global_token(force=True)  # another party forced a new token: ours dies in 5 minutes…
    sandbox.redis.delete(f"wechat_sandbox:{APPID}:global-valid:{ours}")  # …now, for this test
    cgi_token_calls = sandbox.calls("/cgi-bin/token")
    assert client.menu.get()["menu"]["button"][0]["key"] == "TODAY"  # 40001, reported, renewed, retried
    assert app.extensions["wechat_bot"].account_token.get() != ours
    assert sandbox.calls("/cgi-bin/token") == cgi_token_calls


def test_reports_cannot_force_renewals_faster_than_wechat_allows(service, sandbox, redis, push_log):
    """WeChat allows a forced stable_token every 30 s, 20 a day: a caller reporting every token it gets does not make
    every system's token change at will."""
    base, _ = service
    first = requests.get(base + "/api/account-token", headers=bearer(), timeout=10).json()["access_token"]
    report = lambda token: requests.post(base + "/api/account-token/invalid", json={"access_token": token},  # noqa: E731
                                         headers=bearer(), timeout=10).json()["access_token"]
    second = report(first)
    calls = sandbox.calls(STABLE)
    assert second != first and report(second) == second and sandbox.calls(STABLE) == calls
    assert "not acted on" in push_log.text
    redis.delete(f"wechat_bot:account_token:{APPID}:forced")  # 30 s later…
    sandbox.allow_forced_refresh()  # and for the sandbox WeChat too
    from time import gmtime, strftime
    redis.set(f"wechat_bot:account_token:{APPID}:forced:" + strftime("%Y%m%d", gmtime()), 20)  # …20 used today
    assert report(second) == second and sandbox.calls(STABLE) == calls


def test_one_caller_cannot_spend_the_days_forced_renewals_of_all(service, sandbox, redis):
    """WeChat's 20 forced renewals a day are the account's: one system reporting every token it gets spends at most
    its own share, and another system's genuine report still gets a new token."""
    from wechat_bot import defaults

    base, _ = service
    report = lambda token, key=KEY: requests.post(base + "/api/account-token/invalid",  # noqa: E731
                                                  json={"access_token": token}, headers=bearer(key), timeout=10)
    token = requests.get(base + "/api/account-token", headers=bearer(), timeout=10).json()["access_token"]
    for _ in range(defaults.TOKEN_SERVICE_FORCES_PER_CALLER):
        redis.delete(f"wechat_bot:account_token:{APPID}:forced")  # 30 s pass between reports
        sandbox.allow_forced_refresh()  # and for the sandbox WeChat too
        answer = report(token)
        assert answer.status_code == 200 and answer.json()["access_token"] != token
        token = answer.json()["access_token"]
    redis.delete(f"wechat_bot:account_token:{APPID}:forced")
    sandbox.allow_forced_refresh()  # and for the sandbox WeChat too
    calls = sandbox.calls(STABLE)
    refused = report(token)
    assert refused.status_code == 429 and "forced renewals" in refused.json()["error"]
    assert sandbox.calls(STABLE) == calls  # nothing forced for it
    other = report(token, OTHER_KEY)
    assert other.status_code == 200 and other.json()["access_token"] != token


def test_unknown_calls_under_api_say_nothing_without_a_key_and_are_json_with_one(service):
    base, _ = service
    for method, path in (("GET", "/api/nothing"), ("POST", "/api/account-token"), ("DELETE", "/api/jsapi-ticket")):
        anonymous = requests.request(method, base + path, timeout=10)
        assert (anonymous.status_code, anonymous.json()) == (401, {"error": "unauthorized"})
        keyed = requests.request(method, base + path, headers=bearer(), timeout=10)
        assert keyed.status_code == 404 and "no such call" in keyed.json()["error"]
