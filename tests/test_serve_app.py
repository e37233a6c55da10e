"""`wechat-bot serve --app` and `python run.py serve --app` name a site as `flask --app` does, factories included."""
from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests import processes
from tests.conftest import project_root
from tests.test_site_owner import sandbox_env
from wechat_bot.storage import embedded_redis

FACTORY_SITE = '''
from flask import Flask
from wechat_bot import WeChatBot


def create(name="shop"):
    app = Flask(__name__)
    app.config.update(SECRET_KEY="site")
    WeChatBot(app)

    @app.get("/")
    def home():
        return f"the {name} site"
    return app
'''


@pytest.mark.parametrize("command", [[str(project_root() / "run.py")], ["-m", "wechat_bot"]])
def test_serve_takes_a_factory_call_with_arguments(tmp_path, command):
    (tmp_path / "shop.py").write_text(FACTORY_SITE)
    port, log = processes.free_port(), tmp_path / "serve.log"
    server = processes.start([*command, "serve", "--app", "shop:create('outlet')", "--port", str(port),
                              "--no-worker"], tmp_path, sandbox_env(), log)
    try:
        processes.wait_healthy(f"http://127.0.0.1:{port}", server, log)
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).text == "the outlet site"
        assert "/sandbox/" in log.read_text()
    finally:
        processes.stop(server)
        embedded_redis.stop(tmp_path / "var")  # a site's app under serve leaves its Redis running, as flask run's does


def test_a_name_that_is_not_there_is_one_line(tmp_path):
    (tmp_path / "shop.py").write_text(FACTORY_SITE)
    result = subprocess.run([sys.executable, str(project_root() / "run.py"), "serve", "--app", "shop:make()"],
                            cwd=tmp_path, env=sandbox_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--app shop:make()" in result.stderr and "make" in result.stderr
