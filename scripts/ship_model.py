"""Copy a trained run into the package as a built-in model (weights + config, no pickle).

Usage: python scripts/ship_model.py RUN_DIR NAME [float16]
writes aigc_cli/assets/NAME.npz; the names in use are fashion_mnist_classifier
(FID's feature extractor), denoiser_gray and denoiser_color (aigc denoise).
float16 stores the weights at half the size (see save_model_asset).
"""

import sys
from pathlib import Path

from aigc_cli.inference import load_trained_model
from aigc_cli.models.assets import ASSETS, save_model_asset


def main() -> None:
    run_dir, name = sys.argv[1], sys.argv[2]
    storage = sys.argv[3] if len(sys.argv) > 3 else "float32"
    trained = load_trained_model(run_dir)
    path = ASSETS / f"{name}.npz"
    save_model_asset(trained.model, trained.config.model, trained.config.dataset.image_shape,
                     path, storage)
    print(f"wrote {path} ({Path(path).stat().st_size / 1e6:.2f} MB) from {trained.checkpoint}")


if __name__ == "__main__":
    main()
