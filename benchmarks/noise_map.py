"""Blind denoising told one sigma, a noise map where the noise grows with intensity
(the default), or a map always: PSNR side by side on the same noisy images.

  AIGC_DATA_DIR=../shared/data python benchmarks/noise_map.py --set BSD68 --limit 20

prints one Markdown row per noise (Gaussian and Poisson-Gaussian, 8-bit files, as
``aigc eval --eight-bit [--poisson-gain A]`` draws them); the built-in model for the
set's channels, with ``aigc denoise``'s defaults.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from aigc_cli.runtime import import_tensorflow

DATA = Path(os.environ.get("AIGC_DATA_DIR", "../shared/data")) / "denoise" / "test"
NOISES = ((0.0, 5), (0.0, 10), (0.0, 15), (0.0, 25), (0.0, 50),
          (0.005, 15), (0.01, 5), (0.01, 15), (0.02, 5), (0.02, 25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="BSD68")
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()
    import_tensorflow()
    from aigc_cli.data.sources import list_image_files
    from aigc_cli.inference.denoising import TiledDenoiser, load_denoiser
    from aigc_cli.inference.noise_level import (NoiseEstimate, estimate_noise, estimate_sigma,
                                                noise_map)
    from aigc_cli.io.images import read_image, to_array
    from aigc_cli.metrics.denoising import NoiseProtocol, psnr

    channels = 3 if args.set.startswith("C") or args.set.startswith("Kodak") else 1
    denoiser = TiledDenoiser(load_denoiser(None, channels).model)
    cleans = [to_array(read_image(path), channels).astype(np.float32) / 255.0
              for path in list_image_files(DATA / args.set)[:args.limit]]
    print(f"| noise ({args.set}, first {len(cleans)}, 8-bit) | told | one sigma | "
          "map where it grows (default) | map always |\n|---|---|---|---|---|")
    for gain, sigma in NOISES:
        protocol = NoiseProtocol(sigma, gain, eight_bit=True)
        columns = {"told": [], "one": [], "default": [], "always": []}
        for index, clean in enumerate(cleans):
            noisy = protocol.noisy(clean, 0, index)
            default = estimate_noise(noisy)
            always = NoiseEstimate(noise_map(noisy, default.function), default.function) \
                if default.function else default
            levels = {"told": protocol.told_sigma(clean), "one": estimate_sigma(noisy),
                      "default": default.level, "always": always.level}
            for name, level in levels.items():
                columns[name].append(psnr(np.clip(denoiser(noisy, level), 0, 1), clean))
        noise = f"a = {gain}, sigma {sigma}" if gain else f"Gaussian, sigma {sigma}"
        print(f"| {noise} | " + " | ".join(f"{np.mean(v):.2f}" for v in columns.values())
              + " |", flush=True)


if __name__ == "__main__":
    main()
