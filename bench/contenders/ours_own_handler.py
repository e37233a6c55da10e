"""wechat_bot with a user's own handler written as the README writes one: not declared pure, so it runs once
per push in the handler pool, between a claim and a store."""
from wechat_bot import Router, create_app

router = Router()


@router.keyword("登录", "login")
def login(msg, ctx):
    return f'<a href="{ctx.links.base(msg.source)}">点此登录</a>'


app = create_app(router=router)
