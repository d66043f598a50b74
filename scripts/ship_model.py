"""Copy a trained run into the package as a built-in model (weights + config, no pickle).

Usage: python scripts/ship_model.py RUN_DIR NAME [float16]
writes aigc_cli/assets/NAME.npz; the names in use are fashion_mnist_classifier
(FID's feature extractor), denoiser_gray, denoiser_gray_slim and denoiser_color (aigc denoise).
float16 stores the weights at half the size (see save_model_asset).
"""

import argparse
from pathlib import Path

from aigc_cli.inference.trained import load_trained_model
from aigc_cli.models.assets import ASSETS, save_model_asset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", metavar="RUN_DIR|CHECKPOINT")
    parser.add_argument("name", help="asset name, e.g. denoiser_color")
    parser.add_argument("storage", nargs="?", default="float32", choices=["float32", "float16"])
    args = parser.parse_args()
    trained = load_trained_model(args.run)
    path = ASSETS / f"{args.name}.npz"
    save_model_asset(trained.model, trained.config.model, trained.config.dataset.image_shape,
                     path, args.storage)
    print(f"wrote {path} ({Path(path).stat().st_size / 1e6:.2f} MB) from {trained.checkpoint}")


if __name__ == "__main__":
    main()
