"""A relayed sign-in code (issue 29): an attacker shows their own browser's code to a victim. The victim is shown
which computer they would let in, warned that it is not on their phone's network, told in chat afterwards, and
can sign it out from the phone, which ends it on every host at its next request."""
from __future__ import annotations

import re
import time

import requests
from flask import jsonify

from tests.conftest import APPID, TOKEN
from tests.ip2region_xdb import write_xdb
from tests.test_qr_login import confirm_link, scene_of, status, wechat_phone
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

    deadline = time.monotonic() + 30  # …and the victim is told, in chat
    while not sandbox.sent("o_victim") and time.monotonic() < deadline:
        time.sleep(0.1)
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
