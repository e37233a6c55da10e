"""The token service (中控): the account's tokens, the jsapi_ticket and users' tokens for the account's other systems,
over HTTP with a key each (WECHAT_API_KEYS), so no second system fetches a token of its own and ends ours."""
from .views import bp

__all__ = ["bp"]
