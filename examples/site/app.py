"""An existing Flask site (its own pages, SQLite users) that adds WeChat login with wechat_bot.

    wechat-bot serve --app app:app        # with no WeChat credentials: the site plus the sandbox WeChat
    flask --app app run                   # the same, with Flask's own development server

A visitor signs in with WeChat; an openid already bound to an account signs that account in, else the bind
page links it to one. The chat handler answers from the site's database; /profile calls WeChat's API with
the user's own token; /account sets what WeChat shares with the JS-SDK (wx.config signed by wechat_bot).
"""
from __future__ import annotations

import os
import sqlite3

from flask import Flask, abort, g, redirect, render_template, request, url_for

from wechat_bot import ReauthRequired, Router, WeChatBot

router = Router()
app = Flask(__name__)
app.config.from_mapping(SECRET_KEY=os.environ.get("SITE_SECRET_KEY", "dev only: set SITE_SECRET_KEY"),
                        DATABASE=os.environ.get("SITE_DATABASE", "site.sqlite3"))
wechat = WeChatBot(app, router=router)
app.jinja_env.globals["wechat"] = wechat  # templates load the JS-SDK with wechat.jssdk_script_url


def db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row
        g.db.execute("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, "
                     "openid TEXT UNIQUE)")
    return g.db


@app.teardown_appcontext
def close_db(_error: BaseException | None) -> None:
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


def account_of(openid: str) -> sqlite3.Row | None:
    return db().execute("SELECT * FROM users WHERE openid = ?", (openid,)).fetchone()


@app.get("/")
def home():
    return render_template("home.html")


@app.get("/account")
@wechat.login_required
def account():
    """Already bound? This account. Not yet? The bind page."""
    user = account_of(wechat.current_user.openid)
    if user is None:
        return redirect(url_for("bind"))
    return render_template("account.html", user=user, wechat_user=wechat.current_user)


@app.route("/bind", methods=["GET", "POST"])
@wechat.login_required
def bind():
    openid = wechat.current_user.openid
    if account_of(openid) is not None:
        return redirect(url_for("account"))
    if request.method == "POST":
        name = request.form.get("name", "").strip()[:32]
        if not name:
            return render_template("bind.html", error="请填写用户名"), 400
        with db():
            db().execute("INSERT INTO users (name, openid) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET openid = excluded.openid WHERE openid IS NULL",
                         (name, openid))
        if account_of(openid) is None:
            return render_template("bind.html", error="这个用户名已绑定其他微信"), 409
        return redirect(url_for("account"))
    return render_template("bind.html", error=None)


@app.get("/profile")
@wechat.login_required(scope="snsapi_userinfo")
def profile():
    """WeChat's API with the user's own token: wechat.user() renews it when it has expired."""
    try:
        info = wechat.user(wechat.current_user.openid).userinfo()
    except ReauthRequired as needed:
        return redirect(needed.authorize_url)
    return render_template("profile.html", info=info)


@app.errorhandler(404)
def not_found(_error):
    return render_template("404.html"), 404


@router.keyword("我的账号", "account")
def my_account(msg, ctx):
    """A chat handler that reads the site's database (not pure: it does I/O)."""
    with app.app_context():
        user = account_of(msg.source)
    return f"你的账号：{user['name']}" if user else "你还没有绑定账号，发送「登录」后在网页上绑定。"


@app.get("/admin")
def admin():
    abort(403)
