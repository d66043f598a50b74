#!/usr/bin/env bash
# Issue 22's table: configs/fashion_mnist_gan_private.yaml trained as it is (epsilon 10),
# at epsilon 1, and without privacy (the same recipe, training.privacy removed), one
# after the other (never at once: two jobs halve each other on 2 cores); each then
# measured by `aigc eval --cas` (FID/KID/precision/recall, the memorization audit and
# the Classification Accuracy Score on the real test split). A run dir that already
# holds its finished run is measured, not retrained. Writes OUT/table.md.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/private_gan_table.sh
# One run only: RUNS="eps10" bash benchmarks/private_gan_table.sh
set -euo pipefail
OUT=${OUT:-runs/private_gan_table}
CONFIG=${CONFIG:-configs/fashion_mnist_gan_private.yaml}
RUNS=${RUNS:-eps10 eps1 non_private}
FID_SAMPLES=${FID_SAMPLES:-10000}
mkdir -p "$OUT"
for name in $RUNS; do
  case $name in
    eps10) extra=() ;;
    eps1) extra=(--set training.privacy.target_epsilon=1) ;;
    non_private) extra=(--set training.privacy=null) ;;
    *) echo "unknown run $name (eps10, eps1, non_private)" >&2; exit 2 ;;
  esac
  if [ ! -f "$OUT/$name/train_seconds" ]; then
    started=$(date +%s)
    aigc train "$CONFIG" --run-dir "$OUT/$name" "${extra[@]}" -q
    echo $(( $(date +%s) - started )) > "$OUT/$name/train_seconds"
  fi
  aigc eval "$OUT/$name" --cas --fid-samples "$FID_SAMPLES" --json -q > "$OUT/$name/eval.json"
  aigc sample "$OUT/$name" -n 100 --grid "$OUT/${name}_samples.png" -q --overwrite
done
python - "$OUT" $RUNS <<'PY' | tee "$OUT/table.md"
import json, sys
out, names = sys.argv[1], sys.argv[2:]
print("| run | epsilon (delta 1e-5) | steps | training minutes | CAS | FID | recall "
      "| memorization C_T | copied fraction |")
print("|---|---|---|---|---|---|---|---|---|")
for name in names:
    result = json.load(open(f"{out}/{name}/eval.json"))
    minutes = int(open(f"{out}/{name}/train_seconds").read()) / 60
    epsilon = result.get("privacy", {}).get("epsilon")
    print(f"| {name} | {'-' if epsilon is None else f'{epsilon:.2f}'} | {result['step']} "
          f"| {minutes:.0f} | {100 * result['cas']:.1f}% | {result['fid']:.1f} "
          f"| {result['recall']:.2f} | {result['memorization_ct']:+.1f} "
          f"| {result['memorization_copied_fraction']:.3f} |")
PY
