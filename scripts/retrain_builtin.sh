#!/usr/bin/env bash
# Retrain a built-in denoiser the way the shipped one was trained, stage by stage,
# and ship it into aigc_cli/assets (the stages are the ones in the configs' headers;
# the shipped runs' first steps of gray stages 1-2 and colour stage 2 ran on longer
# cosine schedules, which the configs' comments give).
#
#   scripts/retrain_builtin.sh gray|color [RUNS_DIR]      (default RUNS_DIR: runs)
#
# Wall time on the project's 2-core CPU: gray ~5.5 h, colour ~10 h. Run it under
# nohup. Stopped (Ctrl-C, SIGTERM, a crash), it is simply run again: each stage
# resumes from its run dir's newest checkpoint and a finished stage returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:?usage: scripts/retrain_builtin.sh gray|color [RUNS_DIR]}
runs=${2:-runs}

stage() {  # stage NAME CONFIG [--set KEY=VALUE ...]
    local name=$1 config=$2
    shift 2
    echo "== $model: $name" >&2
    aigc train "$config" --run-dir "$runs/$name" "$@"
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
    python scripts/ship_model.py "$runs/denoiser_gray_stage4" denoiser_gray
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
    python scripts/ship_model.py "$runs/denoiser_color_grow4" denoiser_color float16
    ;;
*)
    echo "scripts/retrain_builtin.sh: '$model' is not a built-in denoiser: gray or color" >&2
    exit 2
    ;;
esac
