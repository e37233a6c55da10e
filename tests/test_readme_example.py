"""The handler example of the docs (docs/guide/handlers.md, moved there from the README) runs as written."""
import re
import types
from urllib.parse import parse_qs, urlsplit

from tests.conftest import APPID, TOKEN, project_root
from tests.wechat_client import WeChat, flask_transport
from wechat_bot.oauth.state import state_key


def readme_example() -> types.ModuleType:
    page = (project_root() / "docs/guide/handlers.md").read_text(encoding="utf-8")
    section = page.split("## 装饰器与回复类型", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("myapp")
    exec(compile(code, "docs/guide/handlers.md", "exec"), module.__dict__)
    return module


def test_the_readme_handlers_answer_as_described(make_app, redis):
    example = readme_example()
    app = make_app(router=example.router)
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    assert wechat.says("Hello ", FromUserName="o_reader").content == "你好，o_reader"
    assert wechat.says("订单 12").content == "订单查询次数：1"
    link = re.search(r'href="([^"]+)"', wechat.says("绑定").content).group(1)
    state = parse_qs(urlsplit(link).query)["state"][0]
    assert b'"next": "/account"' in redis.get(state_key(APPID, state))
    assert wechat.deliver(wechat.fields("event", Event="subscribe")).content == "欢迎！"
