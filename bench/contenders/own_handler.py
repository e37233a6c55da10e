"""wechat_bot with a user's own 登录 handler, written as the README writes one and not declared pure: the push
is claimed first, the handler runs in a thread, and its reply and its link's state are stored after it.

Served as `own_handler:create()`.
"""
from wechat_bot import Router, create_app

router = Router()


@router.keyword("登录")
def login(msg, ctx):
    return f'<a href="{ctx.links.base(msg.source)}">点此登录</a>'


def create():
    return create_app(router=router)
