"""Reading and writing the photos ``aigc denoise`` works on, losslessly.

PNG goes through TensorFlow's codec, which keeps 16 bits per channel in and
out (Pillow reads 16-bit RGB PNGs as 8-bit); other formats through Pillow,
upright per their EXIF orientation. Alpha is split off and passed through, and
so are the colour profile (ICC) and, where the format has it, the EXIF block
(minus the orientation, already applied): a denoised photo keeps its colours
and camera data.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

from aigc_cli.io.images import PNG_XMP_KEYWORD, TIFF_XMP_TAG
from aigc_cli.io.provenance import xmp_of


JPEG_QUALITY = 95
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Photo:
    """Colour channels in [0, 1] as float32 [H, W, 1|3], plus what writing it back needs."""

    pixels: np.ndarray
    alpha: np.ndarray | None  # the original alpha channel, untouched
    bits: int  # 8 or 16
    format: str  # "PNG", "JPEG", ...
    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None  # the XMP packet (aigc_cli.io.provenance)


def read_photo(path: Path) -> Photo:
    """Decode an image file by its content, whatever its name says (downloaded JPEGs are
    often named .png); raises on anything that is not a readable image."""
    with open(path, "rb") as stream:
        is_png = stream.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    if is_png:
        bits = 16 if _png_header(path) == 16 else 8
        data = tf.io.read_file(str(path))
        array = tf.io.decode_png(data, dtype=tf.uint16).numpy()
        if bits == 8:
            array = (array // 257).astype(np.uint8)  # decode_png scaled 8-bit data by 257
        with Image.open(path) as header:  # reads the chunks before the pixels only
            icc_profile, exif = header.info.get("icc_profile"), header.info.get("exif")
            xmp = xmp_of(header)
        array, exif = _upright(array, exif)
        return _split(array, bits, "PNG", icc_profile, exif, xmp)
    with Image.open(path) as image:
        image.load()
        # Many camera JPEGs carry a multi-picture block, which Pillow names MPO.
        image_format = {"MPO": "JPEG", None: "PNG"}.get(image.format, image.format)
        xmp = xmp_of(image)
        image = ImageOps.exif_transpose(image)  # also drops the orientation tag
    metadata = (image.info.get("icc_profile"), image.info.get("exif"), xmp)
    if image.mode in ("I;16", "I;16B", "I"):
        return _split(np.asarray(image, dtype=np.uint16)[..., None], 16, image_format,
                      *metadata)
    mode = {"1": "L", "L": "L", "LA": "LA", "RGBA": "RGBA"}.get(image.mode, "RGB")
    if image.mode == "P" and "transparency" in image.info:
        mode = "RGBA"
    return _split(np.asarray(image.convert(mode)), 8, image_format, *metadata)


def format_of_name(path: Path) -> str | None:
    """The format a file's extension promises ("PNG", "JPEG", ...), if Pillow knows it."""
    return Image.registered_extensions().get(path.suffix.lower())


def _profile_for(array: np.ndarray, icc_profile: bytes | None) -> bytes | None:
    """The profile if it describes the channels kept (a CMYK file's does not)."""
    colour_space = b"GRAY" if array.shape[-1] in (1, 2) else b"RGB "
    return icc_profile if icc_profile and icc_profile[16:20] == colour_space else None


#: Pillow's own decompression-bomb error threshold, applied to every decoder.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS


def _png_header(path: Path) -> int:
    """A PNG's bit depth, after checking its size: TF's decoder has no pixel limit
    (Pillow's path has its own)."""
    with open(path, "rb") as stream:
        header = stream.read(26)
    if len(header) < 25 or header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    if width * height > MAX_PIXELS:
        raise ValueError(f"{width}x{height} = {width * height} pixels is over the limit of "
                         f"{MAX_PIXELS} (a decompression bomb?)")
    return header[24]


#: EXIF orientation -> the same turn of an [H, W, C] array as ImageOps.exif_transpose.
ORIENTATIONS = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
}
ORIENTATION_TAG = 0x0112


