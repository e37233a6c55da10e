"""A minimal wechatpy + Flask handler, as wechatpy's examples write it: no retry protection, no state."""
import os

from flask import Flask, request
from wechatpy import parse_message
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

app = Flask(__name__)
TOKEN = os.environ["WECHAT_TOKEN"]


@app.post("/wechat")
def wechat():
    check_signature(TOKEN, request.args["signature"], request.args["timestamp"], request.args["nonce"])
    msg = parse_message(request.get_data())
    return TextReply(content="<a href=\"https://example.com/login\">点此登录</a>", message=msg).render()
