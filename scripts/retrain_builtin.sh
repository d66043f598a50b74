#!/usr/bin/env bash
# Retrain a built-in denoiser the way the shipped one was trained, stage by stage,
# and ship it into aigc_cli/assets. This script is the recipe; the configs' headers
# say why each stage is there. Where the shipped runs went another way: the first
# steps of gray stages 1-2 and 5 and colour stage 2 ran on longer cosine schedules, and
# colour stages 6 and 7 started from the previous stage's float16 asset
# (`training.init_from: color`), gray stage 6 from stage 5's float32 one (`gray`).
#
#   scripts/retrain_builtin.sh gray|color [RUNS_DIR]      (default RUNS_DIR: runs)
#
# Wall time on the project's 2-core CPU (AMX-BF16): gray ~7 h (plus the slim stage, ~50
# min on AVX512-BF16), colour ~10 h (plus stage 7,
# 1.6 h in float32 on an AVX2-only CPU). Run it under
# nohup. Stopped (Ctrl-C, SIGTERM: passed on to the training, which checkpoints; a
# crash), it is simply run again: each stage resumes from its run dir's newest
# checkpoint and a finished stage returns at once.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: scripts/retrain_builtin.sh gray|color [RUNS_DIR]" >&2
    exit 2
fi
model=$1
runs=${2:-runs}
[[ $runs == /* ]] || [[ $# -lt 2 ]] || runs="$PWD/$runs"  # as given, before the cd
cd "$(dirname "$0")/.."

training=""
trap '[[ -n $training ]] && kill -TERM "$training" 2>/dev/null; wait; exit 130' TERM INT

stage() {  # stage NAME CONFIG [--set KEY=VALUE ...]
    local name=$1 config=$2
    shift 2
    echo "== $model: $name" >&2
    aigc train "$config" --run-dir "$runs/$name" "$@" &
    training=$!
    wait "$training"  # a stopped or failed stage ends the chain (set -e): nothing shipped
    training=""
}

case "$model" in
gray)
    stage denoiser_gray configs/denoiser_gray.yaml
    stage denoiser_gray_finetune configs/denoiser_gray_finetune.yaml \
        --set training.init_from="$runs/denoiser_gray"
    stage denoiser_gray_stage3 configs/denoiser_gray_finetune.yaml \
        --set training.init_from="$runs/denoiser_gray_finetune" --set training.steps=18000 \
        --set optimizer.denoiser.learning_rate=1e-4 --set optimizer.denoiser.decay_steps=18000
    stage denoiser_gray_stage4 configs/denoiser_gray_finetune.yaml \
        --set training.init_from="$runs/denoiser_gray_stage3" --set training.steps=18000 \
        --set optimizer.denoiser.learning_rate=8e-5 --set optimizer.denoiser.decay_steps=18000
    stage denoiser_gray_real configs/denoiser_gray_real.yaml \
        --set training.init_from="$runs/denoiser_gray_stage4"
    stage denoiser_gray_grow configs/denoiser_gray_grow.yaml \
        --set training.init_from="$runs/denoiser_gray_real"
    # gray-slim: stage 6's 80 strongest channels, fine-tuned (for AVX512-BF16-only CPUs)
    stage denoiser_gray_slim configs/denoiser_gray_slim.yaml \
        --set training.init_from="$runs/denoiser_gray_grow"
    python scripts/ship_model.py "$runs/denoiser_gray_grow" denoiser_gray float16
    python scripts/ship_model.py "$runs/denoiser_gray_slim" denoiser_gray_slim float16
    ;;
color)
    stage denoiser_color configs/denoiser_color.yaml
    stage denoiser_color_ft configs/denoiser_color.yaml \
        --set training.init_from="$runs/denoiser_color" \
        --set optimizer.denoiser.learning_rate=2e-4 --set training.steps=17140 \
        --set optimizer.denoiser.decay_steps=32000
    stage denoiser_color_grow configs/denoiser_color_grow.yaml \
        --set training.init_from="$runs/denoiser_color_ft"
    stage denoiser_color_grow2 configs/denoiser_color_grow.yaml \
        --set training.init_from="$runs/denoiser_color_grow" --set training.steps=12099 \
        --set optimizer.denoiser.decay_steps=14000
    stage denoiser_color_grow3 configs/denoiser_color_grow.yaml \
        --set training.init_from="$runs/denoiser_color_grow2" --set training.steps=10000 \
        --set training.seed=1 --set optimizer.denoiser.learning_rate=5e-5
    stage denoiser_color_grow4 configs/denoiser_color_grow.yaml \
        --set training.init_from="$runs/denoiser_color_grow3" --set training.steps=9000 \
        --set training.seed=2 --set optimizer.denoiser.learning_rate=5e-5
    stage denoiser_color_real configs/denoiser_color_real.yaml \
        --set training.init_from="$runs/denoiser_color_grow4"
    python scripts/ship_model.py "$runs/denoiser_color_real" denoiser_color float16
    ;;
*)
    echo "scripts/retrain_builtin.sh: '$model' is not a built-in denoiser: gray or color" >&2
    exit 2
    ;;
esac
