"""The docs' handler cookbook (docs/guide/cookbook.md), template-message site (docs/guide/client.md) and "testing
your site" suite (docs/guide/testing.md), moved there from the README, run as written."""
from __future__ import annotations

import re
import subprocess
import sys
import types

from tests.conftest import project_root
from tests.waiting import wait_until
from wechat_bot.testing import WeChatUser

PAGES = ("docs/guide/cookbook.md", "docs/guide/client.md", "docs/guide/testing.md")


def block(starting: str) -> str:
    """The docs' python block whose first line is `starting`."""
    for page in PAGES:
        for code in re.findall(r"```python\n(.*?)```", (project_root() / page).read_text(encoding="utf-8"), re.S):
            if code.startswith(starting):
                return code
    raise AssertionError(f"no python block starting {starting!r} in {PAGES}")


def module(name: str, code: str) -> types.ModuleType:
    found = types.ModuleType(name)
    exec(compile(code, f"docs:{name}", "exec"), found.__dict__)
    return found


def test_the_cookbook_answers_as_the_sandbox_shows_it():
    cookbook = module("cookbook", block("# cookbook.py"))
    app = cookbook.create({"TESTING": True})
    user = WeChatUser(app, openid="oCook")
    assert user.send("图片").reply.media_id == "MEDIA_ID_OF_A_PICTURE"
    assert user.send("语音").reply.type == "voice"
    news = user.send("新品").reply
    assert news.type == "news" and news.articles[0]["title"] == "秋季新品"
    assert user.send("音乐").reply.type == "music"
    assert user.click("MENU_TODAY").text == "今日推荐：桂花糕"
    assert user.location(23.13, 113.26, "广州塔").text == "你在广州塔（23.13, 113.26）"
    assert user.send("随便").text == "你说：随便"
    assert user.send("报告").xml == "success"  # past WeChat's 5 s…
    wait_until(user.messages, "the late report", timeout=60)
    assert [sent["text"]["content"] for sent in user.messages()] == ["报告好了：一切正常"]  # …then this


def test_the_testing_your_site_suite_runs_with_no_credentials(tmp_path):
    (tmp_path / "myshop.py").write_text(block("# myshop.py"), encoding="utf-8")
    (tmp_path / "test_myshop.py").write_text(block("# test_myshop.py"), encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project_root()), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_myshop.py"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert not (tmp_path / "var").exists()
