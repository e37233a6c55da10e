"""WeRoBot 1.13.1 with its defaults (session stored in SQLite), or by BENCH_WEROBOT_SESSION: `off` (no session)
or `redis` (its RedisStorage on the benchmark's Redis: a GET before the handler and a SET after it)."""
import os

from werobot import WeRoBot

SESSION = os.environ.get("BENCH_WEROBOT_SESSION", "sqlite")

robot = WeRoBot(token=os.environ["WECHAT_TOKEN"])
if SESSION == "off":
    robot.config["SESSION_STORAGE"] = False
elif SESSION == "redis":
    import redis
    from werobot.session.redisstorage import RedisStorage

    robot.config["SESSION_STORAGE"] = RedisStorage(redis.Redis(unix_socket_path=os.environ["BENCH_REDIS_SOCKET"]))

if SESSION == "off":
    @robot.text
    def login(message):
        return "<a href=\"https://example.com/login\">点此登录</a>"
else:
    @robot.text
    def login(message, session):
        session["logins"] = session.get("logins", 0) + 1  # the session is read and written on every push
        return "<a href=\"https://example.com/login\">点此登录</a>"


app = robot.wsgi
