"""The production server's gunicorn settings, shipped in the wheel:

    gunicorn -c python:wechat_bot.gunicorn_settings 'wechat_bot:create_app()'

gunicorn's master loads this module before any worker patches the standard library with gevent, so it imports
nothing that would pull in requests, urllib3 or ssl (style.md §12): names are strings, and the start-up check runs
in a short subprocess. Run the renewal worker as its own process beside it: `wechat-bot worker` (any number, any
host). BIND and WEB_CONCURRENCY come from the environment, else from ./.env.
"""
import multiprocessing
import os
import subprocess
import sys

from dotenv import dotenv_values

_dotenv = dotenv_values(".env") if os.path.isfile(".env") else {}


def _setting(name: str, default: str) -> str:
    return os.environ.get(name) or _dotenv.get(name) or default


if _setting("WECHAT_METRICS", "on") != "off":  # every worker's metrics in one folder, summed by a scrape
    from wechat_bot.metrics.multiprocess import prepare  # imports nothing but os, re and pathlib

    prepare()

bind = _setting("BIND", "127.0.0.1:5000")
workers = int(_setting("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2)))
# gevent workers hold each connection in a greenlet: a client sending its headers slowly (slowloris) occupies no
# worker, so pushes are still answered inside WeChat's 5 s (tests/test_slow_clients.py: 200 slow connections).
worker_class = "gevent"
worker_connections = 1000
# Every response closes its connection. With keep-alive, a gevent worker takes every request of the connections it
# holds at once and switches between them at each Redis round trip: two workers at 8 connections, a push's own time
# in the server went from 1.2 to 5.9 ms at the median and from 12 to 285 ms at the 99th percentile (one worker alone,
# or SO_REUSEPORT spreading the connections evenly, did not cure it). With a connection per request, a worker accepts
# at most one new connection a turn of its event loop and the rest wait in the kernel's queue for whichever worker
# comes first (bench/README.md, "The shipped settings").
keepalive = 0
# A push must be answered within WeChat's 5 s; a request still running after this is a stuck worker.
timeout = 30
graceful_timeout = 20  # SIGTERM: requests in flight finish, then the worker exits
max_requests = 100000  # recycle workers now and then (each recycle costs the requests of a worker's boot)
max_requests_jitter = 10000
accesslog = "-"
access_log_format = '{"remote":"%(h)s","request":"%(m)s %(U)s","status":%(s)s,"bytes":"%(B)s","ms":%(M)s}'
logger_class = "wechat_bot.access_log.AccessLog"  # each value escaped as JSON: a %0A in a path forges no line
errorlog = "-"
# gunicorn 25+'s control socket (gunicornc) defaults to ~/.gunicorn/gunicorn.ctl, one path for every master of the
# user on the host: each deployment keeps its own under its ./var/ instead (0600, as gunicorn makes it).
control_socket = os.path.abspath(os.path.join("var", "gunicorn.ctl"))


def on_starting(server) -> None:
    """The standalone server stops here, in the master, when its settings are missing or malformed (checked in
    each worker instead, two workers failing at once make gunicorn print a traceback of its own). The check runs
    in a subprocess: importing it here would import the package's dependencies before the workers patch."""
    if not str(server.app.app_uri or "").startswith("wechat_bot:create_app"):
        return  # a site's app: its settings may be in its app.config
    checked = subprocess.run([sys.executable, "-m", "wechat_bot.startup_check"], stdout=subprocess.DEVNULL)
    if checked.returncode:
        sys.exit(checked.returncode)
