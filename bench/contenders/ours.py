"""wechat_bot as deployed: the default handlers, a login link (its state written to Redis) for 登录."""
from wechat_bot import create_app

app = create_app()
