"""wechatpy, a client nobody here wrote, pointed at the sandbox: every call it makes gets WeChat's shape back
(HTTP 200, JSON: a real answer or an errcode), never a web page it fails to parse."""
from __future__ import annotations

import inspect
import io
import json
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException, WeChatOAuthException

from tests.conftest import APPID, SECRET


class ToTheSandbox(HTTPAdapter):
    """Every https:// host wechatpy names (api., file.api., mp.weixin.qq.com) is the sandbox; nothing leaves."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__()
        self.sandbox_url, self.answers = sandbox_url, []

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = self.sandbox_url + parts.path + (f"?{parts.query}" if parts.query else "")
        response = super().send(request, **kwargs)
        self.answers.append((request.method, parts.path, response))
        return response


def dummy(parameter: inspect.Parameter):
    name = parameter.name
    if "openid" in name or name in ("user_id", "touser", "to_user"):
        return "o_alice"
    if "file" in name or name in ("media", "image", "voice", "video"):
        return io.BytesIO(b"\x89PNG sandbox")
    if name in ("data", "menu_data", "articles", "card", "params", "body"):
        return {"button": []} if "menu" in name else {}
    if name.endswith("s") and name not in ("status", "address"):
        return ["x"]
    return "x"


# These call `requests` directly, not the client's session: they would go to the real WeChat, so they are left out.
OUTSIDE_THE_SESSION = {"qrcode.show", "cloud.upload_file"}


def calls(client: WeChatClient):
    for group_name in dir(type(client)):
        group = getattr(client, group_name, None)
        if not isinstance(group, BaseWeChatAPI):
            continue
        for name, method in inspect.getmembers(group, inspect.ismethod):
            if name.startswith("_") or f"{group_name}.{name}" in OUTSIDE_THE_SESSION:
                continue
            required = [p for p in inspect.signature(method).parameters.values()
                        if p.default is inspect.Parameter.empty
                        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            yield f"{group_name}.{name}", method, [dummy(p) for p in required]


def test_every_call_of_wechatpys_client_gets_wechats_shape_back(sandbox):
    sandbox.interacted("o_alice")
    client = WeChatClient(APPID, SECRET, timeout=5)
    adapter = ToTheSandbox(sandbox.url)
    client._http.mount("https://", adapter)
    client._http.mount("http://", adapter)
    unparsed = []
    for label, method, args in calls(client):
        try:
            result = method(*args)
            if inspect.isgenerator(result):
                next(result, None)
        except WeChatClientException as error:
            if error.errcode is None:
                unparsed.append(f"{label}: {error}")
        except requests.RequestException as error:
            unparsed.append(f"{label}: {error!r}")
        except Exception:  # noqa: BLE001 — our made-up arguments did not suit the method: wechatpy refused them
            pass
    assert not unparsed, unparsed
    not_json = []
    for verb, path, response in adapter.answers:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            not_json.append(f"{verb} {path}: {response.status_code} {response.content[:60]!r}")
    assert not not_json, not_json
    assert len({path for _, path, _ in adapter.answers}) > 150  # it really tried wechatpy's whole surface


def test_wechatpys_client_does_the_simulated_calls_for_real(sandbox):
    sandbox.interacted("o_alice")
    client = WeChatClient(APPID, SECRET, timeout=5)
    client._http.mount("https://", ToTheSandbox(sandbox.url))
    assert client.menu.create({"button": [{"type": "click", "name": "签到", "key": "SIGN_IN"}]})["errcode"] == 0
    assert client.menu.get()["menu"]["button"][0]["sub_button"] == []
    assert client.message.send_text("o_alice", "你好")["errcode"] == 0
    assert client.user.get("o_alice")["subscribe"] == 1
    with pytest.raises(WeChatClientException) as unknown:
        client.message.send_template("o_alice", "TPL_NONE", {"first": {"value": "x"}})
    assert unknown.value.errcode == 40037
    assert client.jsapi.get_jsapi_ticket()
    assert client.menu.delete()["errcode"] == 0
    assert client.menu.get() is None  # wechatpy's reading of 46003 "menu no exist"


def test_wechatpys_oauth_gets_answers_and_errcodes(sandbox):
    oauth = WeChatOAuth(APPID, SECRET, "https://example.com/cb", scope="snsapi_userinfo")
    oauth.API_BASE_URL = sandbox.url + "/"
    with pytest.raises(WeChatOAuthException) as bad:
        oauth.fetch_access_token("made-up")
    assert bad.value.errcode == 40029
    tokens = oauth.fetch_access_token(sandbox.issue_code("o_alice", "snsapi_userinfo"))
    assert tokens["openid"] == "o_alice"
    assert oauth.get_user_info()["openid"] == "o_alice"
    assert oauth.check_access_token()
    assert oauth.refresh_access_token(tokens["refresh_token"])["refresh_token"] == tokens["refresh_token"]
    with pytest.raises(WeChatOAuthException) as missing:
        oauth._get("sns/jscode2session", params={"appid": APPID})
    assert missing.value.errcode == 48001
