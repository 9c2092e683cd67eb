"""Metrics speed: GAP@20, Hit@1, PERR (and the whole evaluate_all) on random predictions of
100,000 videos x 3862 classes (full mode; quick mode: 20,000), plus the streaming evaluator
fed in batches of 1024. One numpy implementation scores every model of both frameworks, so
this is the evaluation cost of a validation set of that size."""

from __future__ import annotations

import numpy as np

from yt8m_lib.config import NUM_CLASSES_2018
from yt8m_lib.runs import benchmarking as bm

SIZES = {"quick": {"videos": 20_000, "repeats": 3}, "full": {"videos": 100_000, "repeats": 5}}


def random_problem(videos: int, classes: int = NUM_CLASSES_2018, seed: int = 0):
    """float32 scores in (0, 1) and about 3 labels per video (YouTube-8M has ~3.0 on average)."""
    rng = np.random.default_rng(seed)
    p = rng.random((videos, classes), dtype=np.float32)
    y = rng.random((videos, classes), dtype=np.float32) < 3.0 / classes
    return p, y


def run(mode: str, progress=True) -> dict:
    from tqdm.auto import tqdm

    from yt8m_lib.evaluation import metrics

    videos, repeats = SIZES[mode]["videos"], SIZES[mode]["repeats"]
    p, y = random_problem(videos)
    result = bm.new_result(
        "metrics",
        mode=mode,
        settings={
            "videos": videos,
            "classes": NUM_CLASSES_2018,
            "repeats": repeats,
            "warmup": 1,
            "predictions_dtype": str(p.dtype),
            "labels_dtype": str(y.dtype),
        },
    )

    def streaming():
        evaluator = metrics.StreamingEvaluator(NUM_CLASSES_2018)
        for start in range(0, videos, 1024):
            evaluator.add(p[start : start + 1024], y[start : start + 1024])
        return evaluator.result()

    cases = {
        "gap@20": lambda: metrics.gap(p, y),
        "hit@1": lambda: metrics.hit_at_one(p, y),
        "perr": lambda: metrics.perr(p, y),
        "evaluate_all": lambda: metrics.evaluate_all(p, y),
        "streaming_evaluator_b1024": streaming,
    }
    with tqdm(total=repeats * len(cases), desc="metrics", disable=not progress) as bar:
        timings = bm.compare(
            cases, repeats=repeats, warmup=1, progress=bar, items={n: videos for n in cases}
        )
    result["rows"] = [t.to_dict() for t in timings.values()]
    result["ratios"]["streaming_over_evaluate_all"] = bm.ratio(
        timings["evaluate_all"], timings["streaming_evaluator_b1024"]
    )
    return result
