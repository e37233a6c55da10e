"""How many customer-service messages a user may still get (wechat-protocol.md §6): 5 in the 48 hours after
their message, 3 in the minute after a follow, a menu click or a scan; none after anything else."""
from __future__ import annotations

from redis import Redis
from wechatpy.messages import BaseMessage

from ..storage.keyspace import account_prefix
from .messages import push_identity

QUOTA = "cs_quota:"  # + {openid}, under the account's prefix
BY_MESSAGE = (5, 48 * 3600)  # (messages, seconds) after a user's message
BY_EVENT = (3, 60)  # after a follow, a CLICK or scancode menu, a scan
EVENTS = {"subscribe", "subscribe_scan", "subscribe_scan_product", "scan", "click", "scancode_push",
          "scancode_waitmsg"}

# One hash per user: for each trigger, when its window opened (the push's CreateTime) and how many were sent in it;
# and what each push was granted, so asking again for the same push (WeChat redelivering it, or its answer rendered
# a second time with a re-authorize link) takes only what more it wants. A push that opens a new window forgets the
# earlier pushes' grants (their redeliveries are over within seconds).
_TAKE = """
local grant = 'grant:' .. ARGV[6]
local at = tonumber(redis.call('hget', KEYS[1], ARGV[1] .. ':at') or '0')
local opened, wanted, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local used = 0
if opened > at then
  for _, field in ipairs(redis.call('hkeys', KEYS[1])) do
    if string.sub(field, 1, 6) == 'grant:' then redis.call('hdel', KEYS[1], field) end
  end
  redis.call('hset', KEYS[1], ARGV[1] .. ':at', opened, ARGV[1] .. ':used', 0)
else
  used = tonumber(redis.call('hget', KEYS[1], ARGV[1] .. ':used') or '0')
end
local had = tonumber(redis.call('hget', KEYS[1], grant) or '0')
if had >= wanted then return wanted end
local more = math.max(math.min(wanted - had, limit - used), 0)
redis.call('hincrby', KEYS[1], ARGV[1] .. ':used', more)
redis.call('hset', KEYS[1], grant, had + more)
redis.call('expire', KEYS[1], tonumber(ARGV[5]))  -- the longest window: a click does not end a message's
return had + more
"""


def quota_key(appid: str, openid: str) -> str:
    return f"{account_prefix(appid)}{QUOTA}{{{openid}}}"


def window(msg: BaseMessage) -> tuple[str, int, int]:
    """(trigger, messages, seconds) of the interaction `msg` opens."""
    if msg.type != "event":
        return ("message", *BY_MESSAGE)
    if (msg.event or "").lower() in EVENTS:
        return ("event", *BY_EVENT)
    return ("none", 0, 60)


class CustomerServiceQuota:
    def __init__(self, redis: Redis, appid: str) -> None:
        self._take, self._appid = redis.register_script(_TAKE), appid

    def take(self, msg: BaseMessage, wanted: int) -> int:
        """Up to `wanted` messages to the sender of `msg`, counted against the window it opened: how many may go.
        Asked again for the same push, what it was granted counts: only what more it wants is taken."""
        trigger, limit, _ = window(msg)
        if wanted <= 0 or limit == 0:
            return 0
        opened = int(msg._data.get("CreateTime") or 0)
        return int(self._take(keys=[quota_key(self._appid, msg.source)],
                              args=[trigger, opened, wanted, limit, BY_MESSAGE[1], push_identity(msg)]))
