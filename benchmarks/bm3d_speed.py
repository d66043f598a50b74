"""BM3D's seconds per image, alone (run it on an idle machine): the first images of a
folder, seed 0, denoised as `aigc eval --compare bm3d` does (CBM3D with --channels 3).

  python benchmarks/bm3d_speed.py [FOLDER] [--channels 1|3] [--sigma 25] [--images 12]
      (default folder: ../shared/data/denoise/test/BSD68)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from aigc_cli.data.sources import list_image_files
from aigc_cli.io.images import read_image, to_array
from aigc_cli.metrics.denoising import NoiseProtocol, bm3d_denoiser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path,
                        default=Path("../shared/data/denoise/test/BSD68"))
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1)
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--images", type=int, default=12)
    args = parser.parse_args()
    denoise, seconds = bm3d_denoiser(), []
    for index, path in enumerate(list_image_files(args.folder)[:args.images]):
        clean = to_array(read_image(path), args.channels).astype(np.float32) / 255.0
        noisy = NoiseProtocol(args.sigma).noisy(clean, 0, index)
        start = time.perf_counter()
        denoise(noisy, args.sigma / 255)
        seconds.append(time.perf_counter() - start)
    name = "CBM3D" if args.channels == 3 else "BM3D"
    print(f"{name} on {len(seconds)} images of {args.folder} at sigma {args.sigma:g}: "
          f"{np.mean(seconds):.2f} s per image (median {np.median(seconds):.2f})")


if __name__ == "__main__":
    main()
