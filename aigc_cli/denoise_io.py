"""Reading and writing the photos ``aigc denoise`` works on, losslessly.

PNG goes through TensorFlow's codec, which keeps 16 bits per channel in and
out (Pillow reads 16-bit RGB PNGs as 8-bit); other formats through Pillow,
upright per their EXIF orientation. Alpha is split off and passed through.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

from aigc_cli.utils.files import atomic_write_bytes

JPEG_QUALITY = 95


@dataclass(frozen=True)
class Photo:
    """Colour channels in [0, 1] as float32 [H, W, 1|3], plus what writing it back needs."""

    pixels: np.ndarray
    alpha: np.ndarray | None  # the original alpha channel, untouched
    bits: int  # 8 or 16
    format: str  # "PNG", "JPEG", ...


def read_photo(path: Path) -> Photo:
    """Decode an image file; raises on anything that is not a readable image."""
    if path.suffix.lower() == ".png":
        bits = 16 if _png_header(path) == 16 else 8
        data = tf.io.read_file(str(path))
        array = tf.io.decode_png(data, dtype=tf.uint16).numpy()
        if bits == 8:
            array = (array // 257).astype(np.uint8)  # decode_png scaled 8-bit data by 257
        return _split(array, bits, "PNG")
    with Image.open(path) as image:
        image.load()
        image_format = image.format or "PNG"
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I"):
        return _split(np.asarray(image, dtype=np.uint16)[..., None], 16, image_format)
    mode = {"1": "L", "L": "L", "LA": "LA", "RGBA": "RGBA"}.get(image.mode, "RGB")
    if image.mode == "P" and "transparency" in image.info:
        mode = "RGBA"
    return _split(np.asarray(image.convert(mode)), 8, image_format)


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


def _split(array: np.ndarray, bits: int, image_format: str) -> Photo:
    if array.ndim == 2:
        array = array[..., None]
    scale = 65535.0 if bits == 16 else 255.0
    colour, alpha = (array[..., :-1], array[..., -1:]) if array.shape[-1] in (2, 4) else \
        (array, None)
    return Photo(colour.astype(np.float32) / scale, alpha, bits, image_format)


def encode_photo(pixels: np.ndarray, like: Photo) -> bytes:
    """Bytes of ``pixels`` (float [H, W, C] in [0, 1]) in ``like``'s format, depth, alpha."""
    scale, dtype = (65535.0, np.uint16) if like.bits == 16 else (255.0, np.uint8)
    array = np.clip(np.rint(pixels * scale), 0, scale).astype(dtype)
    if like.alpha is not None:
        array = np.concatenate([array, like.alpha.astype(dtype)], axis=-1)
    if like.format == "PNG":
        return tf.io.encode_png(tf.constant(array)).numpy()
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[-1]]
    image = Image.fromarray(array[..., 0] if mode == "L" else array, mode)
    if like.format == "JPEG" and mode in ("LA", "RGBA"):
        image = image.convert(mode[:-1])
    buffer = io.BytesIO()
    # 4:4:4 chroma: the default 4:2:0 would blur the colour detail a denoiser keeps.
    options = {"quality": JPEG_QUALITY, "subsampling": 0} if like.format == "JPEG" else {}
    image.save(buffer, format=like.format, **options)
    return buffer.getvalue()


def write_photo(path: Path, pixels: np.ndarray, like: Photo) -> None:
    """Write atomically (a crash never leaves half a file)."""
    atomic_write_bytes(path, encode_photo(pixels, like), durable=False)
