"""The memorization audits on real Fashion-MNIST images, in the shipped classifier's
features: a copycat "generator" (training images as its samples) and held-out real
images (half the test split, the other half the audit's reference), with the time each
takes. docs/privacy.md quotes the output.

  AIGC_DATA_DIR=../shared/data python benchmarks/memorization_check.py [--samples 5000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from aigc_cli.runtime import import_tensorflow


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args()
    import_tensorflow(quiet=True)
    from aigc_cli.config import DatasetConfig
    from aigc_cli.data.sources import load_images
    from aigc_cli.metrics.features import load_feature_extractor
    from aigc_cli.metrics.memorization import memorization

    dataset = DatasetConfig(type="fashion_mnist")
    extractor = load_feature_extractor(dataset)
    started = time.monotonic()
    train = extractor(load_images(dataset, "train").images)
    test = extractor(load_images(dataset, "test").images)
    feature_seconds = time.monotonic() - started
    reference, held_out = test[:5000], test[5000:5000 + args.samples]
    rng = np.random.default_rng(0)
    copies = train[rng.choice(len(train), args.samples, replace=False)]
    rows = {"feature_seconds_70000_images": round(feature_seconds, 1)}
    for name, samples in (("copycat (training images)", copies),
                          ("held-out real images", held_out)):
        started = time.monotonic()
        report = memorization(train, reference, samples)
        rows[name] = {**{k: round(v, 4) for k, v in report.items()},
                      "seconds": round(time.monotonic() - started, 1)}
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
