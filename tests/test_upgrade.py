"""An upgrade in place from 0.12, whose keys named no account: every user's tokens, the renewal schedule, menu
links and links in flight still work, the move happens once however many processes start at once, and a sandbox
pointed at the same Redis takes nothing."""
from __future__ import annotations

import json
import threading
import time

from tests.conftest import APPID
from wechat_bot import create_app
from wechat_bot.oauth.report import all_records
from wechat_bot.oauth.tokens import TokenRecord, TokenStore, reauth_key, schedule_key, user_key

STATE_TAG = "a" * 20  # 0.12's states begin with their slot tag


def written_by_0_12(redis) -> dict[str, TokenRecord]:
    """What 0.12 kept for three users (active, due now, sent to re-authorize), a menu link and a link in flight,
    key by key as 0.12 wrote them (wechat_bot/oauth/tokens.py and state.py at 0.12.0)."""
    now = int(time.time())
    records = {}
    for openid, status, expires in (("o_active", "active", now + 7000), ("o_due", "active", now + 200),
                                    ("o_gone", "reauth_required", now + 7000)):
        records[openid] = TokenRecord(openid, "snsapi_base", f"AT-{openid}", f"RT-{openid}", expires,
                                      now + 20 * 86400, now - 86400, status=status, updated_at=now - 7000)
        redis.set(f"wechat_bot:user:{{{openid}}}", records[openid].to_json(), exat=now + 27 * 86400)
        redis.zadd("wechat_bot:refresh:ends", {openid: now + 20 * 86400})
        if status == "active":
            redis.zadd("wechat_bot:renewal:due", {openid: records[openid].renew_at})
    redis.set("wechat_bot:reauth:{o_gone}", "snsapi_base", exat=now + 27 * 86400)
    redis.set("wechat_bot:oauth:menu_state:mmenu", json.dumps({"scope": "snsapi_base", "openid": None,
                                                              "next": None, "browser": None}))
    redis.set(f"wechat_bot:oauth:state:{{{STATE_TAG}}}" + "b" * 32,
              json.dumps({"scope": "snsapi_base", "openid": "o_new", "next": None, "browser": None}), ex=900)
    return records


def test_an_upgrade_in_place_keeps_tokens_schedule_and_links(redis, sandbox, site, phone):
    records = written_by_0_12(redis)
    base, app = site()
    services = app.extensions["wechat_bot"]
    assert not redis.keys("wechat_bot:user:*") and not redis.exists("wechat_bot:renewal:due")  # all moved
    store = services.tokens
    assert {r.openid for r in all_records(redis, store)} == set(records)
    assert store.get("o_active") == records["o_active"]
    assert redis.get(reauth_key(APPID, "o_gone")) == b"snsapi_base"
    assert redis.ttl(user_key(APPID, "o_active")) > 26 * 86400  # its time to live came along
    # the schedule came along: the due user is renewed (against the sandbox, which knows its refresh_token)
    sandbox.save_user("o_due")
    sandbox.redis.set(f"wechat_sandbox:{APPID}:rt:RT-o_due",
                      json.dumps({"openid": "o_due", "scope": "snsapi_base", "expires_at": time.time() + 86400}),
                      ex=86400)
    assert services.renewer().sweep().renewed == 1
    assert store.get("o_due").access_token != "AT-o_due"
    assert redis.zscore(schedule_key(APPID), "o_active") == records["o_active"].renew_at
    # the menu link and the link sent just before the upgrade still sign their users in
    for state, openid in (("mmenu", "o_menu"), (STATE_TAG + "b" * 32, "o_new")):
        code = sandbox.issue_code(openid, "snsapi_base")
        page = phone(openid).get(f"{base}/oauth/callback", params={"code": code, "state": state}, timeout=10)
        assert page.status_code == 200 and openid in page.text, page.text
        assert store.get(openid) is not None


def test_processes_starting_at_once_move_each_key_once(redis, make_app):
    written_by_0_12(redis)
    built, errors = [], []

    def start():
        try:
            built.append(make_app())
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(built) == 4
    store = TokenStore(redis, APPID)
    assert {r.openid for r in all_records(redis, store)} == {"o_active", "o_due", "o_gone"}
    assert redis.zcard(schedule_key(APPID)) == 2 and not redis.keys("wechat_bot:user:*")


def test_a_sandbox_on_a_shared_redis_takes_nothing_and_changes_nothing(redis, tmp_path):
    records = written_by_0_12(redis)
    before = {key: redis.dump(key) for key in redis.keys("*")}
    sandbox_app = create_app({"REDIS_URL": "redis://shared.example:6379"}, redis=redis, sandbox_origin=True)
    sandbox_store = sandbox_app.extensions["wechat_bot"].tokens
    assert sandbox_store.appid != APPID and list(all_records(redis, sandbox_store)) == []
    assert sandbox_store.get("o_active") is None
    sandbox_app.extensions["wechat_bot"].renewer().sweep()
    assert {key: redis.dump(key) for key in before} == before  # production's keys untouched
    # …and production, upgraded later, still takes them all
    production = create_app({"WECHAT_TOKEN": "tok123", "WECHAT_APPID": APPID,
                             "WECHAT_SECRET": "0123456789abcdef0123456789abcdef"}, redis=redis)
    assert {r.openid for r in all_records(redis, production.extensions["wechat_bot"].tokens)} == set(records)
    # two accounts of this version on one Redis: the sandbox's sweep and pages see none of production's users
    for openid in records:
        production.extensions["wechat_bot"].tokens.reschedule(openid, time.time() - 60)
    production_keys = {key: redis.dump(key) for key in redis.keys(f"wechat_bot:{APPID}:*")}
    assert sandbox_app.extensions["wechat_bot"].renewer().sweep().renewed == 0
    assert {key: redis.dump(key) for key in production_keys} == production_keys
    page = sandbox_app.test_client().get("/sandbox/api/tokens")
    assert page.status_code == 200 and "o_active" not in page.get_data(as_text=True)
