"""The documented production server (gunicorn -c gunicorn.conf.py) keeps answering pushes within WeChat's
window while many slow connections (headers a line at a time, slowloris) are held open."""
from __future__ import annotations

import socket
import threading

from tests import processes
from tests.conftest import APPID, CREDENTIALS, TOKEN, project_root
from tests.wechat_client import WeChat, http_transport
from wechat_bot.storage import embedded_redis

SLOW_CONNECTIONS = 200


def test_pushes_are_answered_in_the_window_while_200_slow_connections_are_held(tmp_path):
    port, log = processes.free_port(), tmp_path / "gunicorn.log"
    env = processes.clean_env(**CREDENTIALS, BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2")
    server = processes.start(["-m", "gunicorn", "-c", str(project_root() / "gunicorn.conf.py"),
                              "wechat_bot:create_app()"], tmp_path, env, log)
    base, held, stop = f"http://127.0.0.1:{port}", [], threading.Event()
    try:
        processes.wait_healthy(base, server, log)
        for _ in range(SLOW_CONNECTIONS):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection.sendall(b"POST /wechat HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(connection)

        def trickle() -> None:  # one more header line on every connection every 2 s, never the end
            line = 0
            while not stop.wait(2):
                line += 1
                for connection in held:
                    try:
                        connection.sendall(f"X-Slow-{line}: 1\r\n".encode())
                    except OSError:
                        pass
        threading.Thread(target=trickle, daemon=True).start()
        stop.wait(1)
        wechat = WeChat(http_transport(base, timeout=5), TOKEN, APPID)  # WeChat gives up after 5 s
        replies = [wechat.says("hi") for _ in range(6)]
        assert [reply.status for reply in replies] == [200] * 6
        assert all("发送「登录」" in reply.content for reply in replies)
    finally:
        stop.set()
        for connection in held:
            connection.close()
        processes.stop(server)
        embedded_redis.stop(tmp_path / "var")
