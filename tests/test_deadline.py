"""WeChat's 5-second window: a handler that overruns is answered `success`, never late."""
import threading

from tests.conftest import APPID, TOKEN
from tests.wechat_client import WeChat, flask_transport
from wechat_bot.handlers import Router


def test_an_overrunning_handler_is_answered_success_and_logged(make_app, push_log):
    router, release, runs = Router(), threading.Event(), []

    @router.keyword("slow")
    def slow(msg):
        runs.append(msg)
        release.wait(5)
        return "too late"

    app = make_app(router=router, deadline=0.2)
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    fields, query = wechat.fields("text", Content="slow"), wechat.query()
    reply = wechat.deliver(fields, query=query)
    assert (reply.status, reply.body) == (200, b"success")
    assert "overran" in push_log.text and "outcome=overrun" in push_log.text

    retry = wechat.deliver(fields, query=query)
    assert retry.body == b"success" and len(runs) == 1
    release.set()


def test_a_handler_inside_the_window_is_answered_normally(make_app):
    router = Router()

    @router.keyword("quick")
    def quick(msg):
        return "done"

    wechat = WeChat(flask_transport(make_app(router=router, deadline=2.0).test_client()), TOKEN, APPID)
    assert wechat.says("quick").content == "done"
