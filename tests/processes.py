"""Start the server as real processes (run.py, gunicorn) on a free loopback port, and stop them."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import CREDENTIALS, NOWHERE, project_root
from wechat_bot.storage import embedded_redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "REDIS_URL", "PUBLIC_BASE_URL"))}
    env["PYTHONPATH"] = str(project_root())
    env.update(NOWHERE)
    env.update(extra)
    return env


def start(args: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(base_url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(base_url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or its first request still warming up
            pass
        time.sleep(0.1)
    raise AssertionError(f"server not healthy after {timeout}s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(10)


@contextmanager
def run_py_serving(home: Path, env: dict | None = None) -> Iterator[tuple[str, Path]]:
    """`python run.py serve` in `home` on a free port: (base URL, its log); stopped with its embedded Redis."""
    port, log = free_port(), home / "server.log"
    server = start([str(project_root() / "run.py"), "serve", "--port", str(port)], home, env or clean_env(), log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server, log)
        yield base, log
    finally:
        stop(server)
        embedded_redis.stop(home / "var")


@contextmanager
def run_py_servers(count: int, home: Path, env: dict) -> Iterator[list[str]]:
    """`count` processes of `python run.py serve --no-worker` sharing `env`'s Redis: their base URLs."""
    started, bases = [], []
    try:
        for n in range(count):
            port, log = free_port(), home / f"server{n}.log"
            started.append(start([str(project_root() / "run.py"), "serve", "--no-worker", "--port", str(port)], home,
                                 env, log))
            bases.append(f"http://127.0.0.1:{port}")
            wait_healthy(bases[-1], started[-1], log)
        yield bases
    finally:
        for process in started:
            stop(process)


@contextmanager
def shipped_gunicorn(home: Path, redis_socket: str, **env: str | None) -> Iterator[tuple[str, Path, dict]]:
    """gunicorn with the checkout's gunicorn.conf.py (the shipped settings), two workers, the test credentials, on
    the test Redis, in `home`, with `env` (a None unsets): (base URL, its log, its environment), stopped after."""
    port, log = free_port(), home / "gunicorn.log"
    environ = clean_env(**CREDENTIALS, REDIS_URL=f"unix://{redis_socket}", BIND=f"127.0.0.1:{port}",
                        WEB_CONCURRENCY="2")
    environ.update({name: value for name, value in env.items() if value is not None})
    for name in [name for name, value in env.items() if value is None]:
        environ.pop(name, None)
    server = start(["-m", "gunicorn", "-c", str(project_root() / "gunicorn.conf.py"), "wechat_bot:create_app()"],
                   home, environ, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server, log)
        yield base, log, environ
    finally:
        stop(server)
