#!/usr/bin/env bash
# Shared settings of the paper scripts. Set the dataset folders before running, e.g.
#   NCALTECH_ROOT=/data/N-Caltech101 CALTECH_ROOT=/data/caltech101 bash scripts/paper/main_result.sh
# Extra overrides for every run can be given in SET (e.g. SET="--set data.workers=8").
set -euo pipefail
RUNS=${RUNS:-runs/paper}
SEEDS=${SEEDS:-"42 1024 90210"}
SET=${SET:-}

ncaltech_data() {
    : "${NCALTECH_ROOT:?set NCALTECH_ROOT to the N-Caltech101 folder}"
    : "${CALTECH_ROOT:?set CALTECH_ROOT to the Caltech101 images folder}"
    echo "--set data.options.root=$NCALTECH_ROOT --set data.options.static_root=$CALTECH_ROOT"
}

cepdvs_data() {
    : "${CEPDVS_ROOT:?set CEPDVS_ROOT to the CEP-DVS folder}"
    echo "--set data.options.root=$CEPDVS_ROOT"
}

finished() {  # finished RUN_DIR: the run trained all its epochs
    python -c 'import json, sys, yaml; from pathlib import Path
run = Path(sys.argv[1]); cfg = yaml.safe_load((run / "config.yaml").read_text())
done = json.loads((run / "result.json").read_text())["epochs_done"]
sys.exit(0 if done >= cfg["epochs"] + cfg.get("pretrain_epochs", 0) else 1)' "$1" 2>/dev/null
}

# train RECIPE DATA_ARGS: one run per seed; finished runs are skipped, interrupted ones resumed
train() {
    local recipe=$1 data=$2 seed out
    for seed in $SEEDS; do
        out="$RUNS/$recipe/seed$seed"
        if finished "$out"; then
            echo "done: $out"
        elif [ -d "$out/checkpoints" ]; then
            snn-transfer train --resume "$out"
        else
            # shellcheck disable=SC2086
            snn-transfer train --recipe "$recipe" $data --set seed=$seed $SET --out "$out"
        fi
    done
}
