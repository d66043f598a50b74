#!/usr/bin/env bash
# The U-Net sizes screened for configs/fashion_mnist_diffusion.yaml: training and sampling
# speed of each variant on this machine (`aigc bench`, one after the other), so that the
# 30-minute benchmark (benchmarks/diffusion_benchmark.sh) trains the largest network that
# still sees enough images. Writes OUT/screen.md.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/diffusion_unet_screen.sh
set -euo pipefail
OUT=${OUT:-runs/diffusion_screen}
CONFIG=${CONFIG:-configs/fashion_mnist_diffusion.yaml}
mkdir -p "$OUT"
variants=(
  "base|"
  "w32-64-96_b2_attn7|--set model.widths=[32,64,96] --set model.blocks_per_level=2 --set model.attention_resolutions=[7]"
  "base_float32|--set training.precision=float32"
  "w32-64_b1|--set model.widths=[32,64]"
  "w64-128-128_b1|--set model.widths=[64,128,128]"
)
for variant in "${variants[@]}"; do
  name=${variant%%|*}
  read -r -a extra <<< "${variant#*|}"
  [ -f "$OUT/$name.json" ] || aigc bench "$CONFIG" "${extra[@]}" --steps ${STEPS:-10} --warmup 3 \
    --rounds 2 --json -q > "$OUT/$name.json"
done
python - "$OUT" "${variants[@]%%|*}" <<'PY' | tee "$OUT/screen.md"
import json, sys
out, names = sys.argv[1], sys.argv[2:]
print("| variant | training images/s | sampling images/s (the config's steps) | peak MB |")
print("|---|---|---|---|")
for name in names:
    result = json.load(open(f"{out}/{name}.json"))
    print(f"| {name} | {result['train']['images_per_sec_amortized']:.0f} "
          f"| {result['sampling']['images_per_sec']:.0f} | {result['peak_memory_mb']:.0f} |")
PY
