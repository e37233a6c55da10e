import os
from wechat_bot import create_app
from wechat_bot.once import OnceCache, Commit
from wechat_bot.endpoint import views
exp = os.environ.get("EXP", "").split(",")
if "noredis" in exp:
    OnceCache.commit = lambda self, *a, **k: Commit(stored=True)
if "nolog" in exp:
    views.log.disabled = True
app = create_app()
if "nohandler" in exp:
    from wechat_bot.handlers.default import router
    router.routes[0] = router.routes[0].__class__("login", "text", lambda m: True, lambda m, c: "<a href=\"https://example.com/login\">点此登录</a>", True)
