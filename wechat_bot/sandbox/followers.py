"""The sandbox's follower APIs: `user/info` and `user/info/batchget` (subscribe state from the follows and unfollows
the chat page sent, the follow's scene, remark and tags), `user/get`, `user/info/updateremark`, and `template/send`
(to followers, with a template the account has added; 40037 for any other)."""
from __future__ import annotations

from typing import Any

from flask import request

from ..storage.replies import text
from .api import answer, api, error, posted_json, store
from .keys import key
from .tags import tags_of

PAGE = 10000  # openids per user/get page, as WeChat gives them
BATCH = 100  # users per batchget
REMARK_LENGTH = 30


@api("/cgi-bin/message/template/send", "POST", errcodes=(40003, 40037, 43004, 44002, 47001))
def template_send():
    message, refused = posted_json()
    if refused:
        return refused
    if not isinstance(message, dict) or not message.get("touser"):
        return error(44002 if not message else 47001)
    if not store().template_known(str(message.get("template_id") or "")):
        return error(40037)
    openid = str(message["touser"])
    if not store().known(openid):
        return error(40003)
    if not store().follower(openid).get("subscribe"):
        return error(43004)  # template messages go to followers only
    return answer({"errcode": 0, "errmsg": "ok", "msgid": store().record_template(message)})


def user_info_body(openid: str) -> dict[str, Any]:
    """What user/info says of a user the account knows; since 2021-12-27 no nickname or headimgurl."""
    sandbox = store()
    user, follower = sandbox.user(openid), sandbox.follower(openid)
    body: dict[str, Any] = {"subscribe": follower.get("subscribe", 0), "openid": openid}
    if follower.get("subscribe"):
        scene = sandbox.follow_scene(openid)
        body.update(language="zh_CN", subscribe_time=follower["subscribe_time"], remark=remark(openid), groupid=0,
                    tagid_list=tags_of(openid), subscribe_scene="ADD_SCENE_QR_CODE" if scene else "ADD_SCENE_OTHERS",
                    qr_scene=int(scene) if scene.isdigit() else 0, qr_scene_str="" if scene.isdigit() else scene)
    if user.get("unionid"):
        body["unionid"] = user["unionid"]
    return body


def remark(openid: str) -> str:
    return text(store().redis.get(key(store().appid, "remark", openid)) or b"")


@api("/cgi-bin/user/info", "GET", errcodes=(40003, 41009))
def user_info():
    openid = request.args.get("openid", "")
    if not openid:
        return error(41009)
    if not store().known(openid):
        return error(40003)
    return answer(user_info_body(openid))


@api("/cgi-bin/user/info/batchget", "POST", errcodes=(40003, 40032, 44002, 47001))
def user_info_batch():
    body, refused = posted_json()
    if refused:
        return refused
    wanted = body.get("user_list") if isinstance(body, dict) else None
    if not isinstance(wanted, list) or not wanted:
        return error(44002 if not body else 47001)
    if len(wanted) > BATCH:
        return error(40032)
    openids = [str(item.get("openid", "")) if isinstance(item, dict) else "" for item in wanted]
    if not all(store().known(openid) for openid in openids):
        return error(40003)
    return answer({"user_info_list": [user_info_body(openid) for openid in openids]})


def followers() -> list[str]:
    """The openids following the account, in a stable order."""
    return [user["openid"] for user in store().users() if store().follower(user["openid"]).get("subscribe")]


@api("/cgi-bin/user/get", "GET", errcodes=())
def user_list():
    """Followers' openids, 10,000 a page after `next_openid`."""
    everyone, after = followers(), request.args.get("next_openid", "")
    start = everyone.index(after) + 1 if after in everyone else 0
    page = everyone[start:start + PAGE]
    body: dict[str, Any] = {"total": len(everyone), "count": len(page), "next_openid": page[-1] if page else ""}
    if page:
        body["data"] = {"openid": page}
    return answer(body)


@api("/cgi-bin/user/info/updateremark", "POST", errcodes=(40003, 40097, 41009, 44002, 47001))
def update_remark():
    body, refused = posted_json()
    if refused:
        return refused
    if not isinstance(body, dict) or not body.get("openid"):
        return error(44002 if not body else 41009)
    openid, text = str(body["openid"]), str(body.get("remark", ""))
    if not store().known(openid):
        return error(40003)
    if len(text) > REMARK_LENGTH:
        return error(40097)
    store().redis.set(key(store().appid, "remark", openid), text)
    return answer({"errcode": 0, "errmsg": "ok"})
