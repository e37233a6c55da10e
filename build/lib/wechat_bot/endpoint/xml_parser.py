"""A hardened XML parser for push bodies: no DTD, no entities, no network, flat fields out."""
from __future__ import annotations

import threading

from lxml import etree

from ..errors import BadPush

_local = threading.local()

Fields = dict[str, "str | Fields | list"]


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
    return parser


def parse_fields(body: bytes) -> Fields:
    """The children of the root `<xml>` element as a dict; nested elements become nested dicts."""
    if not body.strip():
        raise BadPush(400, "empty body")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadPush(400, "XML with a DTD or entity declaration")
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError) as error:
        raise BadPush(400, f"malformed XML: {str(error)[:80]}") from None
    if root.getroottree().docinfo.doctype:
        raise BadPush(400, "XML with a DTD or entity declaration")
    if root.tag != "xml":
        raise BadPush(400, "the root element is not <xml>")
    return _children(root)


def _children(element: etree._Element) -> Fields:
    fields: Fields = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        value = _children(child) if len(child) else (child.text or "")
        if child.tag in fields:
            previous = fields[child.tag]
            fields[child.tag] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            fields[child.tag] = value
    return fields
