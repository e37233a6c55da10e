"""The metrics, each with labels from small fixed sets: never an openid, a path, or anything a client can vary.

They are made on first use, not at import: prometheus_client picks per-process files or memory when a metric is
made, from PROMETHEUS_MULTIPROC_DIR, which the worker command sets first (metrics/multiprocess.py).
"""
from __future__ import annotations

import threading
from types import SimpleNamespace

_made_once = threading.Lock()
_metrics: list[SimpleNamespace] = []  # the process's metrics once made (prometheus_client's registry is global too)


def metrics() -> SimpleNamespace:
    """The metrics, made by the first caller; threads calling at once (a renewal pool's first batch) wait for it,
    since a second registration of the same names would raise."""
    if not _metrics:
        with _made_once:
            if not _metrics:
                from prometheus_client import Counter, Histogram

                _metrics.append(SimpleNamespace(**_made(Counter, Histogram)))
    return _metrics[0]


def _made(Counter, Histogram) -> dict:  # noqa: N803 - the classes, passed in
    return dict(
        pushes=Counter(
            "wechat_bot_pushes", "Pushes from WeChat, by message type and outcome: reply, success, error, overrun "
            "(answered success, the reply sent late), retry (a repeat delivery answered from the first), "
            "retry-timeout, unavailable, refused_<why>", ["type", "outcome"]),
        push_seconds=Histogram(
            "wechat_bot_push_seconds", "Time to answer a push (WeChat gives up at 5 s)", ["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 4.5, 5, 10)),
        late_replies=Counter(
            "wechat_bot_late_replies", "Answers of handlers that overran the window, sent as customer-service "
            "messages", ["result"]),
        callbacks=Counter("wechat_bot_callbacks", "Web-authorization callbacks, by result", ["result"]),
        renewals=Counter(
            "wechat_bot_renewals", "User access_token renewals, by result and WeChat's errcode (0: none)",
            ["result", "errcode"]),
        wechat_calls=Counter(
            "wechat_bot_wechat_api_calls",
            "Calls to WeChat's API, by endpoint and errcode (0: ok, -2: no answer, -3: certificate not trusted)",
            ["api", "errcode"]),
        account_token_fetches=Counter(
            "wechat_bot_account_token_fetches", "Account access_token fetches (stable_token)", ["forced"]),
        ticket_fetches=Counter("wechat_bot_jsapi_ticket_fetches", "jsapi_ticket fetches, by result", ["result"]),
        token_service_calls=Counter(
            "wechat_bot_token_service_calls", "Token-service calls, by caller (a name in WECHAT_API_KEYS) and status",
            ["caller", "status"]),
    )


KNOWN_TYPES = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "event:subscribe",
                         "event:unsubscribe", "event:scan", "event:subscribe_scan", "event:location", "event:click",
                         "event:view", "event:templatesendjobfinish", "event:masssendjobfinish"})


def push_type(kind: str) -> str:
    """A push's type as a label: one of the known ones, else 'other' (the type comes from the message)."""
    return kind if kind in KNOWN_TYPES else ("event:other" if kind.startswith("event:") else "other")


def refused(status: int, reason: str) -> str:
    """A refused push's outcome label, from the few reasons there are."""
    for word, label in (("signature", "signature"), ("timestamp", "timestamp"), ("plaintext", "plaintext"),
                        ("another body", "replayed_query"), ("Encrypt", "encryption"), ("decrypt", "encryption")):
        if word in reason:
            return f"refused_{label}"
    return "refused_too_large" if status == 413 else "refused_malformed"
