#!/bin/bash
# One prepared check for a lent CUDA machine (what made benchmarks/records/nvidia-h200/):
# the four thesis models trained with `yt8m train --device cuda` on the default synthetic
# data, each in native PyTorch and then as Keras on the torch backend (the same batches,
# interleaved model by model; Keras needs its wheels, see below), then make bench's train
# and infer sections on cuda, then compiled (quick) in what the time budget leaves.
# Everything lands in $WORK and is packed into $OUT/gpu.tgz at exit.
#
#   OUT=/some/folder BUDGET=470 bash benchmarks/gpu_check.sh
#   DEVICE=cpu WHEELS= BUDGET=200 bash benchmarks/gpu_check.sh    # a dry run before a lease
#   MODELS="fc hybrid" SECTIONS=train bash benchmarks/gpu_check.sh  # fewer trainings/sections
#   MODELS=" " ...                                                   # no trainings at all
#
# The lent machines have PyTorch but no TensorFlow (Keras-on-TensorFlow rows become
# "tensorflow is not installed" failures) and no package index: wheels of what else the
# package needs are installed from $WHEELS (default .whl/) when that folder exists.
# `make gpu-wheels` fills it: crc32c, gputil and Keras with its dependencies for the
# machines' Python (about 11 MB; numba and llvmlite are in the machines' image, and their
# wheels, about 61 MiB, would not fit beside the working tree in the device tool's 64 MiB).
# Without Keras there, the Keras-on-torch trainings are skipped with one line.
# KERAS_TORCH=0 skips them; with them, the hybrid trains in float32 in both (Keras on torch
# offers no mixed precision), otherwise PyTorch trains it in mixed precision as before.
BUDGET=${BUDGET:-470}  # seconds for the whole script; the compiled section gets the rest
WORK=${WORK:-/tmp/gpu_check}
OUT=${OUT:-$WORK/out}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
WHEELS=${WHEELS-.whl}
mkdir -p "$WORK/runs" "$OUT"
trap 'tar czf "$OUT/gpu.tgz" -C "$WORK" runs res log.txt 2>/dev/null' EXIT
exec > >(tee "$WORK/log.txt") 2>&1
if [ -n "$WHEELS" ] && [ -d "$WHEELS" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$WHEELS"/*.whl || exit 1
  export PYTHONPATH="$WORK/site:$PWD"
fi
export PYTHONUNBUFFERED=1 YT8M_RESULTS_DIR="$WORK/res"
[ "$DEVICE" = cuda ] && nvidia-smi -L
$PY -c "import torch, numba; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numba', numba.__version__)" || exit 1
MODELS=${MODELS:-fc bilstm stream_lstm hybrid}
KERAS_TORCH=${KERAS_TORCH:-1}
if [ "$KERAS_TORCH" = 1 ] && ! KERAS_BACKEND=torch $PY -c "import keras" 2>/dev/null; then
  echo "== keras is not importable here: no Keras-on-torch trainings (make gpu-wheels)"
  KERAS_TORCH=0
fi
if [ -n "${MODELS// /}" ]; then  # the data only the trainings read (MODELS=" ": none)
  $PY -m yt8m_lib synth "$WORK/data" --profile default 2>&1 | tail -1
fi
train() {  # train NAME MODEL ARGS...: one training run into $WORK/runs/NAME
  local name=$1 model=$2; shift 2
  local level=$([ $model = fc ] && echo video || echo frame)
  local start=$SECONDS
  timeout 120 $PY -m yt8m_lib train "$@" --model $model --profile default \
    --epochs 3 --train-data "$WORK/data/$level/train*" --val-data "$WORK/data/$level/validate*" \
    --out "$WORK/runs/$name" --device $DEVICE --no-progress > "$WORK/runs/$name.log" 2>&1
  echo "== train $name on $DEVICE: exit $?, $((SECONDS - start)) s"
}
for model in $MODELS; do
  amp=$([ $model = hybrid ] && [ "$KERAS_TORCH" != 1 ] && echo --mixed-precision)
  train $model $model --framework torch $amp
  if [ "$KERAS_TORCH" = 1 ]; then
    train keras-torch-$model $model --framework keras --keras-backend torch
  fi
done
find "$WORK/runs" -name "*.pt" -delete  # checkpoints stay behind (size)
bench() {  # bench SECONDS ARGS...: one benchmarks.run call cut to SECONDS, or skipped
  local seconds=$1; shift
  if [ "$seconds" -gt 30 ]; then
    timeout "$seconds" $PY -m benchmarks.run "$@" --device $DEVICE --no-progress
    echo "== bench $*: exit $?, at $SECONDS s"
  else
    echo "== bench $*: skipped, only $seconds s left"
  fi
}
bench $((BUDGET - SECONDS - 60)) --only ${SECTIONS:-train,infer}
bench $((BUDGET - SECONDS)) --only compiled --quick
