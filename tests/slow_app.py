"""An app for process-level tests: a slow handler that counts its runs in Redis; replies name the worker."""
import os
import time

from flask import Flask

from wechat_bot import create_app
from wechat_bot.handlers import Router

SLOW_SECONDS = 1.0


def create() -> Flask:
    router = Router()

    @router.on("text")
    def slow_count(msg, ctx):
        runs = ctx.redis.incr("test:runs")
        time.sleep(SLOW_SECONDS)
        return f"run {runs}"

    app = create_app(router=router)

    @app.after_request
    def name_the_worker(response):
        response.headers["X-Worker-Pid"] = str(os.getpid())
        return response
    return app
