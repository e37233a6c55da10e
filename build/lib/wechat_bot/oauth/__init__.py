"""Web authorization: authorize links, the callback, tokens in Redis."""
from flask import Flask

from .signals import on_authorized
from .views import bp

__all__ = ["init_app", "on_authorized"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
