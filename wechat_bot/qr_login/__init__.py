"""Scan to sign in (公众号扫码登录): a desktop browser shows the account's temporary QR code; the phone that scans
it confirms on a page of ours; then that browser, and no other, is signed in."""
from .views import bp

__all__ = ["bp"]
