"""WeRoBot with its defaults (session stored in SQLite) or, with BENCH_WEROBOT_SESSION=off, without sessions."""
import os

from werobot import WeRoBot

robot = WeRoBot(token=os.environ["WECHAT_TOKEN"])
if os.environ.get("BENCH_WEROBOT_SESSION") == "off":
    robot.config["SESSION_STORAGE"] = False


@robot.text
def login(message):
    return "<a href=\"https://example.com/login\">点此登录</a>"


app = robot.wsgi
