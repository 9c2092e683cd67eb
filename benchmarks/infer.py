"""Section 3: inference latency per batch and videos/s, each model in each framework.

Batches of the profile's evaluation size (256 videos) preloaded in memory, eval mode (no
dropout, BatchNorm moving averages), no gradients; PyTorch ``model(batch)`` under
``torch.no_grad``, Keras a traced ``tf.function`` of ``model(inputs, training=False)`` as the
trainer's ``make_forward``; both end with the probabilities as a numpy array (a GPU result is
copied back, so the clock includes the work). Same threads and data as section ``train``.
"""

from __future__ import annotations

from benchmarks.train import PROFILE, devices, measure
from yt8m_lib.config import MODEL_NAMES, get_profile
from yt8m_lib.runs import benchmarking as bm

SIZES = {"quick": {"repeats": 3}, "full": {"repeats": 15}}


def run(mode: str, progress=True, device="auto", models=MODEL_NAMES) -> dict:

    repeats = SIZES[mode]["repeats"]
    batch_size = get_profile(PROFILE).train.eval_batch_size
    result = bm.new_result(
        "infer",
        mode=mode,
        settings={
            "profile": PROFILE,
            "batch_size": batch_size,
            "repeats": repeats,
            "warmup": 1,
            "precision": "float32",
        },
    )
    for dev in devices(device):
        for model in models:
            info, failures, rows = measure(
                model,
                dev,
                batch_size=batch_size,
                repeats=repeats,
                desc=f"infer {model} {dev}",
                progress=progress,
                inference=True,
            )
            result["failures"] += failures
            timings = {}
            for row, timing in rows:
                row["batch_latency_ms"] = bm.summarize(
                    [1e3 * s / info["steps"] for s in timing.samples]
                )
                result["rows"].append(row)
                timings[f"{row['framework']}/{row['kind']}"] = timing
            if "torch/predict" in timings and "keras/predict" in timings:
                result["ratios"][f"{model}/{dev}/keras_over_torch_latency"] = bm.ratio(
                    timings["torch/predict"], timings["keras/predict"], paired=False
                )
    return result
