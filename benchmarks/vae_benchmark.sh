#!/usr/bin/env bash
# The VAE benchmark: the recommended config (CONFIG), a plain convolutional VAE (the
# same networks with a factorised Bernoulli decoder: latent 32, Adam 1e-3, batch 128)
# and the published Keras VAE example, the same wall-clock training budget each, one
# after the other (never at once: two jobs halve each other on 2 cores), all measured
# by the same code on Fashion-MNIST's test split: ELBO, IWAE bound, FID of prior
# samples, and what the latent holds (KL, active units, reconstruction PSNR and FID).
# Writes OUT/summary.json and, per model, grids of prior samples, reconstructions of 32
# test images (input | output) and one walk between two of them.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/vae_benchmark.sh
set -euo pipefail
BUDGET=${BUDGET:-480}
OUT=${OUT:-runs/bench_vae}
CONFIG=${CONFIG:-configs/fashion_mnist_vae.yaml}
FID_SAMPLES=${FID_SAMPLES:-10000}
mkdir -p "$OUT/test_images"
python - "$OUT/test_images" <<'PY'
import sys
from aigc_cli.config import DatasetConfig
from aigc_cli.data.sources import load_images
from aigc_cli.io.images import save_png
images = load_images(DatasetConfig(split="test")).images
for index in range(32):  # the first 32 test images, every class
    save_png(images[index], f"{sys.argv[1]}/test_{index:02d}.png")
PY

measure() {  # measure NAME [aigc train options...]
    local name=$1
    shift
    rm -rf "${OUT:?}/$name"
    # The budget, not the config's step count, ends every run.
    aigc train "$CONFIG" --run-dir "$OUT/$name" --set training.max_seconds="$BUDGET" \
        --set training.steps=1000000000 -q "$@"
    aigc eval "$OUT/$name" --json --fid-samples "$FID_SAMPLES" -q > "$OUT/${name}_eval.json"
    aigc sample "$OUT/$name" -n 64 --grid "$OUT/${name}_prior_samples.png" -q --overwrite
    aigc sample "$OUT/$name" --reconstruct "$OUT/test_images" \
        --grid "$OUT/${name}_reconstructions.png" -q --overwrite
    aigc sample "$OUT/$name" --interpolate 10 --between "$OUT/test_images/test_00.png" \
        "$OUT/test_images/test_01.png" --grid "$OUT/${name}_walk.png" -q --overwrite
}

measure aigc
measure plain_vae --set model.autoregressive_layers=0 --set model.auxiliary_weight=0 \
    --set model.free_bits=0 --set model.top_latent_dim=0 --set model.prior_components=0
python benchmarks/keras_vae_reference.py --seconds "$BUDGET" --out "$OUT/keras" \
  --fid-samples "$FID_SAMPLES" > "$OUT/keras_eval.json"
python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
keys = ("neg_elbo_nats", "nll_iw_nats", "fid", "kl_nats", "active_units", "latent_dim",
        "reconstruction_psnr", "reconstruction_fid")
reports = {name: json.load(open(f"{out}/{name}_eval.json"))
           for name in ("aigc", "plain_vae", "keras")}
summary = {name: {"steps": report.get("step", report.get("steps")),
                  **{key: report[key] for key in keys},
                  "prior": report.get("prior", "standard_normal")}
           for name, report in reports.items()}
summary["fid_feature_extractor"] = reports["aigc"]["fid_feature_extractor"]
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
