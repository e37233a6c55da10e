"""gunicorn settings for wechat_bot: `gunicorn -c gunicorn.conf.py 'wechat_bot:create_app()'`.

Run the renewal worker as its own process beside it: `python run.py worker` (any number, any host).
"""
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "sync"
# A push must be answered within WeChat's 5 s; a request still running after this is a stuck worker.
timeout = 30
graceful_timeout = 20  # SIGTERM: requests in flight finish, then the worker exits
keepalive = 5
max_requests = 10000  # recycle workers now and then
max_requests_jitter = 1000
accesslog = "-"
access_log_format = '{"remote":"%(h)s","request":"%(m)s %(U)s","status":%(s)s,"bytes":"%(B)s","ms":%(M)s}'
errorlog = "-"
