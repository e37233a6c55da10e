"""The sandbox of an app under test (`TESTING`, no credentials): served in process, its Redis embedded in a
temporary folder of its own, its WeChat API reached through the app itself instead of over the network."""
from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

ORIGIN = "http://localhost"  # the origin Flask's test client requests come from


def scratch_dir(app: object) -> Path:
    """A folder for `app`'s sandbox account and embedded Redis, removed (its Redis stopped) when the app is
    collected or Python exits, whichever comes first."""
    folder = Path(tempfile.mkdtemp(prefix="wechat_bot-test-"))
    weakref.finalize(app, _remove, folder)
    return folder


def _remove(folder: Path) -> None:
    from ..storage import embedded_redis

    embedded_redis.stop(folder)
    shutil.rmtree(folder, ignore_errors=True)


class InProcess(requests.adapters.BaseAdapter):
    """requests' calls answered by a WSGI app in this process, whatever host they name."""

    def __init__(self, app: Callable) -> None:
        super().__init__()
        self._app = app

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout=None, verify=True, cert=None,
             proxies=None) -> requests.Response:
        parts = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        # requests types a header's value str | bytes; the values are passed on as they are
        sent: dict[str, Any] = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        builder = EnvironBuilder(path=parts.path, query_string=parts.query, method=request.method or "GET",
                                 base_url=f"{parts.scheme}://{parts.netloc}",
                                 data=cast("bytes | IO[bytes]", body),  # what requests made of data= or files=
                                 headers=Headers(sent))
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        chunks, status, headers = run_wsgi_app(self._app, environ, buffered=True)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        response = requests.Response()
        code, _, response.reason = status.partition(" ")
        response.status_code = int(code)
        response.headers = CaseInsensitiveDict(headers.to_wsgi_list())
        response.encoding = get_encoding_from_headers(response.headers)
        response._content, response.url, response.request = content, request.url or "", request
        return response

    def close(self) -> None:
        pass


def in_process_session(app: Callable) -> requests.Session:
    """A requests session whose every http(s) call goes to `app`."""
    session = requests.Session()
    session.trust_env = False
    adapter = InProcess(app)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
