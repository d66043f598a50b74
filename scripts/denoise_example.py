"""docs/denoise_example.png: noisy | denoised by the built-in model | clean, side by side.

    python scripts/denoise_example.py \
        ../shared/data/denoise/test/Set12/05.png docs/denoise_example.png

The noisy image is what a user has: sigma-25 Gaussian noise, clipped and rounded to
8 bits (seed 0). The model runs with ``aigc denoise``'s defaults (noise level estimated).
"""

from __future__ import annotations

import argparse

import numpy as np

from aigc_cli.runtime import import_tensorflow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clean")
    parser.add_argument("out")
    parser.add_argument("--crop", type=int, default=160, help="side of the centre crop")
    parser.add_argument("--sigma", type=float, default=25.0)
    args = parser.parse_args()
    import_tensorflow()
    from aigc_cli.inference.denoising import TiledDenoiser, load_denoiser
    from aigc_cli.inference.noise_level import estimate_sigma
    from aigc_cli.io.images import make_grid, read_image, save_png, to_array, to_uint8

    clean = to_array(read_image(args.clean), 1).astype(np.float32) / 255.0
    top, left = (np.array(clean.shape[:2]) - args.crop) // 2
    clean = clean[top:top + args.crop, left:left + args.crop]
    noise = np.random.default_rng(0).standard_normal(clean.shape) * args.sigma / 255.0
    noisy = np.round(np.clip(clean + noise, 0, 1) * 255) / 255.0
    denoiser = TiledDenoiser(load_denoiser(None, 1).model)
    restored = np.clip(denoiser(noisy, estimate_sigma(noisy)), 0, 1)
    for name, image in (("noisy", noisy), ("denoised", restored)):
        psnr = 10 * np.log10(1.0 / np.mean((image - clean) ** 2))
        print(f"{name}: {psnr:.2f} dB")
    grid = make_grid(to_uint8(np.stack([noisy, restored, clean]) * 2 - 1), columns=3, padding=4)
    save_png(grid, args.out)


if __name__ == "__main__":
    main()
