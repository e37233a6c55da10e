"""The ceiling for a server that recognises retries: Flask plus one Redis round trip (a MsgId marker)."""
import os
import re

import redis
from flask import Flask, request

app = Flask(__name__)
store = redis.Redis(unix_socket_path=os.environ["BENCH_REDIS_SOCKET"])
MSG_ID = re.compile(rb"<MsgId>(\d+)</MsgId>")


@app.post("/wechat")
def wechat():
    match = MSG_ID.search(request.get_data())
    store.set(b"bench:" + (match.group(1) if match else b"none"), b"1", nx=True, ex=600)
    return "success"
