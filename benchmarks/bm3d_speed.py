"""BM3D's seconds per image, alone (run it on an idle machine): the first 12 images
of a folder at sigma 25, seed 0, denoised as `aigc eval --compare bm3d` does.

  python benchmarks/bm3d_speed.py [FOLDER]      (default: ../shared/data/denoise/test/BSD68)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from aigc_cli.data.sources import list_image_files
from aigc_cli.imaging import read_image, to_array
from aigc_cli.metrics.denoising import bm3d_denoiser, noisy_copy


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/denoise/test/BSD68")
    denoise, seconds = bm3d_denoiser(), []
    for index, path in enumerate(list_image_files(folder)[:12]):
        clean = to_array(read_image(path), 1).astype(np.float32) / 255.0
        noisy = noisy_copy(clean, 25, 0, index)
        start = time.perf_counter()
        denoise(noisy, 25 / 255)
        seconds.append(time.perf_counter() - start)
    print(f"BM3D on {len(seconds)} images of {folder}: {np.mean(seconds):.2f} s per image "
          f"(median {np.median(seconds):.2f})")


if __name__ == "__main__":
    main()
