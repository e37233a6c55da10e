"""WECHAT_VERIFY_FILE: the domain-verification file WeChat fetches before it saves a domain, served at the root."""
from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import CREDENTIALS, NOWHERE
from wechat_bot import WeChatBot

NAME = "MP_verify_Ab12Cd34Ef56Gh78.txt"


@pytest.mark.parametrize("prefix", ["", "/wx"])
def test_the_file_answers_its_code_at_the_root_whatever_the_prefix(make_app, prefix):
    client = make_app({"WECHAT_VERIFY_FILE": NAME, "WECHAT_URL_PREFIX": prefix}).test_client()
    answer = client.get("/" + NAME)
    assert answer.status_code == 200 and answer.data == b"Ab12Cd34Ef56Gh78"
    assert answer.mimetype == "text/plain"


@pytest.mark.parametrize("path", [
    "/MP_verify_Ab12Cd34Ef56Gh79.txt", "/MP_verify_x.txt", "/MP_verify_Ab12Cd34Ef56Gh78.txt.bak",
    "/wx/" + NAME, "/MP_verify_Ab12Cd34Ef56Gh78.TXT",
])
def test_any_other_name_is_404(make_app, path):
    client = make_app({"WECHAT_VERIFY_FILE": NAME, "WECHAT_URL_PREFIX": "/wx"}).test_client()
    assert client.get(path).status_code == 404


def test_without_the_setting_no_verification_file_answers(make_app):
    assert make_app().test_client().get("/" + NAME).status_code == 404


def test_in_a_site_under_a_prefix_the_file_is_at_the_sites_root_and_other_names_get_the_sites_404(redis):
    app = Flask("site")
    app.config.update({"SECRET_KEY": "site", **CREDENTIALS, **NOWHERE, "WECHAT_URL_PREFIX": "/wx",
                       "WECHAT_VERIFY_FILE": NAME})
    WeChatBot().init_app(app, redis=redis)

    @app.errorhandler(404)
    def not_found(error):
        return "site 404 page", 404

    client = app.test_client()
    assert client.get("/" + NAME).data == b"Ab12Cd34Ef56Gh78"
    other = client.get("/MP_verify_0000000000000000.txt")
    assert other.status_code == 404 and other.data == b"site 404 page"
