"""A relayed sign-in code (issue 29): an attacker shows their own browser's code to a victim. The victim is shown
which computer they would let in, warned that it is not on their phone's network, told in chat afterwards, and
can sign it out from the phone, which ends it on every host at its next request."""
from __future__ import annotations

import re

import pytest
import requests
from flask import jsonify

from tests.conftest import APPID, TOKEN
from tests.ip2region_xdb import write_xdb
from tests.test_qr_login import confirm_link, scene_of, status, wechat_phone
from tests.waiting import wait_until
from tests.wechat_client import WeChat, http_transport
from wechat_bot import WeChatBot

ATTACKER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/120.0.0.0 Safari/537.36", "X-Forwarded-For": "203.0.113.7"}
VICTIM_PHONE = "198.51.100.9"


def with_a_private_page(app) -> None:
    guard = WeChatBot().login_required  # the extension keeps no app: any instance guards any app's page

    @app.get("/private")
    @guard
    def private():
        return jsonify(user=_signed_in())


def _signed_in():
    from flask import session

    return session.get("wechat_openid")


def test_the_victim_sees_the_other_computer_is_told_and_signs_it_out_everywhere(site, sandbox, tmp_path):
    xdb = write_xdb(tmp_path / "ip.xdb", {"203.0.113.0/24": "中国|0|上海|上海市|电信",
                                          "198.51.100.0/24": "中国|0|广东省|深圳市|移动"})
    base, app = site({"WECHAT_IP_DB": str(xdb)})
    other_base, other_app = site({"WECHAT_IP_DB": str(xdb)})  # a second host on the same Redis
    with_a_private_page(app)
    with_a_private_page(other_app)

    attacker = requests.Session()
    attacker.headers.update(ATTACKER)
    page = attacker.get(f"{base}/oauth/qr", params={"next": "/private"}, timeout=10)
    url = re.search(r'data-url="([^"]+)"', page.text).group(1)
    sandbox.interacted("o_victim")
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_victim").event("SCAN", scene_of(sandbox, url),
                                                                                  Ticket="gQx")
    assert "Windows · Chrome · 203.0.113.7 · 上海" in reply.content  # named in chat before anything is confirmed

    phone = wechat_phone("o_victim")
    phone.headers["X-Forwarded-For"] = VICTIM_PHONE
    confirm = phone.get(confirm_link(reply.content), timeout=10)
    assert 'id="computer" class="value">Windows · Chrome · 203.0.113.7 · 上海<' in confirm.text
    assert 'id="elsewhere"' in confirm.text and "不在同一个网络" in confirm.text
    form = dict(re.findall(r'name="(scene|t)" value="([^"]+)"', confirm.text))
    done = phone.post(f"{base}/oauth/qr/confirm", data={**form, "decision": "confirm"}, timeout=10)
    assert "已确认登录" in done.text  # the victim confirmed despite the warning: the attacker is in…
    assert status(attacker, base)["state"] == "confirmed"
    assert attacker.get(f"{base}/private", timeout=10).json() == {"user": "o_victim"}
    assert attacker.get(f"{other_base}/private", timeout=10).json() == {"user": "o_victim"}

    wait_until(lambda: sandbox.sent("o_victim"), "the sign-in notice")  # …and the victim is told, in chat
    [notice] = sandbox.sent("o_victim")
    text = notice["text"]["content"]
    assert "Windows · Chrome · 203.0.113.7 · 上海" in text and "点此让它退出" in text
    sessions_url = re.search(r'<a href="([^"]+)">', text).group(1)
    assert sessions_url == f"{base}/oauth/qr/sessions"

    listed = phone.get(sessions_url, timeout=10)
    assert listed.status_code == 200 and "Windows · Chrome · 203.0.113.7 · 上海" in listed.text
    sid = re.search(r'name="sid" value="([^"]+)"', listed.text).group(1)
    ended = phone.post(f"{base}/oauth/qr/sessions/end", data={"sid": sid}, timeout=10)
    assert ended.status_code == 200 and 'id="ended"' in ended.text and 'id="none"' in ended.text

    for host in (other_base, base):  # thrown out at its next request, on any host
        thrown_out = attacker.get(f"{host}/private", allow_redirects=False, timeout=10)
        assert thrown_out.status_code == 302 and "/oauth/qr" in thrown_out.headers["Location"]


def test_the_confirm_page_stores_one_authorize_state_per_scene_and_phone(site, sandbox, redis):
    base, _ = site()
    desktop = requests.Session()
    desktop.headers.update(ATTACKER)
    url = re.search(r'data-url="([^"]+)"', desktop.get(f"{base}/oauth/qr", timeout=10).text).group(1)
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_victim").event("SCAN", scene_of(sandbox, url),
                                                                                  Ticket="gQx")
    phone = wechat_phone("o_victim")
    before = len(redis.keys(f"wechat_bot:{APPID}:oauth:state:*"))
    for _ in range(100):  # the confirm link opened again and again, never followed through
        assert phone.get(confirm_link(reply.content), allow_redirects=False, timeout=10).status_code == 302
    assert len(redis.keys(f"wechat_bot:{APPID}:oauth:state:*")) == before + 1