def _upright(array: np.ndarray, exif: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """A TF-decoded PNG turned per its eXIf orientation, and the EXIF without the tag."""
    if not exif:
        return array, exif
    tags = Image.Exif()
    try:
        tags.load(exif)
    except Exception:  # a damaged EXIF block: the pixels are fine, the block is dropped
        return array, None
    turn = ORIENTATIONS.get(tags.get(ORIENTATION_TAG))
    if turn is None:
        return array, exif
    del tags[ORIENTATION_TAG]
    return np.ascontiguousarray(turn(array)), tags.tobytes()


def _split(array: np.ndarray, bits: int, image_format: str, icc_profile: bytes | None = None,
           exif: bytes | None = None, xmp: bytes | None = None) -> Photo:
    if array.ndim == 2:
        array = array[..., None]
    scale = 65535.0 if bits == 16 else 255.0
    colour, alpha = (array[..., :-1], array[..., -1:]) if array.shape[-1] in (2, 4) else \
        (array, None)
    return Photo(colour.astype(np.float32) / scale, alpha, bits, image_format,
                 _profile_for(colour, icc_profile), exif, xmp)


def encode_photo(pixels: np.ndarray, like: Photo) -> bytes:
    """Bytes of ``pixels`` (float [H, W, C] in [0, 1]) in ``like``'s format, depth, alpha."""
    scale, dtype = (65535.0, np.uint16) if like.bits == 16 else (255.0, np.uint8)
    array = np.clip(np.rint(pixels * scale), 0, scale).astype(dtype)
    if like.alpha is not None:
        array = np.concatenate([array, like.alpha.astype(dtype)], axis=-1)
    if like.format == "PNG":
        return _with_metadata_chunks(tf.io.encode_png(tf.constant(array)).numpy(), like)
    # Pillow picks the mode from the array: L, LA, RGB, RGBA, or I;16 for 16-bit gray.
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    if like.format == "JPEG" and image.mode in ("LA", "RGBA"):
        image = image.convert(image.mode[:-1])
    buffer = io.BytesIO()
    image.save(buffer, format=like.format, **_save_options(like))
    return buffer.getvalue()


def _save_options(like: Photo) -> dict:
    options = {}
    if like.format == "JPEG":
        # 4:4:4 chroma: the default 4:2:0 would blur the colour detail a denoiser keeps.
        options = {"quality": JPEG_QUALITY, "subsampling": 0}
    elif like.format == "WEBP":
        options = {"lossless": True}  # Pillow's default is lossy (quality 80)
    if like.format in ("JPEG", "WEBP", "TIFF"):
        options.update({key: value for key, value in
                        (("icc_profile", like.icc_profile), ("exif", like.exif)) if value})
    if like.xmp and like.format in ("JPEG", "WEBP"):
        options["xmp"] = like.xmp
    elif like.xmp and like.format == "TIFF":
        # One tag set: Pillow drops ``exif`` when ``tiffinfo`` is given.
        tags = Image.Exif()
        if like.exif:
            tags.load(like.exif)
        tags[TIFF_XMP_TAG] = like.xmp
        options.pop("exif", None)
        options["tiffinfo"] = tags
    return options


def _with_metadata_chunks(png: bytes, like: Photo) -> bytes:
    """``png`` with iCCP, eXIf and XMP (iTXt) chunks after its header (TF's encoder
    writes none of them)."""
    chunks = b""
    if like.icc_profile:  # profile name, NUL, compression method 0 (zlib)
        chunks += _png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(like.icc_profile))
    if like.exif:
        chunks += _png_chunk(b"eXIf", like.exif.removeprefix(b"Exif\0\0"))
    if like.xmp:  # keyword, NUL, uncompressed, no language, no translated keyword
        chunks += _png_chunk(b"iTXt", PNG_XMP_KEYWORD.encode() + b"\0\0\0\0\0" + like.xmp)
    header_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:header_end] + chunks + png[header_end:]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
