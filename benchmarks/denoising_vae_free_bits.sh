#!/usr/bin/env bash
# The denoising VAE with and without free bits (model.free_bits, nats per latent element):
# the same config and wall-clock budget each, one after the other (never at once: two
# jobs halve each other on 2 cores), each measured by aigc eval on BSD68 at sigma 25
# (the published protocol) and on 8-bit clipped files. Prints one Markdown table.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/denoising_vae_free_bits.sh
set -euo pipefail
BUDGET=${BUDGET:-420}
OUT=${OUT:-runs/denoising_vae_free_bits}
CONFIG=${CONFIG:-configs/denoising_vae_gray.yaml}
CLEAN=${CLEAN:-${AIGC_DATA_DIR:-../shared/data}/denoise/test/BSD68}
FREE_BITS=${FREE_BITS:-0 1 3}
mkdir -p "$OUT"
for bits in $FREE_BITS; do
    run="$OUT/free_bits_$bits"
    rm -rf "$run"
    aigc train "$CONFIG" --run-dir "$run" --set training.max_seconds="$BUDGET" \
        --set model.free_bits="$bits" --set training.eval_every=0 -q
    aigc eval "$run" --clean "$CLEAN" --sigma 25 --json -q > "$run.json"
    aigc eval "$run" --clean "$CLEAN" --sigma 25 --eight-bit --json -q > "$run.8bit.json"
done
python - "$OUT" $FREE_BITS <<'PY'
import json, sys
out, bits = sys.argv[1], sys.argv[2:]
print("| model.free_bits | steps | KL (nats per image, last log) | BSD68 s25 PSNR / SSIM | 8-bit s25 |")
print("|---|---|---|---|---|")
for value in bits:
    run = f"{out}/free_bits_{value}"
    published, eight = (json.load(open(f"{run}{suffix}.json")) for suffix in ("", ".8bit"))
    last = [json.loads(line) for line in open(f"{run}/metrics.jsonl")][-1]
    print(f"| {value} | {published['step']} | {last.get('kl_loss', float('nan')):.0f} | "
          f"{published['psnr']:.2f} / {published['ssim']:.3f} | {eight['psnr']:.2f} |")
PY
