#!/usr/bin/env bash
# Issue 5's target: configs/fashion_mnist_gan.yaml against configs/reference_dcgan.yaml
# (the TensorFlow DCGAN tutorial), the same wall-clock training budget each, one
# after the other (never at once: two jobs halve each other on 2 cores), FID on
# FID_SAMPLES samples against Fashion-MNIST's test split with the same extractor.
# Writes OUT/summary.json, both sample grids and them side by side.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/gan_benchmark.sh
# Extra configs to compare: CONFIGS="configs/a.yaml configs/b.yaml" bash ...
set -euo pipefail
BUDGET=${BUDGET:-480}
OUT=${OUT:-runs/bench_gan}
FID_SAMPLES=${FID_SAMPLES:-10000}
CONFIGS=${CONFIGS:-configs/reference_dcgan.yaml configs/fashion_mnist_gan.yaml}
mkdir -p "$OUT"
for config in $CONFIGS; do
  name=$(basename "$config" .yaml)
  rm -rf "${OUT:?}/$name"
  aigc train "$config" --run-dir "$OUT/$name" --set training.max_seconds="$BUDGET" \
    --set training.steps=1000000 -q
  aigc eval "$OUT/$name" --json --fid-samples "$FID_SAMPLES" > "$OUT/${name}_eval.json"
  aigc sample "$OUT/$name" -n 64 --grid "$OUT/${name}_samples.png" -q --overwrite
done
python - "$OUT" $CONFIGS <<'PY'
import json, os, sys
out, configs = sys.argv[1], sys.argv[2:]
keys = ("step", "fid", "kid", "precision", "recall", "inception_score")
rows = {}
for config in configs:
    name = os.path.splitext(os.path.basename(config))[0]
    result = json.load(open(f"{out}/{name}_eval.json"))
    rows[name] = {key: result[key] for key in keys}
summary = {"runs": rows, "fid_feature_extractor": result["fid_feature_extractor"],
           "fid_samples": result["fid_samples"]}
if {"reference_dcgan", "fashion_mnist_gan"} <= rows.keys():
    summary["fid_ratio"] = rows["fashion_mnist_gan"]["fid"] / rows["reference_dcgan"]["fid"]
    from PIL import Image  # both grids side by side, reference on the left
    grids = [Image.open(f"{out}/{name}_samples.png").convert("RGB")
             for name in ("reference_dcgan", "fashion_mnist_gan")]
    gap = 8
    side = Image.new("RGB", (grids[0].width + gap + grids[1].width,
                             max(grid.height for grid in grids)), "white")
    side.paste(grids[0], (0, 0))
    side.paste(grids[1], (grids[0].width + gap, 0))
    side.save(f"{out}/reference_vs_fashion_mnist_gan.png")
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
