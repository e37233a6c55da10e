"""A push is answered before Flask's dispatch, unless the site has its own request hooks: then it goes through
Flask, so the hooks see it. Either way the answers are the same."""
from flask import request

from tests.conftest import APPID, TOKEN
from tests.test_hostile_input import GOOD, HOSTILE
from tests.wechat_client import WeChat, flask_transport, push_xml


def hooked(app) -> list:
    """The site's after_request hook: the paths it saw."""
    seen = []

    @app.after_request
    def site_hook(response):
        seen.append(request.path)
        response.headers["X-Site"] = "seen"
        return response
    return seen


def test_a_sites_request_hook_sees_every_push(make_app):
    app = make_app()
    seen = hooked(app)
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    assert "点此登录" in wechat.says("登录").content
    assert wechat.deliver(b"not XML").status == 400
    assert seen == ["/wechat", "/wechat"]
    response = app.test_client().post("/wechat?" + "&".join(f"{k}={v}" for k, v in wechat.query().items()),
                                      data=push_xml({**GOOD, "FromUserName": "o_bob", "MsgId": 7}))
    assert response.status_code == 200 and response.headers["X-Site"] == "seen"


def test_before_flask_and_through_flask_answer_alike(make_app):
    plain, through_flask = make_app(), make_app()
    hooked(through_flask)
    ways = [WeChat(flask_transport(app.test_client()), TOKEN, APPID) for app in (plain, through_flask)]
    bodies = {**HOSTILE, "over the limit": push_xml({**GOOD, "Content": "x" * 200_000}).encode()}
    for case, body in bodies.items():
        first, second = (way.deliver(body) for way in ways)
        assert (first.status, first.body) == (second.status, second.body), case
    forged = [way.deliver(way.fields("text", Content="hi"), query={**way.query(), "signature": "0" * 40})
              for way in ways]
    assert forged[0].status == forged[1].status == 403 and forged[0].body == forged[1].body
    replies = [way.says("hello") for way in ways]
    assert replies[0].status == replies[1].status == 200
    assert {**replies[0].fields, "CreateTime": ""} == {**replies[1].fields, "CreateTime": ""}
