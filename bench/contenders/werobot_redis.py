"""WeRoBot with its Redis session storage on the bench's Redis: a GET and a SET per push, the handler reading
and writing the session so the store is really used."""
import os

import redis
from werobot import WeRoBot
from werobot.session.redisstorage import RedisStorage

robot = WeRoBot(token=os.environ["WECHAT_TOKEN"])
robot.config["SESSION_STORAGE"] = RedisStorage(redis.Redis(unix_socket_path=os.environ["BENCH_REDIS_SOCKET"]))


@robot.text
def login(message, session):
    session["asked"] = session.get("asked", 0) + 1
    return "<a href=\"https://example.com/login\">点此登录</a>"


app = robot.wsgi
