"""`wechat.client` in views and `ctx.client` in handlers: wechatpy's WeChatClient on the account token we keep,
talking to the sandbox WeChat over real HTTP; never a cgi-bin/token call of its own."""
from __future__ import annotations

import threading

import requests
from flask import Flask, jsonify

from tests.conftest import APPID, CREDENTIALS, TOKEN
from tests.wechat_client import WeChat, flask_transport
from wechat_bot import Router, WeChatBot

TEMPLATE = "TM_ORDER_SHIPPED"


def shop(sandbox, redis, router: Router | None = None) -> tuple[Flask, WeChatBot]:
    app = Flask("shop")
    app.config.update(CREDENTIALS, WECHAT_API_BASE=sandbox.url, WECHAT_OPEN_BASE=sandbox.url)
    wechat = WeChatBot(router=router)
    wechat.init_app(app, redis=redis)

    @app.post("/orders/<openid>/shipped")
    def shipped(openid: str):
        answer = wechat.client.message.send_template(openid, TEMPLATE, {"first": {"value": "已发货"}})
        return jsonify(msgid=answer["msgid"])
    return app, wechat


def test_a_view_sends_a_template_message_that_the_sandbox_shows(sandbox, redis, serve):
    sandbox.add_template(TEMPLATE)
    sandbox.interacted("o_alice")
    app, _ = shop(sandbox, redis)
    base = serve(app)
    answer = requests.post(base + "/orders/o_alice/shipped", timeout=10)
    assert answer.status_code == 200, answer.text
    sent = sandbox.templates_sent("o_alice")
    assert [message["template_id"] for message in sent] == [TEMPLATE]
    assert sent[0]["data"]["first"]["value"] == "已发货"
    assert sandbox.calls("/cgi-bin/stable_token") == 1 and sandbox.calls("/cgi-bin/token") == 0


def test_a_handler_sends_with_ctx_client_and_reads_credentials_without_an_app_context(sandbox, redis):
    sandbox.add_template(TEMPLATE)
    router = Router()
    seen = {}

    @router.keyword("发货")
    def ship(msg, ctx):
        ctx.client.message.send_template(msg.source, TEMPLATE, {"first": {"value": "到了"}})
        for name, ask in (("ctx", ctx.user), ("wechat", wechat.user)):
            try:
                ask(msg.source)
            except LookupError as error:  # UnknownUser: o_alice never authorized
                seen[name] = type(error).__name__
        return "已通知"

    app, wechat = shop(sandbox, redis, router)
    sandbox.interacted("o_alice")
    reply = WeChat(flask_transport(app.test_client()), TOKEN, APPID).says("发货")
    assert reply.content == "已通知"
    assert [message["template_id"] for message in sandbox.templates_sent("o_alice")] == [TEMPLATE]
    assert seen == {"ctx": "UnknownUser", "wechat": "UnknownUser"}


def test_another_system_taking_a_new_token_costs_one_stable_token_call_and_the_call_goes_through(sandbox, redis):
    sandbox.interacted("o_alice")
    app, wechat = shop(sandbox, redis)
    with app.app_context():
        client = wechat.client
        assert client.message.send_text("o_alice", "一")["errcode"] == 0
        ours = app.extensions["wechat_bot"].account_token.get()
        sandbox.global_token(force=True)  # another system forced a new token: ours dies in 5 minutes…
        sandbox.redis.delete(f"wechat_sandbox:{APPID}:global-valid:{ours}")  # …now, for this test
        before = sandbox.calls("/cgi-bin/stable_token")
        assert client.message.send_text("o_alice", "二")["errcode"] == 0  # 40001, reported, renewed, retried
        assert sandbox.calls("/cgi-bin/stable_token") == before + 1
        assert sandbox.calls("/cgi-bin/token") == 0
        assert app.extensions["wechat_bot"].account_token.get() != ours
    assert [message["text"]["content"] for message in sandbox.sent("o_alice")] == ["一", "二"]


def test_one_client_per_process_shared_by_threads_and_requests(sandbox, redis):
    app, wechat = shop(sandbox, redis)
    seen = []

    def ask() -> None:
        with app.app_context():
            seen.append(wechat.client)
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 1
    with app.test_request_context():
        assert wechat.client is seen[0]


GEVENT_SCRIPT = '''
from gevent import monkey
monkey.patch_all()
import gevent
from flask import Flask
from wechat_bot import WeChatBot
from wechat_bot.testing import WeChatUser

app = Flask("site")
app.config.update(TESTING=True)
wechat = WeChatBot(app)
user = WeChatUser(app, openid="oMany")
user.send("hi")  # opens the customer-service window: 5 messages in 48 hours
clients = []

def send(n):
    with app.app_context():
        clients.append(wechat.client)
        wechat.client.message.send_text("oMany", str(n))
gevent.joinall([gevent.spawn(send, n) for n in range(5)], raise_error=True)
assert len({id(c) for c in clients}) == 1, "one client"
assert sorted(int(m["text"]["content"]) for m in user.messages()) == list(range(5))
sandbox = app.extensions["wechat_sandbox"]
assert sandbox.calls("/cgi-bin/stable_token") == 1 and sandbox.calls("/cgi-bin/token") == 0
print("ok")
'''


def test_greenlets_share_one_client_and_one_token_fetch(tmp_path):
    import subprocess
    import sys

    from tests.conftest import project_root

    result = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project_root()), "HOME": str(tmp_path)},
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
