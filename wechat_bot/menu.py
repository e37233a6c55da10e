"""The account's custom menu: publish one from a JSON file, where a VIEW button may name an authorize scope
instead of a URL, and the authorize URL is built here (around our callback, with a lasting state)."""
from __future__ import annotations

import copy
import json
from typing import Any

from .errors import WeChatBotError, WeChatError
from .oauth.links import AuthorizeLinks, safe_next
from .wechat_api import SCOPES


def build_menu(spec: dict[str, Any], links: AuthorizeLinks) -> dict[str, Any]:
    """WeChat's menu JSON: `{"type": "view", "name": …, "scope": "snsapi_base", "next": "/me"}` gets its `url`."""
    if not isinstance(spec, dict):
        raise WeChatBotError('menu: the file must hold a JSON object, {"button": [...]}')
    menu = copy.deepcopy(spec)
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise WeChatBotError("menu: 'button' must list 1 to 3 buttons")
    for button in buttons:
        if not isinstance(button, dict):
            raise WeChatBotError(f"menu: each button must be an object with a name, not {json.dumps(button)[:40]}")
        subs = button.get("sub_button", [])
        if not isinstance(subs, list) or not all(isinstance(sub, dict) for sub in subs):
            raise WeChatBotError(f"menu: button {button.get('name')!r}: 'sub_button' must be a list of objects")
        for item in [button, *subs]:
            _fill(item, links)
    return menu


def _fill(button: dict[str, Any], links: AuthorizeLinks) -> None:
    scope = button.pop("scope", None)
    next_path = button.pop("next", None)
    if scope is None:
        return
    if button.get("type") != "view":
        raise WeChatBotError(f"menu: button {button.get('name')!r} names a scope but is not of type view")
    if scope not in SCOPES:
        raise WeChatBotError(f"menu: button {button.get('name')!r}: scope must be one of {', '.join(SCOPES)}")
    if next_path is not None and safe_next(next_path) is None:
        raise WeChatBotError(f"menu: button {button.get('name')!r}: next must be a path on this site")
    button["url"] = links.lasting(scope, next_path)


def published_menu(services) -> dict[str, Any] | None:
    """The account's current menu as WeChat gives it, or None when none is published (46003)."""
    token = services.account_token.get()
    try:
        return services.client.get_menu(token)
    except WeChatError as error:
        if error.errcode != 46003:
            raise
        return None


def publish(services, path: str, port: int) -> int:
    """Publish the menu in the JSON file at `path`, its scoped VIEW buttons built on the public origin; returns
    the number of top-level buttons."""
    from .web.public_url import discover_tunnel

    try:
        spec = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as error:
        raise WeChatBotError(f"{path}: not a readable JSON file ({type(error).__name__})") from None
    base = services.settings.public_base_url or discover_tunnel(services.settings.ngrok_api_url, port)
    if not base:
        raise WeChatBotError("PUBLIC_BASE_URL: not set and no ngrok tunnel found; menu links need the public origin")
    token = services.account_token.get()
    services.client.create_menu(token, build_menu(spec, services.links(base + services.settings.url_prefix)))
    return len(spec.get("button", [])) if isinstance(spec, dict) else 0
