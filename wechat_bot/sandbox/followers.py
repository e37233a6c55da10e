"""The sandbox's follower APIs: `user/info` (subscribe state from the follows and unfollows the chat page sent)
and `template/send` (to followers, with a template the account has added; 40037 for any other)."""
from __future__ import annotations

from typing import Any

from flask import request

from .api import _account_token_refused, _known, _posted_json, answer, api, error, store


@api("/cgi-bin/message/template/send", "POST")
def template_send():
    message, refused = _posted_json()
    if refused:
        return refused
    if not isinstance(message, dict) or not message.get("touser"):
        return error(44002 if not message else 47001)
    if not store().template_known(str(message.get("template_id") or "")):
        return error(40037)
    openid = str(message["touser"])
    if not _known(openid):
        return error(40003)
    if not store().follower(openid).get("subscribe"):
        return error(43004)  # template messages go to followers only
    return answer({"errcode": 0, "errmsg": "ok", "msgid": store().record_template(message)})


@api("/cgi-bin/user/info", "GET")
def user_info():
    """A follower's subscribe state; since 2021-12-27 WeChat no longer gives nickname or headimgurl here."""
    refused = _account_token_refused()
    if refused is not None:
        return refused
    openid = request.args.get("openid", "")
    if not openid:
        return error(41009)
    if not _known(openid):
        return error(40003)
    user, follower = store().user(openid), store().follower(openid)
    body: dict[str, Any] = {"subscribe": follower.get("subscribe", 0), "openid": openid}
    if follower.get("subscribe"):
        body.update(language="zh_CN", subscribe_time=follower["subscribe_time"], remark="", groupid=0,
                    tagid_list=[], subscribe_scene="ADD_SCENE_OTHERS", qr_scene=0, qr_scene_str="")
    if user.get("unionid"):
        body["unionid"] = user["unionid"]
    return answer(body)
