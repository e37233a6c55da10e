"""The account's own API in the sandbox: its global access_token (cgi-bin/token, stable_token with WeChat's limits
on forcing one), the JS-SDK's jsapi_ticket and getcallbackip."""
from __future__ import annotations

import secrets

from flask import request

from .. import json_body
from .api import _check_app, answer, api, error, store
from .not_simulated import unsimulated

CALLBACK_IPS = ["127.0.0.1"]  # the sandbox pushes from this machine


@api("/cgi-bin/token", "GET", account_token=False, errcodes=(40002, 40013, 40125, 41002, 41004))
def global_token():
    refused = _check_app(secret_needed=True)
    if refused:
        return refused
    if request.args.get("grant_type") != "client_credential":
        return error(40002)
    return answer(store().global_token(stable=False))


@api("/cgi-bin/stable_token", "POST", account_token=False, errcodes=(40002, 40013, 40125, 45009, 45011, 47001))
def stable_token():
    try:
        body = json_body.loads(request.get_data() or b"{}")
    except ValueError:
        return error(47001)
    if not isinstance(body, dict):
        return error(47001)
    sandbox = store()
    if body.get("grant_type") != "client_credential":
        return error(40002)
    if body.get("appid") != sandbox.appid:
        return error(40013)
    if not secrets.compare_digest(str(body.get("secret", "")), sandbox.secret):
        return error(40125)
    force = bool(body.get("force_refresh"))
    refused = sandbox.count_forced_refresh() if force else None
    return error(refused) if refused else answer(sandbox.global_token(force=force))


@api("/cgi-bin/getcallbackip", "GET", errcodes=())
def callback_ips():
    """The addresses WeChat's pushes come from: the sandbox's own machine."""
    return answer({"ip_list": CALLBACK_IPS})


@api("/cgi-bin/ticket/getticket", "GET", errcodes=(40097, 48001))
def get_ticket():
    """The JS-SDK's jsapi_ticket (type=jsapi), with the account's global access_token; the card ticket is not
    simulated."""
    if request.args.get("type") == "wx_card":
        return unsimulated("/cgi-bin/ticket/getticket?type=wx_card")
    if request.args.get("type") != "jsapi":
        return error(40097)
    return answer(store().jsapi_ticket())
