"""Push fields to typed wechatpy message objects, checked so a handler never meets a malformed field."""
from __future__ import annotations

import functools
import re
from typing import Any

from wechatpy import events, messages
from wechatpy.fields import DateTimeField, FloatField, IntegerField, StringField

from ..errors import BadPush
from .xml_parser import Fields

ENVELOPE = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


class TextMessage(messages.TextMessage):
    """A text; `msg_data_id` and `idx` are set when it was sent from an article."""

    msg_data_id = StringField("MsgDataId")
    idx = IntegerField("Idx")


class ImageMessage(messages.ImageMessage):
    msg_data_id = StringField("MsgDataId")
    idx = IntegerField("Idx")


class VoiceMessage(messages.VoiceMessage):
    media_id_16k = StringField("MediaId16K")


class ViewEvent(events.ViewEvent):
    menu_id = StringField("MenuId")


class UnknownEvent(events.BaseEvent):
    """An event wechatpy has no class for; `event` holds its lower-cased name."""

    key = StringField("EventKey", "")


MESSAGE_TYPES = {**messages.MESSAGE_TYPES, "text": TextMessage, "image": ImageMessage, "voice": VoiceMessage}
EVENT_TYPES = {**events.EVENT_TYPES, "view": ViewEvent}


def build_message(fields: Fields) -> messages.BaseMessage:
    """The typed message for a push's fields; BadPush when a required field is missing or malformed."""
    for name in ENVELOPE:
        value = fields.get(name)
        if not isinstance(value, str) or not value.strip():
            raise BadPush(400, f"{name} is missing")
    fields = dict(fields)
    msg_type = str(fields["MsgType"]).strip().lower()  # a string: checked above
    if msg_type == "event":
        message = _event(fields)
    else:
        cls = MESSAGE_TYPES.get(msg_type, messages.UnknownMessage)
        if cls is not messages.UnknownMessage and not fields.get("MsgId"):
            raise BadPush(400, "MsgId is missing")
        message = cls(fields)
    _check_field_types(type(message), fields)
    return message


def push_identity(message: messages.BaseMessage) -> str:
    """What WeChat keeps the same across retries of one push: sender and MsgId, else sender, time, event and key."""
    data = message._data  # the envelope's fields are checked strings: read as they are, not through wechatpy's fields
    if data.get("MsgId"):
        return f"{data['ToUserName']}:m:{data['FromUserName']}:{data['MsgId']}"
    parts = (data["FromUserName"], data["CreateTime"], data.get("Event", data["MsgType"]), data.get("EventKey", ""))
    return f"{data['ToUserName']}:e:" + ":".join(str(part) for part in parts)


def _event(fields: Fields) -> messages.BaseMessage:
    raw_event = fields.get("Event")
    if not isinstance(raw_event, str) or not raw_event.strip():
        raise BadPush(400, "Event is missing")
    event = raw_event.strip().lower()
    key = fields.get("EventKey")
    if event == "subscribe" and isinstance(key, str):
        if key.startswith("qrscene_"):
            event, fields["EventKey"] = "subscribe_scan", key[len("qrscene_"):]
        elif key.startswith(("scanbarcode|", "scanimage|")):
            event = "subscribe_scan_product"
    cls = EVENT_TYPES.get(event)
    if cls is None:
        message = UnknownEvent(fields)
        message.event = event
        return message
    return cls(fields)


# 0-9 only: str.isdigit() also accepts ² and other digits int() refuses.
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
_SECONDS = re.compile(r"[0-9]{1,11}")  # wechatpy makes a datetime of it: 12 digits and more overflow it

_CHECKS = {
    StringField: (lambda value: isinstance(value, str), "text"),
    IntegerField: (lambda value: isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()), "a whole number"),
    DateTimeField: (lambda value: isinstance(value, str) and _SECONDS.fullmatch(value.strip()), "a time in seconds"),
    FloatField: (lambda value: isinstance(value, str) and _is_float(value), "a number"),
}


def _check_field_types(cls: type, fields: Fields) -> None:
    for name, (check, wanted) in _checks_of(cls):
        value = fields.get(name)
        if value and not check(value):
            raise BadPush(400, f"{name} must be {wanted}")


@functools.cache
def _checks_of(cls: Any) -> tuple:
    """Each field of the message class that has a check: its name and the check. (`cls`: a wechatpy message class,
    typed Any: wechatpy ships no type information.)"""
    return tuple((field.name, _CHECKS[type(field)]) for field in cls._fields.values() if type(field) in _CHECKS)


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
