"""The tables of docs/denoising.md: per protocol, each test set and sigma: noisy, BM3D,
the aigc models told the sigma and (with --blind) estimating it, seconds per image.

Every figure comes from ``aigc eval``'s own code (seed 0, PSNR with peak 1.0), so
the table and the CLI agree. Protocols (``aigc eval``'s flags):

  published  Gaussian noise, float, not clipped (the literature's convention)
  8-bit      the noisy image clipped and rounded to 8 bits, as a saved photo (--eight-bit)
  poisson    8-bit, with signal-dependent noise a*x + (sigma/255)^2 (--poisson-gain)
  jpeg       8-bit, then JPEG-compressed (--jpeg-quality)

  AIGC_DATA_DIR=../shared/data python benchmarks/denoise_table.py --model gray \\
      --sets Set12 BSD68 --sigmas 15 25 50 --protocol published --protocol 8-bit --bm3d --blind

prints one Markdown table per protocol and writes every report to --out as JSON.
The models run with ``aigc denoise``'s defaults (``--precision auto --ensemble
auto``) unless told otherwise. BM3D takes about 5 s per BSD68 image on 2 cores
(CBM3D longer): its reports are kept in --bm3d-cache (keyed by folder, protocol,
sigma, seed and channels: the noisy images are a function of those) and reused; a
cached BM3D time is from an earlier run, so speed ratios are given only where BM3D
ran beside the model in this run (side by side, as speed claims must be).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

from aigc_cli.io.files import atomic_write_text
from aigc_cli.runtime import import_tensorflow

DATA = Path(os.environ.get("AIGC_DATA_DIR", "../shared/data")) / "denoise" / "test"
PROTOCOLS = ("published", "8-bit", "poisson", "jpeg")


def protocol_options(name: str, args) -> dict:
    """``aigc eval``'s options for a protocol."""
    return {"published": {}, "8-bit": {"eight_bit": True},
            "poisson": {"eight_bit": True, "poisson_gain": args.poisson_gain},
            "jpeg": {"eight_bit": True, "jpeg_quality": args.jpeg_quality}}[name]


def cache_key(folder: Path, sigma: float, protocol: dict, channels: int,
              limit: int | None = None) -> str:
    # The published protocol keeps the key of earlier versions, so their cache stands.
    extra = "".join(f" {key}={value}" for key, value in sorted(protocol.items()))
    extra += f" limit={limit}" if limit else ""
    return f"{folder.resolve()} sigma={sigma:g} seed=0{extra} channels={channels}"


class Bm3dCache:
    def __init__(self, path: Path):
        self.path = path
        self.reports = json.loads(path.read_text()) if path.exists() else {}

    def has(self, folder: Path, sigma: float, protocol: dict, limit: int | None) -> bool:
        wanted = cache_key(folder, sigma, protocol, 0, limit).rsplit(" channels=", 1)[0]
        return any(key.rsplit(" channels=", 1)[0] == wanted for key in self.reports)

    def get(self, key: str) -> dict | None:
        return self.reports.get(key)

    def put(self, key: str, report: dict) -> None:
        self.reports[key] = report
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.reports, indent=1))


def measure(model: str, folder: Path, sigma: float, protocol: dict, args, cache: Bm3dCache,
            with_bm3d: bool) -> dict:
    """One model's report on one set, sigma and protocol; BM3D beside it (run now, or
    from the cache)."""
    from aigc_cli.inference.evaluation import evaluate

    options = {"clean": str(folder), "sigma": sigma, "seed": 0, "ensemble": args.ensemble,
               "precision": args.precision, "blind": args.blind, **protocol}
    run_bm3d = with_bm3d and not cache.has(folder, sigma, protocol, args.limit)
    report = evaluate(model, limit=args.limit,
                      options={**options, "compare": "bm3d"} if run_bm3d else options)
    if with_bm3d:
        key = cache_key(folder, sigma, protocol, report["channels"], args.limit)
        if "bm3d" in report:
            cache.put(key, report["bm3d"])
        elif cache.get(key) is None:  # the cache held the other channel count only
            report = evaluate(model, limit=args.limit, options={**options, "compare": "bm3d"})
            cache.put(key, report["bm3d"])
        report.setdefault("bm3d", {**cache.get(key), "cached": True})
    return report


