"""gunicorn settings for a checkout: `gunicorn -c gunicorn.conf.py 'wechat_bot:create_app()'`. The settings
themselves ship in the package (wechat_bot/gunicorn_settings.py): an installed wheel runs the same with
`gunicorn -c python:wechat_bot.gunicorn_settings 'wechat_bot:create_app()'`."""
from wechat_bot.gunicorn_settings import *  # noqa: F401,F403
from wechat_bot.gunicorn_settings import on_starting  # noqa: F401
