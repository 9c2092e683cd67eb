"""Section 5: compiled modes as extra rows - ``torch.compile`` (inductor) and Keras
``jit_compile=True`` (XLA) against the default eager PyTorch / traced ``tf.function``, for a
training step and for inference, on preloaded batches (same settings as ``train``/``infer``).

Compilation happens before timing (its time is not a step's time); a mode that fails to
compile, or that the trainer does not allow (XLA is off for Keras models with a cuDNN LSTM),
is listed under ``failures`` with its reason instead of a row.
"""

from __future__ import annotations

from benchmarks.train import PROFILE, devices, measure
from yt8m_lib.config import MODEL_NAMES, get_profile
from yt8m_lib.runs import benchmarking as bm

SIZES = {"quick": {"repeats": 3, "models": ("fc",)}, "full": {"repeats": 7, "models": MODEL_NAMES}}
PAIRS = {
    "torch/alone": "torch/alone_compiled",
    "keras/alone": "keras/alone_xla",
    "torch/predict": "torch/predict_compiled",
    "keras/predict": "keras/predict_xla",
}


def run(mode: str, progress=True, device="auto") -> dict:

    repeats = SIZES[mode]["repeats"]
    train = get_profile(PROFILE).train
    result = bm.new_result(
        "compiled",
        mode=mode,
        settings={
            "profile": PROFILE,
            "repeats": repeats,
            "warmup": 1,
            "precision": "float32",
            "train_batch_size": train.batch_size,
            "infer_batch_size": train.eval_batch_size,
        },
    )
    for dev in devices(device):
        for model in SIZES[mode]["models"]:
            for inference in (False, True):
                batch = train.eval_batch_size if inference else train.batch_size
                what = "infer" if inference else "train"
                info, failures, rows = measure(
                    model,
                    dev,
                    batch_size=batch,
                    repeats=repeats,
                    desc=f"compiled {what} {model} {dev}",
                    progress=progress,
                    compile_modes=(False, True),
                    inference=inference,
                    full=False,
                )
                result["failures"] += failures
                timings = {}
                for row, timing in rows:
                    row["task"] = what
                    result["rows"].append(row)
                    timings[f"{row['framework']}/{row['kind']}"] = timing
                for default, compiled in PAIRS.items():
                    if default in timings and compiled in timings:
                        result["ratios"][f"{model}/{dev}/{compiled}_speedup"] = bm.ratio(
                            timings[compiled], timings[default]
                        )
    return result
