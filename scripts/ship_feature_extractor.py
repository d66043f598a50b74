"""Copy a trained classifier run into the package as a FID/KID feature extractor.

Usage: python scripts/ship_feature_extractor.py RUN_DIR DATASET_TYPE
writes aigc_cli/assets/<DATASET_TYPE>_classifier.npz (weights + config, no pickle).
"""

import sys
from pathlib import Path

from aigc_cli.inference import load_trained_model
from aigc_cli.metrics.features import save_classifier_asset, shipped_asset


def main() -> None:
    run_dir, dataset_type = sys.argv[1], sys.argv[2]
    trained = load_trained_model(run_dir)
    data = trained.config.dataset
    path = shipped_asset(dataset_type)
    save_classifier_asset(trained.model.classifier, trained.config.model,
                          (data.image_size, data.image_size, data.channels), path)
    print(f"wrote {path} ({Path(path).stat().st_size / 1e6:.2f} MB) from {trained.checkpoint}")


if __name__ == "__main__":
    main()
