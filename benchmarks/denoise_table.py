"""The tables of docs/denoising.md: each test set and sigma, noisy / BM3D / aigc models.

Every figure comes from ``aigc eval``'s own code (noise by the published
convention, seed 0, PSNR with peak 1.0), so the table and the CLI agree.

  AIGC_DATA_DIR=../shared/data python benchmarks/denoise_table.py \
      --model gray --model runs/denoising_vae_gray --sets Set12 BSD68 --sigmas 15 25 50 --bm3d

prints a Markdown table and writes every report to --out as JSON. BM3D takes
about 5 s per BSD68 image on 2 cores (CBM3D longer): the full table is a long
run, so BM3D's reports are kept in --bm3d-cache (keyed by the set's resolved
folder, sigma, seed and channels: the noisy images are a function of those) and
reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from aigc_cli.inference.evaluation import evaluate
from aigc_cli.io.files import atomic_write_text

DATA = Path(os.environ.get("AIGC_DATA_DIR", "../shared/data")) / "denoise" / "test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True,
                        help="run dir or built-in name (repeatable; the first also runs BM3D)")
    parser.add_argument("--sets", nargs="+", default=["Set12", "BSD68"])
    parser.add_argument("--sigmas", nargs="+", type=float, default=[15, 25, 50])
    parser.add_argument("--bm3d", action="store_true", help="also measure BM3D / CBM3D")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/denoise_table.json"))
    parser.add_argument("--bm3d-cache", type=Path, default=Path("runs/bm3d_cache.json"))
    parser.add_argument("--ensemble", type=int, default=1, help="as aigc eval --ensemble")
    parser.add_argument("--precision", default="float32", help="as aigc eval --precision")
    args = parser.parse_args()
    cache = json.loads(args.bm3d_cache.read_text()) if args.bm3d_cache.exists() else {}
    rows, reports = [], []
    for name in args.sets:
        for sigma in args.sigmas:
            cells, seconds = [], []
            for index, model in enumerate(args.model):
                options = {"clean": str(args.data / name), "sigma": sigma, "seed": 0,
                           "ensemble": args.ensemble, "precision": args.precision}
                prefix = f"{(args.data / name).resolve()} sigma={sigma:g} seed=0 channels="
                measure_bm3d = (args.bm3d and index == 0
                                and not any(key.startswith(prefix) for key in cache))
                report = evaluate(model, options={**options, "compare": "bm3d"}
                                  if measure_bm3d else options)
                if args.bm3d and index == 0:
                    key = f"{prefix}{report['channels']}"
                    if key not in cache and "bm3d" not in report:  # cached: other channels
                        report = evaluate(model, options={**options, "compare": "bm3d"})
                    if "bm3d" in report:
                        cache[key] = report["bm3d"]
                        args.bm3d_cache.parent.mkdir(parents=True, exist_ok=True)
                        atomic_write_text(args.bm3d_cache, json.dumps(cache, indent=1))
                    report["bm3d"] = cache[key]
                reports.append({"set": name, "model": model, **report})
                if index == 0:
                    cells.append(f"{report['noisy_psnr']:.2f}")
                    if args.bm3d:
                        cells.append(f"{report['bm3d']['psnr']:.2f}")
                        seconds.append(f"BM3D {report['bm3d']['seconds_per_image']:.2f}")
                cells.append(f"{report['psnr']:.2f} / {report['ssim']:.3f}")
                seconds.append(f"{Path(model).name} {report['seconds_per_image']:.2f}")
            rows.append(f"| {name} | {sigma:g} | " + " | ".join(cells) + f" | {', '.join(seconds)} |")
    header = ["set", "sigma", "noisy"] + (["BM3D"] if args.bm3d else []) + \
        [f"{Path(m).name} PSNR / SSIM" for m in args.model] + ["seconds per image"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("\n".join(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