def relay(base, sandbox, browser: requests.Session, openid: str = "o_victim", poll: bool = True) -> requests.Session:
    """`browser` shows a code, `openid` scans and confirms it on the phone, and (`poll`) the browser's next poll
    signs it in. The phone."""
    url = re.search(r'data-url="([^"]+)"', browser.get(f"{base}/oauth/qr", timeout=10).text).group(1)
    sandbox.interacted(openid)
    reply = WeChat(http_transport(base), TOKEN, APPID, openid=openid).event("SCAN", scene_of(sandbox, url),
                                                                          Ticket="gQx")
    phone = wechat_phone(openid)
    confirm = phone.get(confirm_link(reply.content), timeout=10)
    form = dict(re.findall(r'name="(scene|t)" value="([^"]+)"', confirm.text))
    phone.post(f"{base}/oauth/qr/confirm", data={**form, "decision": "confirm"}, timeout=10)
    assert not poll or status(browser, base)["state"] == "confirmed"
    return phone


def test_the_notice_links_to_the_site_the_chat_named_whatever_host_the_desktop_sends(site, sandbox):
    base, _ = site()
    attacker = requests.Session()
    attacker.headers.update(ATTACKER)
    relay(base, sandbox, attacker, poll=False)
    cookie = "; ".join(f"{c.name}={c.value}" for c in attacker.cookies)
    polled = requests.get(f"{base}/oauth/qr/status", headers={**ATTACKER, "Host": "evil.example", "Cookie": cookie},
                          timeout=10)
    assert polled.json()["state"] == "confirmed"  # signed in by a poll naming another host…
    wait_until(lambda: sandbox.sent("o_victim"), "the sign-in notice")
    [notice] = sandbox.sent("o_victim")
    assert "evil.example" not in notice["text"]["content"]  # …the victim's sign-out link is still the site's
    assert f'href="{base}/oauth/qr/sessions"' in notice["text"]["content"]


def test_a_browser_signed_in_by_scan_can_neither_list_nor_end_the_users_computers(site, sandbox):
    base, _ = site()
    legit = requests.Session()
    legit.headers.update({"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15"})
    phone = relay(base, sandbox, legit)
    attacker = requests.Session()
    attacker.headers.update(ATTACKER)
    relay(base, sandbox, attacker)
    listed = attacker.get(f"{base}/oauth/qr/sessions", allow_redirects=False, timeout=10)
    assert listed.status_code in (302, 403) and "Mac OS X" not in listed.text  # asked who it is, not shown
    sids = re.findall(r'name="sid" value="([^"]+)"', phone.get(f"{base}/oauth/qr/sessions", timeout=10).text)
    assert len(sids) == 2
    for sid in sids:
        ended = attacker.post(f"{base}/oauth/qr/sessions/end", data={"sid": sid}, allow_redirects=False, timeout=10)
        assert ended.status_code == 403
    assert len(re.findall(r'name="sid"', phone.get(f"{base}/oauth/qr/sessions", timeout=10).text)) == 2


@pytest.mark.parametrize("scene", ["who:x", "sessions:{o_victim}", "chat:123456", "wbl"])
def test_a_scene_that_is_not_one_of_ours_names_no_key(site, sandbox, redis, scene):
    """The confirm page's `scene` names only a scene: not the other keys under qr: (a who-state, a user's desktop
    sessions, a chat code), which it would read as a scene (a 500, or a 503 for Redis's WRONGTYPE)."""
    base, _ = site()
    redis.set(f"wechat_bot:{APPID}:qr:who:x", "a state, not JSON")
    redis.hset(f"wechat_bot:{APPID}:qr:sessions:{{o_victim}}", "sid", "{}")
    redis.set(f"wechat_bot:{APPID}:qr:chat:123456", "wbl" + "0" * 32)
    for method in ("GET", "POST"):
        answer = requests.request(method, f"{base}/oauth/qr/confirm", params={"scene": scene, "t": "x"},
                                  data={"scene": scene, "t": "x"}, timeout=10)
        assert answer.status_code == 404


def test_a_user_who_signs_in_now_and_then_for_a_year_keeps_only_live_computers_in_redis(redis):
    """Entries past their 30 days go when the next one comes, not only when ten live ones crowd them out: a user
    signing in from a new browser every five days for a year leaves the six of the last 30 days, not 73."""
    from wechat_bot.qr_login.computer import Computer
    from wechat_bot.qr_login.desktop_sessions import DesktopSessions

    today = [1_800_000_000.0]
    sessions = DesktopSessions(redis, APPID, clock=lambda: today[0])
    for n in range(73):
        sessions.add("o_now_and_then", Computer(browser=f"Chrome {n}"))
        today[0] += 5 * 24 * 3600
    today[0] -= 5 * 24 * 3600
    live = [entry.computer.browser for entry in sessions.list("o_now_and_then")]
    assert live == [f"Chrome {n}" for n in range(72, 66, -1)]
    assert redis.hlen(f"wechat_bot:{APPID}:qr:sessions:{{o_now_and_then}}") == len(live)
