#!/usr/bin/env bash
# Issue 23's targets: configs/fashion_mnist_diffusion.yaml against configs/fashion_mnist_gan.yaml
# and configs/fashion_mnist_vae.yaml, the same wall-clock training budget each (BUDGET seconds,
# default 30 minutes), one after the other (never at once: two jobs halve each other on 2
# cores). Then FID of FID_SAMPLES samples against the test split in the shipped classifier's
# features: the GAN and the VAE once, the diffusion model at each sampler budget in NFES
# (network evaluations per image; DPM-Solver++(2M): NFE = steps), each with the wall time its
# model took to generate them (`sampling_seconds`); the diffusion model as a denoiser on
# BSD68 and on 500 Fashion-MNIST test images at sigma 25 beside the built-in gray one; one
# figure of the three models' samples side by side. Resumable: what is finished is kept.
# Writes OUT/table.md and OUT/samples_side_by_side.png.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/diffusion_benchmark.sh
set -euo pipefail
BUDGET=${BUDGET:-1800}
OUT=${OUT:-runs/bench_diffusion}
FID_SAMPLES=${FID_SAMPLES:-10000}
NFES=${NFES:-5 10 20 50 100}
SAMPLER=${SAMPLER:-dpmpp_2m}
DATA=${AIGC_DATA_DIR:-../shared/data}
mkdir -p "$OUT"
# A finished run leaves train_seconds; a measurement is kept once written. An interrupted
# benchmark resumes where it stopped (an interrupted training resumes from its checkpoint,
# its budget counted afresh: delete its run dir for a clean figure).
for name in diffusion gan vae; do
  if [ ! -f "$OUT/$name/train_seconds" ]; then
    started=$(date +%s)
    aigc train "configs/fashion_mnist_$name.yaml" --run-dir "$OUT/$name" \
      --set training.max_seconds="$BUDGET" --set training.steps=1000000 -q
    echo $(( $(date +%s) - started )) > "$OUT/$name/train_seconds"
  fi
done
measure() {  # measure NAME COMMAND...: COMMAND's output to OUT/NAME.json, once
  [ -s "$OUT/$1.json" ] && return
  local name=$1; shift
  "$@" > "$OUT/$name.json.part" && mv "$OUT/$name.json.part" "$OUT/$name.json"
}
for name in gan vae; do
  measure "${name}_eval" aigc eval "$OUT/$name" --json --fid-samples "$FID_SAMPLES" -q
  aigc sample "$OUT/$name" -n 100 --grid "$OUT/${name}_samples.png" -q --overwrite
done
aigc sample "$OUT/diffusion" -n 100 --steps 10 --sampler "$SAMPLER" \
  --grid "$OUT/diffusion_samples.png" -q --overwrite
# As a denoiser: on photos (BSD68, far from the clothes it learned) and on its own domain
# (the first 500 Fashion-MNIST test images as PNG files), beside the built-in gray model.
if [ ! -f "$OUT/fashion_mnist_test500/0499.png" ]; then
  python - "$DATA/fashion-mnist/t10k-images-idx3-ubyte.gz" "$OUT/fashion_mnist_test500" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
images = np.frombuffer(gzip.open(sys.argv[1]).read(), np.uint8, offset=16).reshape(-1, 28, 28)
os.makedirs(sys.argv[2], exist_ok=True)
for index, image in enumerate(images[:500]):
    Image.fromarray(image).save(os.path.join(sys.argv[2], f"{index:04d}.png"))
PY
fi
for denoiser in "$OUT/diffusion" gray; do
  measure "denoise_$(basename "$denoiser")" aigc eval "$denoiser" \
    --clean "$DATA/denoise/test/BSD68" --sigma 25 --json -q
  measure "denoise_fashion_$(basename "$denoiser")" aigc eval "$denoiser" \
    --clean "$OUT/fashion_mnist_test500" --sigma 25 --json -q
done
for nfe in $NFES; do
  measure "diffusion_eval_$nfe" aigc eval "$OUT/diffusion" --json \
    --fid-samples "$FID_SAMPLES" --sampler "$SAMPLER" --steps "$nfe" -q
done
python - "$OUT" $NFES <<'PY' | tee "$OUT/table.md"
import json, sys
from PIL import Image
out, nfes = sys.argv[1], sys.argv[2:]
load = lambda name: json.load(open(f"{out}/{name}.json"))
print("| model | NFE | FID | KID | precision | recall | seconds for the samples |")
print("|---|---|---|---|---|---|---|")
for name in ("gan", "vae"):
    result = load(f"{name}_eval")
    print(f"| {name.upper()} (step {result['step']}) | 1 | {result['fid']:.2f} "
          f"| {result['kid']:.2f} | {result['precision']:.2f} | {result['recall']:.2f} "
          f"| {result['sampling_seconds']:.0f} |")
fids = {}
for nfe in nfes:
    result = load(f"diffusion_eval_{nfe}")
    fids[result["nfe"]] = result["fid"]
    print(f"| diffusion (step {result['step']}, {result['sampler']}) | {result['nfe']} "
          f"| {result['fid']:.2f} | {result['kid']:.2f} | {result['precision']:.2f} "
          f"| {result['recall']:.2f} | {result['sampling_seconds']:.0f} |")
if 10 in fids and 100 in fids:
    print(f"\nFID at 10 evaluations / FID at 100: {fids[10] / fids[100]:.2f}")
print("\n| sigma 25 | denoiser | PSNR | SSIM | seconds per image |\n|---|---|---|---|---|")
for images, prefix in (("BSD68", "denoise_"), ("Fashion-MNIST test (500)", "denoise_fashion_")):
    for name in ("diffusion", "gray"):
        result = load(f"{prefix}{name}")
        print(f"| {images} | {name} | {result['psnr']:.2f} | {result['ssim']:.4f} "
              f"| {result['seconds_per_image']:.3f} |")
grids = [Image.open(f"{out}/{name}_samples.png") for name in ("gan", "vae", "diffusion")]
gap = 8
figure = Image.new(grids[0].mode, (sum(g.width for g in grids) + gap * 2,
                                   max(g.height for g in grids)), 255)
left = 0
for grid in grids:
    figure.paste(grid, (left, 0))
    left += grid.width + gap
figure.save(f"{out}/samples_side_by_side.png")
PY
