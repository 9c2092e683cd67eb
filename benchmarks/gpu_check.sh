#!/bin/bash
# One prepared check for a lent CUDA machine (what made benchmarks/records/nvidia-h200/):
# the four thesis models trained with `yt8m train --device cuda` on the default synthetic
# data, then make bench's train and infer sections on cuda, then compiled (quick) in what
# the time budget leaves. Everything lands in $WORK and is packed into $OUT/gpu.tgz at exit.
#
#   OUT=/some/folder BUDGET=470 bash benchmarks/gpu_check.sh
#   DEVICE=cpu WHEELS= BUDGET=200 bash benchmarks/gpu_check.sh    # a dry run before a lease
#   MODELS="fc hybrid" SECTIONS=train bash benchmarks/gpu_check.sh  # fewer trainings/sections
#   MODELS=" " ...                                                   # no trainings at all
#
# The lent machines have PyTorch but no TensorFlow (Keras rows become "tensorflow is not
# installed" failures) and no package index: wheels of what else the package needs (crc32c,
# gputil: about 90 kB; numba and llvmlite are in the machines' image, and their wheels, about
# 61 MiB, would not fit beside the working tree in the device tool's 64 MiB) are installed
# from $WHEELS (default .whl/) when that folder exists.
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
if [ -n "${MODELS// /}" ]; then  # the data only the trainings read (MODELS=" ": none)
  $PY -m yt8m_lib synth "$WORK/data" --profile default 2>&1 | tail -1
fi
for model in $MODELS; do
  level=$([ $model = fc ] && echo video || echo frame)
  amp=$([ $model = hybrid ] && echo --mixed-precision)
  start=$SECONDS
  timeout 120 $PY -m yt8m_lib train --framework torch --model $model --profile default \
    --epochs 3 --train-data "$WORK/data/$level/train*" --val-data "$WORK/data/$level/validate*" \
    --out "$WORK/runs/$model" --device $DEVICE --no-progress $amp > "$WORK/runs/$model.log" 2>&1
  echo "== train $model on $DEVICE: exit $?, $((SECONDS - start)) s"
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
