#!/usr/bin/env bash
# What ran on the lent GPU machine for issue 10 (one call): preflight, the candidate sweep, the
# GPU inference benchmark, packing. Expects .whl/ (pydicom + pylibjpeg wheels) and
# .data/rsna-real-512 carried beside the checkout, and $OUT from the device tool.
set -u
BUDGET=${BUDGET:-240}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt"
python3 -c "import torch, torchvision, pydicom; print(torch.__version__, torchvision.__version__, pydicom.__version__, torch.cuda.get_device_name())" >>"$OUT/gpu.txt" 2>&1 || exit 4
DATA=$PWD/.data/rsna-real-512
# Preflight: two CUDA steps + validation + calibrate at 128 px; stop here if the GPU path breaks.
mkdir -p /tmp/pre
python3 main.py train --images "$DATA/images" --labels "$DATA/labels.csv" --out /tmp/pre/m.pt \
  --arch retinanet --backbone mobilenet_v3 --size 128 --epochs 1 --max-steps 2 --folds 5 \
  --device cuda --quiet >/tmp/pre/log 2>&1 &&
  python3 main.py calibrate --model /tmp/pre/m.pt --images "$DATA/images" --labels "$DATA/labels.csv" \
    --split /tmp/pre/m.split.csv --device cuda >>/tmp/pre/log 2>&1
status=$?
cp /tmp/pre/log "$OUT/preflight.log"
if [ $status -ne 0 ]; then tail -30 /tmp/pre/log; exit 5; fi
echo "preflight ok at $(date +%T)"
bash bench/real_model_gpu.sh "$DATA" /tmp/run "$BUDGET"
echo "sweep done at $(date +%T)"
timeout 90 python3 bench/bench_detector.py --runs 5 --gpu-images 256 --compile >/tmp/run/bench_gpu.txt 2>&1
echo "bench exit $? at $(date +%T)"
python3 bench/pack_real_run.py /tmp/run "$OUT"
grep -h "epoch\|exit\|validation image" /tmp/run/*/train.log | tail -60
