"""The rehearsal's site: wechat_bot's default handlers, plus a handler slower than WeChat's 5 s (its answer goes
out late, by the customer-service API) and a quick one that is not pure."""
import time

from wechat_bot import Router, create_app

router = Router()


@router.keyword("slow")
def slow(msg, ctx):
    time.sleep(5.0)
    return "late reply"


@router.keyword("ping")
def ping(msg, ctx):
    return "pong"


app = create_app(router=router)
