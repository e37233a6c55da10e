"""The sandbox's custom menu: `menu/create` (checked as WeChat checks it), `menu/get`, `menu/delete`."""
from __future__ import annotations

import json

from .api import answer, api, error, posted_json, store
from .keys import key
from .menu_rules import menu_error


@api("/cgi-bin/menu/create", "POST",
     errcodes=(40007, 40016, 40017, 40018, 40019, 40020, 40023, 40024, 40025, 40026, 40027, 40054, 40055, 40097, 47001))
def create_menu():
    menu, refused = posted_json()
    if refused:
        return refused
    problem = menu_error(menu)
    if problem:
        return error(problem)
    store().redis.set(key(store().appid, "menu"), json.dumps(menu, ensure_ascii=False))
    return answer({"errcode": 0, "errmsg": "ok"})


@api("/cgi-bin/menu/get", "GET", errcodes=(46003,))
def get_menu():
    raw = store().redis.get(key(store().appid, "menu"))
    if not raw:
        return error(46003)
    menu = json.loads(raw)
    for button in menu["button"]:  # WeChat gives every button a sub_button list, an empty one on a leaf
        button.setdefault("sub_button", [])
        for sub in button["sub_button"]:
            sub["sub_button"] = []
    return answer({"menu": menu})


@api("/cgi-bin/menu/delete", "GET", errcodes=())
def delete_menu():
    store().redis.delete(key(store().appid, "menu"))
    return answer({"errcode": 0, "errmsg": "ok"})

