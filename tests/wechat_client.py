"""The tests' WeChat pushing to the app: the package's own (wechat_bot/sandbox/push_client.py), which
`wechat_bot.testing.WeChatUser` uses too."""
from wechat_bot.sandbox.push_client import (  # noqa: F401
    Reply,
    Transport,
    WeChat,
    cdata,
    flask_transport,
    http_transport,
    push_xml,
    sign,
)
