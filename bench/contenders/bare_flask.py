"""The ceiling of the web stack: a Flask view that answers `success` and does nothing else."""
from flask import Flask

app = Flask(__name__)


@app.post("/wechat")
def wechat():
    return "success"
