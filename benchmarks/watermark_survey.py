"""Does a kept invisible-watermark library serve the images aigc writes? The survey
behind docs/privacy.md's "Invisible watermarks": the `invisible-watermark` package
(imwatermark; the watermark Stable Diffusion's reference scripts embed), its DWT-DCT and
DWT-DCT-SVD methods, a 32-bit payload, on Fashion-MNIST images (28 px) and Kodak24
crops at 64-512 px: bit accuracy after a lossless save and after JPEG re-compression,
and the PSNR the mark costs. Not an aigc dependency; run it in a separate environment:

  pip install invisible-watermark opencv-python-headless numpy pillow
  AIGC_DATA_DIR=../shared/data python benchmarks/watermark_survey.py

The package imports torch at import time for its RivaGAN method only; without torch the
script stands in an empty module for it (the DWT methods never touch it).
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image

if importlib.util.find_spec("torch") is None:
    sys.modules["torch"] = types.ModuleType("torch")
from imwatermark import WatermarkDecoder, WatermarkEncoder  # noqa: E402

PAYLOAD = np.random.default_rng(7).integers(0, 2, 32).tolist()
SIZES = (28, 64, 128, 256, 512)


def images_of_size(size: int, data: Path, count: int = 8) -> list[np.ndarray]:
    """``count`` RGB uint8 images [size, size, 3]: Fashion-MNIST at 28, Kodak crops else."""
    if size == 28:
        with gzip.open(data / "fashion-mnist" / "t10k-images-idx3-ubyte.gz") as stream:
            pixels = np.frombuffer(stream.read()[16:], np.uint8).reshape(-1, 28, 28)
        return [np.repeat(image[..., None], 3, -1) for image in pixels[:count]]
    kodak = sorted((data / "denoise" / "test" / "Kodak24").glob("*.png"))[:count]
    crops = []
    for path in kodak:
        image = np.asarray(Image.open(path).convert("RGB"))
        side = min(image.shape[:2])
        square = Image.fromarray(image[:side, :side]).resize((size, size), Image.BICUBIC)
        crops.append(np.asarray(square))
    return crops


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255.0 ** 2 / error)


def main() -> None:
    data = Path(os.environ.get("AIGC_DATA_DIR", "../shared/data"))
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", PAYLOAD)
    decoder = WatermarkDecoder("bits", len(PAYLOAD))
    print("| method | size | PSNR of the mark | bits right, lossless | JPEG q90 | JPEG q75 |")
    print("|---|---|---|---|---|---|")
    for method in ("dwtDct", "dwtDctSvd"):
        for size in SIZES:
            costs, scores = [], {"lossless": [], "q90": [], "q75": []}
            for image in images_of_size(size, data):
                bgr = np.ascontiguousarray(image[..., ::-1])
                try:
                    marked = encoder.encode(bgr, method)
                except Exception as error:  # the library refuses some sizes outright
                    scores = {key: [] for key in scores}
                    costs = [f"fails: {type(error).__name__}"]
                    break
                marked_rgb = np.ascontiguousarray(marked[..., ::-1])
                costs.append(psnr(image, marked_rgb))
                for name, seen in (("lossless", marked_rgb), ("q90", jpeg(marked_rgb, 90)),
                                   ("q75", jpeg(marked_rgb, 75))):
                    bits = decoder.decode(np.ascontiguousarray(seen[..., ::-1]), method)
                    scores[name].append(np.mean(np.asarray(bits) == np.asarray(PAYLOAD)))
            if scores["lossless"]:
                cells = [f"{np.mean(costs):.1f} dB"] + [f"{100 * np.mean(s):.0f}%"
                                                         for s in scores.values()]
            else:
                cells = [costs[0], "-", "-", "-"]
            print(f"| {method} | {size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
