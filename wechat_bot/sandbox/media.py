"""The sandbox's temporary media (`media/upload`, `media/get`): kept 3 days, as WeChat keeps them, and the only
`media_id`s a customer-service message or a user's image, voice or video push may carry."""
from __future__ import annotations

import json
import mimetypes
import re

from flask import Response, request, url_for

from .api import answer, api, bp, error, store
from .keys import key, random_token

LIFETIME = 3 * 24 * 3600  # temporary media live 3 days
LIMITS = {"image": (10 << 20, 40009), "voice": (2 << 20, 40010), "video": (10 << 20, 40011),
          "thumb": (64 << 10, 40012)}  # the largest file of each type, and WeChat's errcode past it
LARGEST_UPLOAD = max(limit for limit, _ in LIMITS.values()) + 64 * 1024  # the largest file and its form around it
FORMATS = {"image": ("bmp", "png", "jpeg", "jpg", "gif"), "voice": ("amr", "mp3"), "video": ("mp4",),
           "thumb": ("jpg", "jpeg")}  # the file types WeChat takes for each (else 40005)


def save_media(kind: str, data: bytes, content_type: str, filename: str) -> str:
    """Keep a file as WeChat keeps temporary media; its media_id."""
    sandbox, media_id = store(), random_token(64)
    record = {"type": kind, "content_type": content_type, "filename": filename, "created_at": int(sandbox.clock())}
    with sandbox.redis.pipeline(transaction=False) as pipe:
        pipe.set(key(sandbox.appid, "media", media_id), json.dumps(record), ex=LIFETIME + 3600)
        pipe.set(key(sandbox.appid, "media", media_id, "data"), data, ex=LIFETIME + 3600)
        pipe.execute()
    return media_id


_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what save_media makes: nothing that names another key


def media_record(media_id: str) -> dict | None:
    """A temporary medium within its 3 days, or None."""
    sandbox = store()
    raw = sandbox.redis.get(key(sandbox.appid, "media", media_id)) if _MEDIA_ID.fullmatch(media_id or "") else None
    record = json.loads(raw) if raw else None
    return record if record and sandbox.clock() - record["created_at"] < LIFETIME else None


def media_live(media_id: str) -> bool:
    return media_record(media_id) is not None


@api("/cgi-bin/media/upload", "POST", errcodes=(40004, 40005, 40009, 40010, 40011, 40012, 41005, 44001))
def upload_media():
    request.max_content_length = LARGEST_UPLOAD  # beside a site, whose own limit is for pushes
    kind = request.args.get("type", "")
    if kind not in LIMITS:
        return error(40004)
    upload = request.files.get("media")
    if upload is None:
        return error(41005)
    data = upload.read()
    limit, too_large = LIMITS[kind]
    if not data:
        return error(44001)
    if len(data) > limit:
        return error(too_large)
    filename = upload.filename or kind
    content_type = upload.mimetype if upload.mimetype not in ("", "application/octet-stream") else (
        mimetypes.guess_type(filename)[0] or "application/octet-stream")
    if file_type(filename, content_type) not in FORMATS[kind]:
        return error(40005)
    media_id = save_media(kind, data, content_type, filename)
    field = "thumb_media_id" if kind == "thumb" else "media_id"
    return answer({"type": kind, field: media_id, "created_at": int(store().clock())})


def file_type(filename: str, content_type: str) -> str:
    """A file's type as its name's extension says, else as its content type does."""
    if "." in filename:
        return filename.rsplit(".", 1)[1].lower()
    return {"audio/mpeg": "mp3", "audio/amr": "amr"}.get(content_type, content_type.rsplit("/", 1)[-1].lower())


@api("/cgi-bin/media/get", "GET", errcodes=(40007,))
def get_media():
    """The file (a video as its `video_url`, as WeChat answers); 40007 for a media_id unknown or past its 3 days."""
    media_id = request.args.get("media_id", "")
    record = media_record(media_id)
    if record is None:
        return error(40007)
    if record["type"] == "video":
        return answer({"video_url": url_for("sandbox_api.media_file", media_id=media_id, _external=True)})
    return media_file(media_id)


@bp.get("/sandbox/media/<media_id>")
def media_file(media_id: str):
    """A medium's bytes, as WeChat's CDN serves a video_url (no token)."""
    record = media_record(media_id)
    data = store().redis.get(key(store().appid, "media", media_id, "data")) if record else None
    if record is None or data is None:
        return Response("not found", status=404, content_type="text/plain")
    safe_name = "".join(c for c in record["filename"] if (c.isascii() and c.isalnum()) or c in "._-") or "media"
    return Response(data, content_type=record["content_type"],
                    headers={"Content-Disposition": f'attachment; filename="{safe_name}"'})
