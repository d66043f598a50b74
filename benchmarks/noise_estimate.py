"""How far ``aigc denoise``'s blind noise estimate is from the true sigma.

    python benchmarks/noise_estimate.py [--sets Set12 BSD68 CBSD68 Kodak24] [--json OUT]

For each test set, sigma (0-255 units) and protocol (the published float noise, and
8-bit clipped files as users have them), the estimate of every noisy image is
compared with the sigma that made it: mean signed error (bias), mean absolute
error and the worst image, in 0-255 units, for the default estimator (flat blocks)
beside the wavelet MAD it replaced. Noise is drawn as ``aigc eval`` draws it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from aigc_cli.runtime import import_tensorflow

SIGMAS = (5, 10, 15, 25, 35, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/denoise/test"))
    parser.add_argument("--sets", nargs="+", default=["Set12", "BSD68", "CBSD68", "Kodak24"])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    import_tensorflow()
    from aigc_cli.data.sources import list_image_files
    from aigc_cli.inference.noise_level import estimate_sigma, wavelet_sigma
    from aigc_cli.io.images import read_image, to_array
    from aigc_cli.metrics.denoising import NoiseProtocol

    rows = []
    estimators = {"flat blocks": estimate_sigma, "wavelet": wavelet_sigma}
    print("| set | protocol | sigma | " + " | ".join(
        f"{name}: bias | mean abs error | worst" for name in estimators) + " |")
    print("|---|---|---|" + "---|---|---|" * len(estimators))
    for name in args.sets:
        channels = 3 if name.startswith(("C", "Kodak")) else 1
        images = [to_array(read_image(path), channels).astype(np.float32) / 255.0
                  for path in list_image_files(args.data / name)]
        for eight_bit in (False, True):
            for sigma in SIGMAS:
                protocol = NoiseProtocol(float(sigma), eight_bit=eight_bit)
                noisy = [protocol.noisy(clean, 0, index) for index, clean in enumerate(images)]
                row = {"set": name, "protocol": "8-bit" if eight_bit else "published",
                       "sigma": sigma}
                cells = []
                for estimator, estimate in estimators.items():
                    errors = np.array([estimate(image) * 255 - sigma for image in noisy])
                    row[estimator] = {"bias": float(errors.mean()),
                                      "mean_abs_error": float(np.abs(errors).mean()),
                                      "worst": float(errors[np.abs(errors).argmax()])}
                    cells.append("{bias:+.2f} | {mean_abs_error:.2f} | {worst:+.2f}".format(
                        **row[estimator]))
                rows.append(row)
                print(f"| {name} | {row['protocol']} | {sigma} | " + " | ".join(cells) + " |",
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
