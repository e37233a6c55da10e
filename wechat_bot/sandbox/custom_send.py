"""The sandbox's customer-service messages (`message/custom/send`), refused as WeChat refuses them: a shape it does
not take (40008, 45008, 40007), a user outside the windows (45015) or past their counts (45047, §6)."""
from __future__ import annotations

from typing import Any

from .api import answer, api, error, posted_json, store
from .keys import key
from .media import media_live

MESSAGE_WINDOW = 48 * 3600  # a user's message opens custom/send for 48 hours…
MESSAGE_QUOTA = 5  # …for this many messages
EVENT_WINDOW = 60  # a follow, a CLICK / scancode menu or a scan opens it for a minute…
EVENT_QUOTA = 3  # …for this many

MSGTYPES = ("text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "wxcard",
            "miniprogrampage")
MEDIA_FIELDS = {"image": ("media_id",), "voice": ("media_id",), "video": ("media_id",),
                "music": ("thumb_media_id",), "mpnews": ("media_id",), "miniprogrampage": ("thumb_media_id",)}

# One key (the follower's hash): take one message from the minute's count if its window is open, else from the 48
# hours'; 45047 when an open window's count is spent, 45015 when none is open or the user does not follow.
_TAKE = """
if redis.call('HGET', KEYS[1], 'subscribe') ~= '1' then return 45015 end
local now = tonumber(ARGV[1])
local open = false
for i, window in ipairs({'event', 'message'}) do
  local start = tonumber(redis.call('HGET', KEYS[1], ARGV[2 + (i - 1) * 3]) or '')
  if start and now - start <= tonumber(ARGV[3 + (i - 1) * 3]) then
    open = true
    if tonumber(redis.call('HGET', KEYS[1], window .. '_sent') or '0') < tonumber(ARGV[4 + (i - 1) * 3]) then
      redis.call('HINCRBY', KEYS[1], window .. '_sent', 1)
      return 0
    end
  end
end
if open then return 45047 end
return 45015
"""


def shape_error(message: dict[str, Any]) -> int | None:
    """WeChat's errcode for a message it does not take in this shape, else None."""
    kind = message["msgtype"]
    if not isinstance(kind, str) or kind not in MSGTYPES:
        return 40008
    body = message.get(kind)
    if not isinstance(body, dict):
        return 47001
    if kind == "news":
        articles = body.get("articles")
        if not isinstance(articles, list) or not articles:
            return 47001
        if len(articles) > 1:
            return 45008
    for field in MEDIA_FIELDS.get(kind, ()):
        if not media_live(str(body.get(field) or "")):
            return 40007
    return None


def take_quota(openid: str) -> int | None:
    """Count one message to this user if a window is open with messages left; else WeChat's errcode."""
    sandbox = store()
    refused = sandbox.redis.eval(_TAKE, 1, key(sandbox.appid, "follow", openid), int(sandbox.clock()),
                                 "event_at", EVENT_WINDOW, EVENT_QUOTA, "interacted_at", MESSAGE_WINDOW, MESSAGE_QUOTA)
    return int(refused) or None


@api("/cgi-bin/message/custom/send", "POST", errcodes=(40003, 40007, 40008, 44002, 45008, 45015, 45047, 47001))
def custom_send():
    message, refused = posted_json()
    if refused:
        return refused
    if not isinstance(message, dict) or not message.get("touser") or not message.get("msgtype"):
        return error(44002 if not message else 47001)
    wrong = shape_error(message)
    if wrong:
        return error(wrong)
    openid = str(message["touser"])
    if not store().known(openid):
        return error(40003)  # an openid this account has never seen
    refused_code = take_quota(openid)
    if refused_code:
        return error(refused_code)
    store().record_sent(message)
    return answer({"errcode": 0, "errmsg": "ok"})
