#!/usr/bin/env bash
# Short runs of the VAE options that make the latent carry the image (docs/vae.md,
# "Making the latent carry the image"), one after the other, each measured by aigc eval
# on the first LIMIT test images: ELBO, KL per image, active units, reconstruction PSNR
# and FID, FID of prior samples. Prints one Markdown table; the finalists then go
# through benchmarks/vae_benchmark.sh at 8 minutes.
#   AIGC_DATA_DIR=../shared/data bash benchmarks/vae_search.sh [CANDIDATE ...]
set -euo pipefail
BUDGET=${BUDGET:-120}
OUT=${OUT:-runs/vae_search}
LIMIT=${LIMIT:-2000}
FID_SAMPLES=${FID_SAMPLES:-2000}
CONFIG=${CONFIG:-configs/fashion_mnist_vae.yaml}
mkdir -p "$OUT"

# Arguments: candidate names to (re)run alone; the table then covers every candidate
# measured so far in OUT.
ONLY=" $* "
candidate() {  # candidate NAME [--set KEY=VALUE ...]
    local name=$1
    shift
    if [[ "$ONLY" != "  " && "$ONLY" != *" $name "* ]]; then return; fi
    sed -i "/^$name /d" "$OUT/candidates.txt"
    rm -rf "${OUT:?}/$name"
    aigc train "$CONFIG" --run-dir "$OUT/$name" --set training.max_seconds="$BUDGET" -q "$@"
    aigc eval "$OUT/$name" --json --limit "$LIMIT" --fid-samples "$FID_SAMPLES" \
        --importance-samples 10 -q > "$OUT/$name.json"
    echo "$name $*" >> "$OUT/candidates.txt"
}

touch "$OUT/candidates.txt"
candidate pixelcnn_head
candidate factorised --set model.autoregressive_layers=0
candidate free_bits_0.5 --set model.free_bits=0.5
candidate free_bits_1 --set model.free_bits=1.0
candidate head_1_free_bits_0.5 --set model.autoregressive_layers=1 --set model.free_bits=0.5
candidate top_16_free_bits_0.5 --set model.top_latent_dim=16 --set model.free_bits=0.5
candidate auxiliary_1 --set model.auxiliary_weight=1.0
candidate head_1_auxiliary_1 --set model.autoregressive_layers=1 --set model.auxiliary_weight=1.0
candidate head_1_width_8 --set model.autoregressive_layers=1 --set model.autoregressive_width=8
candidate head_1_width_8_auxiliary_1 --set model.autoregressive_layers=1 \
    --set model.autoregressive_width=8 --set model.auxiliary_weight=1.0
candidate head_1_width_8_auxiliary_1_prior_50 --set model.autoregressive_layers=1 \
    --set model.autoregressive_width=8 --set model.auxiliary_weight=1.0 \
    --set model.prior_components=50
candidate head_1_width_8_auxiliary_0.3_prior_50 --set model.autoregressive_layers=1 \
    --set model.autoregressive_width=8 --set model.auxiliary_weight=0.3 \
    --set model.prior_components=50
candidate head_1_width_8_auxiliary_1_free_bits_0.75_prior_50 \
    --set model.autoregressive_layers=1 --set model.autoregressive_width=8 \
    --set model.auxiliary_weight=1.0 --set model.free_bits=0.75 --set model.prior_components=50
candidate head_1_width_8_auxiliary_2_prior_50 --set model.autoregressive_layers=1 \
    --set model.autoregressive_width=8 --set model.auxiliary_weight=2.0 \
    --set model.prior_components=50
# The head's own likelihood with a forced rate (no auxiliary likelihood): does z's
# information lower the head's reconstruction term, at 1 and at 4 times the width?
candidate head_1_width_8_free_bits_0.65_prior_50 --set model.autoregressive_layers=1 \
    --set model.autoregressive_width=8 --set model.auxiliary_weight=0 \
    --set model.free_bits=0.65 --set model.prior_components=50
candidate head_1_width_32_free_bits_0.65_prior_50 --set model.autoregressive_layers=1 \
    --set model.autoregressive_width=32 --set model.auxiliary_weight=0 \
    --set model.free_bits=0.65 --set model.prior_components=50
python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
print("| candidate | settings | steps | neg. ELBO | reconstruction term | KL | active units | recon. PSNR | recon. FID | FID |")
print("|---|---|---|---|---|---|---|---|---|---|")
for line in open(f"{out}/candidates.txt"):
    name, *settings = line.split()
    r = json.load(open(f"{out}/{name}.json"))
    print(f"| {name} | {' '.join(s for s in settings if s != '--set') or 'the config'} "
          f"| {r['step']} | {r['neg_elbo_nats']:.1f} | {r['neg_elbo_nats'] - r['kl_nats']:.1f} | "
          f"{r['kl_nats']:.1f} | "
          f"{r['active_units']}/{r['latent_dim']} | {r['reconstruction_psnr']:.2f} | "
          f"{r['reconstruction_fid']:.1f} | {r['fid']:.1f} |")
PY
