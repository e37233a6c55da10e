"""gunicorn settings for wechat_bot: `gunicorn -c gunicorn.conf.py 'wechat_bot:create_app()'`.

Run the renewal worker as its own process beside it: `python run.py worker` (any number, any host).
"""
import multiprocessing
import os
import sys

bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# gevent workers hold each connection in a greenlet: a client sending its headers slowly (slowloris) occupies
# no worker, so pushes are still answered inside WeChat's 5 s (tests/test_slow_clients.py: 200 slow
# connections). Sync workers are each held by one such client: four of them stopped every push.
worker_class = "gevent"
worker_connections = 1000
# A push must be answered within WeChat's 5 s; a request still running after this is a stuck worker.
timeout = 30
graceful_timeout = 20  # SIGTERM: requests in flight finish, then the worker exits
keepalive = 5
max_requests = 10000  # recycle workers now and then
max_requests_jitter = 1000
accesslog = "-"
access_log_format = '{"remote":"%(h)s","request":"%(m)s %(U)s","status":%(s)s,"bytes":"%(B)s","ms":%(M)s}'
logger_class = "wechat_bot.access_log.AccessLog"  # each value escaped as JSON: a %0A in a path forges no line
errorlog = "-"


def on_starting(server) -> None:
    """The standalone server stops here, in the master, when its settings are missing or malformed: checked in
    each worker instead, two workers failing at once make gunicorn print a traceback of its own."""
    if not str(server.app.app_uri or "").startswith("wechat_bot:create_app"):
        return  # a site's app: its settings may be in its app.config
    from wechat_bot.config import ConfigError, Settings

    try:
        settings = Settings.load()
        if settings.missing_credentials:
            raise settings.missing_credentials_error()
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(4)
