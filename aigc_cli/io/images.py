"""Image files in and out, and grids. Pillow and NumPy only (no TensorFlow)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from aigc_cli.io.files import atomic_write_bytes

PNG_XMP_KEYWORD = "XML:com.adobe.xmp"  # where XMP goes in a PNG (Adobe's XMP spec, part 3)
TIFF_XMP_TAG = 700
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"})
IMAGE_FORMATS = "PNG, JPEG, BMP, WebP, GIF, TIFF"  # what IMAGE_SUFFIXES name, for messages


def read_image(path: str | Path, draft_size: int | None = None) -> Image.Image:
    """Open and fully decode an image, upright per its EXIF orientation.

    ``draft_size`` lets JPEG decode at a reduced scale when the image will be
    shrunk to about that size anyway (much faster on large photos).
    """
    with Image.open(path) as image:
        if draft_size and image.format == "JPEG":
            image.draft(image.mode, (draft_size, draft_size))
        image.load()
        return ImageOps.exif_transpose(image)


def to_array(image: Image.Image, channels: int) -> np.ndarray:
    """uint8 [H, W, channels] at full size, converted to gray or RGB."""
    array = np.asarray(_eight_bit(image, channels), dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def _eight_bit(image: Image.Image, channels: int) -> Image.Image:
    """``image`` as 8-bit gray or RGB. 16- and 32-bit integer images are scaled by their
    bit depth (Pillow's own conversion clips them at 255, turning them white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        top = 65535.0 if image.mode.startswith("I;16") or np.asarray(image).max() > 255 else 255.0
        scaled = np.asarray(image, dtype=np.float64) * (255.0 / top)
        image = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")
    return image.convert("L" if channels == 1 else "RGB")


def fit_square(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """Resize the short side to ``size`` and centre-crop: uint8 [size, size, channels]."""
    image = _eight_bit(image, channels)
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # reducing_gap: a fast box pre-shrink, then bicubic over the last 3x (Pillow docs).
    fitted = image.resize((size, size), Image.Resampling.BICUBIC,
                          box=(left, top, left + side, top + side), reducing_gap=3.0)
    array = np.asarray(fitted, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [-1, 1] → uint8 in [0, 255] (rounded, clipped)."""
    scaled = (np.asarray(images, dtype=np.float32) + 1.0) * 127.5
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile uint8 images [N, H, W, C] into one [rows·(H+p)+p, cols·(W+p)+p, C] image."""
    count, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding,
                     channels), dtype=np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def encode_png(image: np.ndarray, xmp: bytes | None = None) -> bytes:
    """PNG bytes of a uint8 [H, W, 1|3|4] array, with an XMP packet if given (an iTXt
    chunk, see aigc_cli.io.provenance)."""
    array = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    options = {}
    if xmp:
        options["pnginfo"] = PngInfo()
        options["pnginfo"].add_itxt(PNG_XMP_KEYWORD, xmp.decode("utf-8"))
    Image.fromarray(array).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def save_png(image: np.ndarray, path: str | Path, durable: bool = True,
             xmp: bytes | None = None) -> None:
    """Write a uint8 image as PNG, atomically (no half-written file on a crash)."""
    atomic_write_bytes(path, encode_png(image, xmp), durable=durable)
