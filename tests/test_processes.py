"""The server as users start it: `python run.py` and gunicorn with several workers over one Redis."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests import processes
from tests.conftest import APPID, CREDENTIALS, TOKEN, project_root
from tests.wechat_client import WeChat, http_transport


def test_run_py_with_credentials_in_dotenv_serves_healthz_and_wechat(tmp_path):
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in CREDENTIALS.items()))
    with processes.run_py_serving(tmp_path) as (base, log):
        health = requests.get(base + "/healthz", timeout=5).json()
        assert health["status"] == "ok" and health["redis"] == "ok"
        assert (tmp_path / "var" / "appendonly.aof").exists()
        reply = WeChat(http_transport(base), TOKEN, APPID).says("你好")
        assert reply.status == 200 and "登录" in reply.content
        assert requests.get(base + "/sandbox/chat", timeout=5).status_code == 404
    assert "push type=text openid=o_alice" in log.read_text()


@pytest.fixture
def gunicorn(tmp_path, redis):
    """gunicorn with two workers serving tests/slow_app.py over the test Redis."""
    port = processes.free_port()
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}")
    log = tmp_path / "gunicorn.log"
    server = processes.start(["-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "30",
                              "tests.slow_app:create()"], project_root(), env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_healthy(base, server, log)
        deadline = time.monotonic() + 20
        while log.read_text().count("Booting worker") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        yield base
    finally:
        processes.stop(server)


def test_two_gunicorn_workers_answer_three_concurrent_deliveries_with_one_run(gunicorn, redis):
    wechat = WeChat(http_transport(gunicorn), TOKEN, APPID)
    fields, query = wechat.fields("text", Content="hi"), wechat.query()
    from urllib.parse import urlencode
    from tests.wechat_client import push_xml

    url = gunicorn + "/wechat?" + urlencode(query)

    def deliver(delay: float):
        time.sleep(delay)
        return requests.post(url, data=push_xml(fields).encode(), timeout=10)

    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(deliver, [0, 0.2, 0.2]))
    assert [r.status_code for r in responses] == [200, 200, 200]
    bodies = {r.content for r in responses}
    assert len(bodies) == 1 and b"run 1" in bodies.pop()
    assert redis.get("test:runs") == b"1"
    assert len({r.headers["X-Worker-Pid"] for r in responses}) == 2


def test_run_py_without_credentials_serves_the_sandbox_and_says_where(tmp_path):
    with processes.run_py_serving(tmp_path) as (base, log):
        assert requests.get(base + "/sandbox/chat", timeout=5).status_code == 200
        assert requests.get(base + "/", timeout=5).url.endswith("/sandbox/chat")
        assert "WECHAT_APPID" in (tmp_path / "var" / "sandbox.json").read_text()
    assert f"open {base}/sandbox/" in log.read_text()


def test_with_real_credentials_no_sandbox_route_exists(make_app):
    client = make_app().test_client()
    for path in ("/sandbox/chat", "/connect/oauth2/authorize", "/sns/oauth2/access_token", "/sandbox/api/tokens"):
        assert client.get(path).status_code == 404
