"""Every Python block of the README is checked: each compiles and names nothing it neither defines nor imports,
and the Flask site example runs as written, the README's and its copy in docs/guide/site.md alike (the docs' other
blocks are checked by tests/test_docs.py; the handlers example runs in tests/test_readme_example.py)."""
from __future__ import annotations

import builtins
import re
import symtable
import time
import types

import pytest

from tests.conftest import APPID, SECRET, TOKEN, project_root
from wechat_bot.oauth.tokens import TokenRecord, TokenStore

WECHAT_UA = {"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50 NetType/WIFI Language/zh_CN"}


def python_blocks() -> list[tuple[int, str]]:
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    return [(readme.count("\n", 0, match.start()) + 2, match.group(1))
            for match in re.finditer(r"```python\n(.*?)```", readme, re.S)]


def undefined_names(code: str) -> set[str]:
    """Names a block reads as globals that it never binds (assigns, imports, defines) and that are not builtins."""
    module = symtable.symtable(code, "README.md", "exec")
    bound = {symbol.get_name() for symbol in module.get_symbols() if symbol.is_assigned() or symbol.is_imported()}
    read: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (symbol.is_global() or table is module) and not symbol.is_assigned():
                read.add(symbol.get_name())
        for child in table.get_children():
            walk(child)
    walk(module)
    return {name for name in read - bound if not hasattr(builtins, name)}


def test_the_checker_finds_an_undefined_name():
    assert undefined_names("from flask import Flask\ndef view():\n    return redirect('/')\n") == {"redirect"}
    assert undefined_names("import flask\nx = 1\ndef f(y):\n    return flask, x, y, len\n") == set()


@pytest.mark.parametrize("line, code", python_blocks(), ids=lambda value: str(value) if isinstance(value, int) else "")
def test_every_python_block_compiles_and_names_only_what_it_defines(line, code):
    compile(code, f"README.md:{line}", "exec")
    assert not undefined_names(code), f"README.md line {line}: undefined {sorted(undefined_names(code))}"


SITE_EXAMPLES = {"README.md": "## Use it in your Flask site", "docs/guide/site.md": "## 一个最小的网站"}


def site_example(page: str = "README.md") -> str:
    section = (project_root() / page).read_text(encoding="utf-8").split(SITE_EXAMPLES[page], 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.parametrize("page", SITE_EXAMPLES)
def test_the_flask_site_example_runs_and_sends_an_expired_user_back_to_authorize(page, redis, sandbox, serve, phone,
                                                                                 monkeypatch):
    placeholders = "WECHAT_TOKEN=..., WECHAT_APPID=..., WECHAT_SECRET=..."
    code = site_example(page)
    assert placeholders in code
    code = code.replace(placeholders, f"WECHAT_TOKEN={TOKEN!r}, WECHAT_APPID={APPID!r}, WECHAT_SECRET={SECRET!r}")
    monkeypatch.setenv("REDIS_URL", f"unix://{redis.connection_pool.connection_kwargs['path']}")
    monkeypatch.setenv("WECHAT_API_BASE", sandbox.url)
    monkeypatch.setenv("WECHAT_OPEN_BASE", sandbox.url)
    site = types.ModuleType("site_example")
    exec(compile(code, page, "exec"), site.__dict__)
    base = serve(site.app)
    sandbox.save_user("o_alice", nickname="爱丽丝")
    browser = phone("o_alice")
    browser.headers.update(WECHAT_UA)
    consent = browser.get(base + "/me", timeout=10)
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', consent.text))
    page = browser.post(sandbox.url + "/connect/oauth2/authorize/confirm", data={**form, "decision": "allow"},
                        timeout=10)
    assert page.status_code == 200 and page.json()["nickname"] == "爱丽丝"
    sandbox.expire_refresh_token("o_alice")  # thirty days later: the refresh_token has run out
    store = TokenStore(redis, APPID)
    record = store.get("o_alice")
    store.save(TokenRecord(**{**record.__dict__, "access_token_expires_at": int(time.time()) - 1}))
    again = browser.get(base + "/me", allow_redirects=False, timeout=10)
    assert again.status_code == 302 and again.headers["Location"].startswith(sandbox.url + "/connect/oauth2/authorize?")