def table(protocol: str, rows: list[str], args) -> str:
    header = ["set", "sigma", "noisy"] + (["BM3D"] if args.bm3d else [])
    for model in args.model:
        header += [f"{Path(model).name} told"] + ([f"{Path(model).name} blind"]
                                                  if args.blind else [])
    header += ["seconds per image"] + (["speed vs BM3D"] if args.bm3d else [])
    return "\n".join([f"\n{protocol}:\n", "| " + " | ".join(header) + " |",
                      "|" + "---|" * len(header), *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True,
                        help="run dir or built-in name (repeatable; BM3D runs beside the first)")
    parser.add_argument("--sets", nargs="+", default=["Set12", "BSD68"])
    parser.add_argument("--sigmas", nargs="+", type=float, default=[15, 25, 50])
    parser.add_argument("--protocol", action="append", choices=PROTOCOLS,
                        help="repeatable (default: published)")
    parser.add_argument("--poisson-gain", type=float, default=0.01)
    parser.add_argument("--jpeg-quality", type=int, default=85)
    parser.add_argument("--bm3d", action="store_true", help="also measure BM3D / CBM3D")
    parser.add_argument("--blind", action="store_true",
                        help="also measure the models estimating the sigma themselves")
    parser.add_argument("--limit", type=int, help="the first N images of each set")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/denoise_table.json"))
    parser.add_argument("--bm3d-cache", type=Path, default=Path("runs/bm3d_cache.json"))
    parser.add_argument("--ensemble", default="auto", help="as aigc eval --ensemble")
    parser.add_argument("--precision", default="auto", help="as aigc eval --precision")
    args = parser.parse_args()
    import_tensorflow()  # TensorFlow's own log lines filtered, as in the CLI
    from aigc_cli.inference.defaults import resolve_denoise_settings

    settings = resolve_denoise_settings(args.precision, args.ensemble if args.ensemble == "auto"
                                        else int(args.ensemble))
    args.precision, args.ensemble = settings.precision, settings.ensemble
    args.model = [settings.builtin(model) for model in args.model]  # as aigc denoise runs them
    cache = Bm3dCache(args.bm3d_cache)
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; {settings.describe()}")
    reports = []
    for protocol in args.protocol or ["published"]:
        rows = []
        for name in args.sets:
            folder = args.data / name
            for sigma in args.sigmas:
                cells, seconds, speed = [], [], ""
                for index, model in enumerate(args.model):
                    report = measure(model, folder, sigma, protocol_options(protocol, args),
                                     args, cache, args.bm3d and index == 0)
                    reports.append({"set": name, "protocol": protocol, "model": model, **report})
                    if index == 0:
                        cells.append(f"{report['noisy_psnr']:.2f}")
                        if args.bm3d:
                            bm3d = report["bm3d"]
                            cells.append(f"{bm3d['psnr']:.2f}")
                            seconds.append(f"BM3D {bm3d['seconds_per_image']:.2f}")
                            speed = "cached" if bm3d.get("cached") else \
                                f"{report['speedup_vs_bm3d']:.1f}x"
                    cells.append(f"{report['psnr']:.2f}")
                    if args.blind:
                        cells.append(f"{report['blind']['psnr']:.2f}")
                    seconds.append(f"{Path(model).name} {report['seconds_per_image']:.2f}")
                rows.append(f"| {name} | {sigma:g} | " + " | ".join(cells) +
                            f" | {', '.join(seconds)} |" + (f" {speed} |" if args.bm3d else ""))
        print(table(protocol, rows, args), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
