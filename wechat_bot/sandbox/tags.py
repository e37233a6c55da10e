"""The sandbox's user tags (`tags/create|get|update|delete`, `tags/members/batchtagging|batchuntagging`,
`tags/getidlist`, `user/tag/get`), with WeChat's limits: 100 tags, names of 30 bytes, 50 users a call, 20 tags a
user; the system tag 星标组 (2) cannot be changed."""
from __future__ import annotations

from typing import Any

from ..storage.replies import text
from .api import answer, api, error, posted_json, store
from .keys import key

SYSTEM_TAGS = {2: "星标组"}
FIRST_ID = 100
MAX_TAGS = 100
NAME_BYTES = 30
PER_CALL = 50
PER_USER = 20
PAGE = 10000


def _names() -> dict[int, str]:
    raw = store().redis.hgetall(key(store().appid, "tags"))
    return {**SYSTEM_TAGS, **{int(k): text(v) for k, v in raw.items()}}


def _members(tag_id: int) -> list[str]:
    return sorted(text(m) for m in store().redis.smembers(key(store().appid, "tag-members", str(tag_id))))


def tags_of(openid: str) -> list[int]:
    """The ids of the tags this user carries."""
    sandbox = store()
    ids = sorted(_names())
    with sandbox.redis.pipeline(transaction=False) as pipe:
        for tag_id in ids:
            pipe.sismember(key(sandbox.appid, "tag-members", str(tag_id)), openid)
        found = pipe.execute()
    return [tag_id for tag_id, member in zip(ids, found, strict=True) if member]


def _body() -> tuple[dict[str, Any], int | None]:
    body, refused = posted_json()
    if refused or not isinstance(body, dict):
        return {}, 47001 if refused or body else 44002
    return body, None


def _tag(body: dict) -> tuple[dict, int | None]:
    tag = body.get("tag")
    return (tag, None) if isinstance(tag, dict) else ({}, 47001)


def _name_error(name: Any, names: dict[int, str], own_id: int | None = None) -> int | None:
    if not isinstance(name, str) or not name:
        return 45157
    if len(name.encode()) > NAME_BYTES:
        return 45158
    if any(existing == name and tag_id != own_id for tag_id, existing in names.items()):
        return 45157
    return None


@api("/cgi-bin/tags/create", "POST", errcodes=(44002, 45056, 45157, 45158, 47001))
def create_tag():
    body, wrong = _body()
    tag, wrong = _tag(body) if wrong is None else ({}, wrong)
    names = _names()
    too_many = 45056 if len(names) - len(SYSTEM_TAGS) >= MAX_TAGS else None
    wrong = wrong or _name_error(tag.get("name"), names) or too_many
    if wrong:
        return error(wrong)
    sandbox = store()
    tag_id = FIRST_ID - 1 + int(sandbox.redis.incr(key(sandbox.appid, "tag-next")))
    sandbox.redis.hset(key(sandbox.appid, "tags"), str(tag_id), tag["name"])
    return answer({"tag": {"id": tag_id, "name": tag["name"]}})


@api("/cgi-bin/tags/get", "GET", errcodes=())
def get_tags():
    sandbox = store()
    return answer({"tags": [{"id": tag_id, "name": name,
                             "count": int(sandbox.redis.scard(key(sandbox.appid, "tag-members", str(tag_id))))}
                            for tag_id, name in sorted(_names().items())]})


def _known_tag(tag: dict) -> tuple[int, int | None]:
    """The tag id of a request naming one the account has (45159 otherwise, 45058 for a system tag)."""
    tag_id = tag.get("id") if "id" in tag else tag.get("tagid")
    if not isinstance(tag_id, int) or tag_id not in _names():
        return 0, 45159
    return tag_id, 45058 if tag_id in SYSTEM_TAGS else None


@api("/cgi-bin/tags/update", "POST", errcodes=(44002, 45058, 45157, 45158, 45159, 47001))
def update_tag():
    body, wrong = _body()
    tag, wrong = _tag(body) if wrong is None else ({}, wrong)
    tag_id, wrong = _known_tag(tag) if wrong is None else (0, wrong)
    wrong = wrong or _name_error(tag.get("name"), _names(), own_id=tag_id)
    if wrong:
        return error(wrong)
    store().redis.hset(key(store().appid, "tags"), str(tag_id), tag["name"])
    return answer({"errcode": 0, "errmsg": "ok"})


@api("/cgi-bin/tags/delete", "POST", errcodes=(44002, 45058, 45159, 47001))
def delete_tag():
    body, wrong = _body()
    tag, wrong = _tag(body) if wrong is None else ({}, wrong)
    tag_id, wrong = _known_tag(tag) if wrong is None else (0, wrong)
    if wrong:
        return error(wrong)
    store().redis.hdel(key(store().appid, "tags"), str(tag_id))
    store().redis.delete(key(store().appid, "tag-members", str(tag_id)))
    return answer({"errcode": 0, "errmsg": "ok"})


def _members_call(add: bool):
    body, wrong = _body()
    tag_id, wrong = _known_tag({"id": body.get("tagid")}) if wrong is None else (0, wrong)
    if wrong == 45058 and add:
        wrong = None  # a user may be starred (星标组) by tagging
    listed = body.get("openid_list")
    openids: list[Any] = listed if isinstance(listed, list) else []
    if wrong is None and (not isinstance(listed, list) or not openids or len(openids) > PER_CALL):
        wrong = 40032
    if wrong is None and not all(isinstance(o, str) and store().known(o) for o in openids):
        wrong = 40003
    if wrong is None and add and any(tag_id not in tags_of(o) and len(tags_of(o)) >= PER_USER for o in openids):
        wrong = 45059
    if wrong:
        return error(wrong)
    members = key(store().appid, "tag-members", str(tag_id))
    (store().redis.sadd if add else store().redis.srem)(members, *openids)
    return answer({"errcode": 0, "errmsg": "ok"})


@api("/cgi-bin/tags/members/batchtagging", "POST", errcodes=(40003, 40032, 44002, 45059, 45159, 47001))
def tag_users():
    return _members_call(add=True)


@api("/cgi-bin/tags/members/batchuntagging", "POST", errcodes=(40003, 40032, 44002, 45058, 45159, 47001))
def untag_users():
    return _members_call(add=False)


@api("/cgi-bin/tags/getidlist", "POST", errcodes=(40003, 44002, 47001))
def user_tags():
    body, wrong = _body()
    openid = str(body.get("openid", ""))
    if wrong or not store().known(openid):
        return error(wrong or 40003)
    return answer({"tagid_list": tags_of(openid)})


@api("/cgi-bin/user/tag/get", "POST", errcodes=(44002, 45159, 47001))
def tag_members():
    """A tag's users, 10,000 a page after `next_openid`."""
    body, wrong = _body()
    tag_id, wrong = _known_tag({"id": body.get("tagid")}) if wrong is None else (0, wrong)
    if wrong and wrong != 45058:
        return error(wrong)
    everyone, after = _members(tag_id), str(body.get("next_openid") or "")
    start = everyone.index(after) + 1 if after in everyone else 0
    page = everyone[start:start + PAGE]
    result: dict[str, Any] = {"count": len(page), "next_openid": page[-1] if page else ""}
    if page:
        result["data"] = {"openid": page}
    return answer(result)
