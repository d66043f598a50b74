#!/usr/bin/env bash
# Issue 23's targets: configs/fashion_mnist_diffusion.yaml against configs/fashion_mnist_gan.yaml,
# the same wall-clock training budget each (BUDGET seconds, default 30 minutes), one after
# the other (never at once: two jobs halve each other on 2 cores); then FID of FID_SAMPLES
# samples against the test split in the shipped classifier's features: the GAN once, the
# diffusion model at each sampler budget in NFES (network evaluations per image, DPM-Solver++
# (2M): NFE = steps), with the wall time `aigc sample` takes for 10,000 images at each.
# Writes OUT/table.md and both sample grids.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/diffusion_benchmark.sh
set -euo pipefail
BUDGET=${BUDGET:-1800}
OUT=${OUT:-runs/bench_diffusion}
FID_SAMPLES=${FID_SAMPLES:-10000}
NFES=${NFES:-5 10 20 50 100}
SAMPLER=${SAMPLER:-dpmpp_2m}
mkdir -p "$OUT"
for config in configs/fashion_mnist_gan.yaml configs/fashion_mnist_diffusion.yaml; do
  name=$(basename "$config" .yaml)
  if [ ! -d "$OUT/$name/checkpoints" ]; then
    aigc train "$config" --run-dir "$OUT/$name" --set training.max_seconds="$BUDGET" \
      --set training.steps=1000000 -q
  fi
done
aigc eval "$OUT/fashion_mnist_gan" --json --fid-samples "$FID_SAMPLES" -q > "$OUT/gan_eval.json"
aigc sample "$OUT/fashion_mnist_gan" -n 100 --grid "$OUT/gan_samples.png" -q --overwrite
for nfe in $NFES; do
  aigc eval "$OUT/fashion_mnist_diffusion" --json --fid-samples "$FID_SAMPLES" \
    --sampler "$SAMPLER" --steps "$nfe" -q > "$OUT/diffusion_eval_$nfe.json"
  started=$(date +%s)
  aigc sample "$OUT/fashion_mnist_diffusion" -n 10000 --sampler "$SAMPLER" --steps "$nfe" \
    --out "$OUT/diffusion_samples_$nfe" -q --overwrite
  echo $(( $(date +%s) - started )) > "$OUT/diffusion_sample_seconds_$nfe"
done
aigc sample "$OUT/fashion_mnist_diffusion" -n 100 --steps 10 --sampler "$SAMPLER" \
  --grid "$OUT/diffusion_samples.png" -q --overwrite
python - "$OUT" $NFES <<'PY' | tee "$OUT/table.md"
import json, sys
out, nfes = sys.argv[1], sys.argv[2:]
gan = json.load(open(f"{out}/gan_eval.json"))
print("| model | NFE | FID | KID | precision | recall | seconds for 10,000 samples |")
print("|---|---|---|---|---|---|---|")
print(f"| GAN (step {gan['step']}) | 1 | {gan['fid']:.2f} | {gan['kid']:.2f} "
      f"| {gan['precision']:.2f} | {gan['recall']:.2f} | - |")
for nfe in nfes:
    result = json.load(open(f"{out}/diffusion_eval_{nfe}.json"))
    seconds = float(open(f"{out}/diffusion_sample_seconds_{nfe}").read())
    print(f"| diffusion (step {result['step']}, {result['sampler']}) | {result['nfe']} "
          f"| {result['fid']:.2f} | {result['kid']:.2f} | {result['precision']:.2f} "
          f"| {result['recall']:.2f} | {seconds:.0f} |")
PY
