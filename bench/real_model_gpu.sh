#!/usr/bin/env bash
# Train + calibrate the real-data candidates for issue 10 on one GPU machine, all at once.
#
#   bench/real_model_gpu.sh DATA_DIR RUN_DIR [BUDGET_S]
#
# DATA_DIR holds images/ and labels.csv (rsna-real-512). Every job gets the same training-time
# budget (`train --time-budget`: after epoch 1 it trains the epochs that fit, cosine schedule
# shortened to match), then `calibrate` chooses its gate and TTA on its validation fold. The
# 5-fold rows use one seed, so their validation folds are disjoint and cover every image once.
# Each job's log, split, calibration report (with raw validation predictions) and checkpoint
# land in RUN_DIR/<job>/; bench/real_model_table.py turns them into docs/PERFORMANCE.md rows.
set -u
DATA=$1
RUN=$2
BUDGET=${3:-270}
PY=${PY:-python3}
SEED=2026
mkdir -p "$RUN"

job() {
  local name=$1
  shift
  mkdir -p "$RUN/$name"
  (
    cd "$(dirname "$0")/.." || exit 1
    timeout $((BUDGET + 200)) $PY main.py train --images "$DATA/images" --labels "$DATA/labels.csv" \
      --out "$RUN/$name/model.pt" --device "${DEVICE:-cuda}" --quiet --half-weights --seed $SEED \
      --epochs 80 --time-budget "$BUDGET" --early-stop 0 --workers 2 "$@" >"$RUN/$name/train.log" 2>&1
    echo "train exit $?" >>"$RUN/$name/train.log"
    for which in model model.last; do
      timeout 120 $PY main.py calibrate --model "$RUN/$name/$which.pt" --images "$DATA/images" \
        --labels "$DATA/labels.csv" --split "$RUN/$name/model.split.csv" --device "${DEVICE:-cuda}" \
        --out "$RUN/$name/$which.cal.pt" --report "$RUN/$name/$which.report.json" \
        >>"$RUN/$name/train.log" 2>&1
      echo "calibrate $which exit $?" >>"$RUN/$name/train.log"
    done
    rm -f "$RUN/$name/model.last.pt" "$RUN/$name/model.last.cal.pt"
  ) &
}

MNV3="--arch retinanet --backbone mobilenet_v3 --batch-size 16 --lr 5e-4"
R50="--backbone resnet50 --size 512 --batch-size 8 --lr 2e-4 --augment heavy --folds 5 --fold 0"
for fold in 0 1 2 3 4; do
  job "mnv3-384-heavy-f$fold" $MNV3 --size 384 --augment heavy --folds 5 --fold $fold
done
job mnv3-256-heavy-f0 $MNV3 --size 256 --augment heavy --folds 5 --fold 0
job mnv3-512-heavy-f0 $MNV3 --size 512 --augment heavy --folds 5 --fold 0
job mnv3-384-light-f0 $MNV3 --size 384 --augment light --folds 5 --fold 0
job mnv3-384-none-f0 $MNV3 --size 384 --augment none --folds 5 --fold 0
job mnv3-384-heavy-hist-f0 $MNV3 --size 384 --augment heavy --equalize hist --folds 5 --fold 0
job r50-retinanet-512-heavy-f0 --arch retinanet $R50
job r50-fasterrcnn-512-heavy-f0 --arch fasterrcnn $R50
wait
echo "all jobs done"
