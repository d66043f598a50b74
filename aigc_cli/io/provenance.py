"""Provenance in the image file itself: what made an image, readable by any XMP tool.

Each image carries one XMP packet (ISO 16684-1): in PNG an ``iTXt`` chunk named
``XML:com.adobe.xmp``, in JPEG an APP1 segment, in WebP an ``XMP`` chunk, in TIFF tag
700 -- the places exiftool, Adobe's tools and C2PA validators look. It says:

- ``Iptc4xmpExt:DigitalSourceType``: IPTC's ``trainedAlgorithmicMedia`` for a generated
  image, ``algorithmicallyEnhanced`` for a denoised photo that did not already say
  where it came from (IPTC NewsCodes, Digital Source Type);
- ``xmp:CreatorTool`` for a generated image;
- ``aigc:Record``: one JSON object, which reads back exactly (tool, version, checkpoint
  and config SHA-256, epsilon and delta of a private run, the edits made).

A denoised photo keeps its own packet: the edit is added as a description of its own.
BMP and GIF have no XMP place Pillow writes, so files in them carry no record.
Reading never resolves entities: a packet declaring a DTD is ignored, not parsed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape, unescape

from PIL import Image

from aigc_cli.io.images import PNG_XMP_KEYWORD, TIFF_XMP_TAG

NAMESPACE = "urn:aigc:provenance:1#"
IPTC_EXTENSION = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XMP_BASIC = "http://ns.adobe.com/xap/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
GENERATED = SOURCE_TYPES + "trainedAlgorithmicMedia"
ENHANCED = SOURCE_TYPES + "algorithmicallyEnhanced"

_OWN_DESCRIPTION = re.compile(r'\s*<rdf:Description rdf:about="" xmlns:aigc="'
                              + re.escape(NAMESPACE) + r'".*?</rdf:Description>', re.S)


def description(record: dict, source_type: str | None = None,
                creator_tool: str | None = None) -> str:
    """The ``rdf:Description`` that carries ``record`` (and the standard properties)."""
    properties = []
    if source_type:
        properties.append(f"<Iptc4xmpExt:DigitalSourceType>{escape(source_type)}"
                          "</Iptc4xmpExt:DigitalSourceType>")
    if creator_tool:
        properties.append(f"<xmp:CreatorTool>{escape(creator_tool)}</xmp:CreatorTool>")
    properties.append(f"<aigc:Record>{escape(json.dumps(record, sort_keys=True))}"
                      "</aigc:Record>")
    return (f'<rdf:Description rdf:about="" xmlns:aigc="{NAMESPACE}" '
            f'xmlns:Iptc4xmpExt="{IPTC_EXTENSION}" xmlns:xmp="{XMP_BASIC}">'
            + "".join(properties) + "</rdf:Description>")


def packet(record: dict, source_type: str | None = None,
           creator_tool: str | None = None) -> bytes:
    """A whole XMP packet holding ``record`` (UTF-8 bytes)."""
    return _wrap(description(record, source_type, creator_tool))


def _wrap(descriptions: str) -> bytes:
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
            f'<rdf:RDF xmlns:rdf="{RDF}">{descriptions}</rdf:RDF>'
            '</x:xmpmeta><?xpacket end="r"?>').encode("utf-8")


def with_edit(existing: bytes | None, edit: dict) -> bytes:
    """The packet of an edited image: ``existing`` (the input's own packet, or None)
    kept as it was, with ``edit`` appended to its aigc record's ``edits`` (a record is
    started when it has none). A packet that cannot be extended (no ``rdf:RDF``
    element) is kept unchanged: the input's metadata matters more than ours."""
    if not existing:
        return packet({"edits": [edit]}, ENHANCED)
    text = existing.decode("utf-8", "replace")
    previous = _OWN_DESCRIPTION.search(text)
    others = _OWN_DESCRIPTION.sub("", text)
    record = ((read_packet(existing) or {}).get("record") or {}) if previous else {}
    record = {**record, "edits": [*record.get("edits", []), edit]}
    # A source type stated by the input (a camera's, an editor's) is not repeated; one
    # from our own generation record is kept.
    own = previous.group(0) if previous else ""
    source_type = None if "DigitalSourceType" in others else (
        _property(own, "Iptc4xmpExt:DigitalSourceType") if previous else ENHANCED)
    closing = others.rfind("</rdf:RDF>")
    if closing < 0:
        return existing
    kept = description(record, source_type, _property(own, "xmp:CreatorTool"))
    return (others[:closing] + kept + others[closing:]).encode("utf-8")


def _property(own_description: str, name: str) -> str | None:
    """A property's text in a description this module wrote (its form is known)."""
    found = re.search(f"<{name}>(.*?)</{name}>", own_description)
    return unescape(found.group(1)) if found else None


def tool_record() -> dict:
    """The fields every record starts with."""
    from aigc_cli import __version__

    return {"tool": "aigc", "version": __version__}


def generated_packet(record: dict) -> bytes:
    """The packet of an image a trained model generated."""
    return packet(record, GENERATED, f"aigc {record.get('version', '')}".strip())


def read_packet(data: bytes) -> dict | None:
    """What a packet says: {"record": the aigc JSON object or None, "digital_source_type",
    "creator_tool"}; None for a packet that does not parse or declares a DTD."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None
    found = {"record": None, "digital_source_type": None, "creator_tool": None}
    for node in root.iter(f"{{{RDF}}}Description"):
        for name, tag in (("digital_source_type", f"{{{IPTC_EXTENSION}}}DigitalSourceType"),
                          ("creator_tool", f"{{{XMP_BASIC}}}CreatorTool")):
            value = node.get(tag) or node.findtext(tag)  # attribute or element form
            if value and not found[name]:
                found[name] = value.strip()
        text = node.findtext(f"{{{NAMESPACE}}}Record")
        if text:
            try:
                found["record"] = json.loads(text)
            except json.JSONDecodeError:
                pass
    return found


def read_file_packet(path: str | Path) -> bytes | None:
    """The XMP packet an image file carries, by its content (None when it has none)."""
    with Image.open(path) as image:
        return xmp_of(image)


def xmp_of(image: Image.Image) -> bytes | None:
    """The XMP packet of an opened image (PNG iTXt, JPEG APP1, WebP chunk, TIFF tag)."""
    data = image.info.get("xmp") or image.info.get(PNG_XMP_KEYWORD)
    if data is None and hasattr(image, "tag_v2"):
        data = image.tag_v2.get(TIFF_XMP_TAG)
    return (data.encode("utf-8") if isinstance(data, str) else data) or None


def read_provenance(path: str | Path) -> dict | None:
    """What an image file says of its making (see :func:`read_packet`); None without XMP."""
    data = read_file_packet(path)
    return read_packet(data) if data else None
