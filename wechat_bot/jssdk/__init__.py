"""The JS-SDK: the shared jsapi_ticket, wx.config's signature, and the routes a page's script uses."""
from .views import bp

__all__ = ["bp"]
