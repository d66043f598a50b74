#!/usr/bin/env bash
# Issue 3's target: aigc's default VAE config against the published Keras VAE
# example, the same wall-clock training budget each, one after the other (never
# at once: two jobs halve each other on 2 cores), measured by the same code on
# Fashion-MNIST's test split. Writes OUT/summary.json and both sample grids.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/vae_benchmark.sh
set -euo pipefail
BUDGET=${BUDGET:-480}
OUT=${OUT:-runs/bench_vae}
FID_SAMPLES=${FID_SAMPLES:-10000}
mkdir -p "$OUT"
rm -rf "$OUT/aigc"
aigc train configs/fashion_mnist_vae.yaml --run-dir "$OUT/aigc" \
  --set training.max_seconds="$BUDGET" -q
aigc eval "$OUT/aigc" --json --fid-samples "$FID_SAMPLES" > "$OUT/aigc_eval.json"
aigc sample "$OUT/aigc" -n 64 --grid "$OUT/aigc_prior_samples.png" -q --overwrite
python benchmarks/keras_vae_reference.py --seconds "$BUDGET" --out "$OUT/keras" \
  --fid-samples "$FID_SAMPLES" > "$OUT/keras_eval.json"
python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
ours, ref = (json.load(open(f"{out}/{n}_eval.json")) for n in ("aigc", "keras"))
summary = {
    "aigc": {k: ours[k] for k in ("step", "neg_elbo_nats", "nll_iw_nats", "fid")},
    "keras_example": {k: ref[k] for k in ("steps", "neg_elbo_nats", "nll_iw_nats", "fid")},
    "neg_elbo_gain_nats": ref["neg_elbo_nats"] - ours["neg_elbo_nats"],
    "fid_feature_extractor": ours["fid_feature_extractor"],
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
