"""The tests' WeChat pushing to the app: the package's own (wechat_bot/sandbox/push_client.py), which
`wechat_bot.testing.WeChatUser` uses too."""
from wechat_bot.endpoint.signature import sign  # noqa: F401
from wechat_bot.sandbox.push_client import (  # noqa: F401
    Reply,
    Transport,
    WeChat,
    flask_transport,
    http_transport,
)
from wechat_bot.sandbox.pusher import cdata, push_xml  # noqa: F401
