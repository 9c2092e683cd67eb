"""Learning curves: test GAP against the number of training shards, beside published
full-data results.

Each point trains a model on the first n train shards of the split (the manifest's shard
order, so the sets are nested: the 5 shards of n=5 are among the 10 of n=10), with the
profile's settings and early stopping on the same validate shards, and scores the same test
shards once. ``PUBLISHED`` holds reference results on the full dataset (about 6 million
training videos against the ~300 videos of a real shard here), each with its source, drawn
as labelled lines so a reader sees where a 20k-video sample stands.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRAIN_SHARDS = (5, 10, 20, 40, 60)
CURVE_MODELS = ("logistic", "moe", "fc")

# Published GAP@20 of models trained on the full dataset (millions of videos), each with its
# source (the list kept in the project's shared conventions). 2017 results are on the 2017
# release (4,716 classes), 2018 ones on this project's 2018 release (3,862 classes):
# comparable in kind, not to the third decimal. The release is part of every label.
PUBLISHED = (
    {
        "label": "one-hidden-layer MLP, video level (2017)",
        "gap": 0.799,
        "source": "alexeygrigorev/yt8m-kaggle (StandardScaler + one-hidden-layer MLP)",
    },
    {
        "label": "single deep MLP, video level (2017)",
        "gap": 0.823,
        "source": "Y8M team (5th, 2017), mpekalski/Y8M (mean+std inputs)",
    },
    {
        "label": "chained deep MoE, video level (2018)",
        "gap": 0.854,
        "source": "gujingxiao, 2nd YouTube-8M challenge solution README (0.854-0.860)",
    },
    {
        "label": "NeXtVLAD, best single model, frame level (2018)",
        "gap": 0.878,
        "source": "Lin et al., arXiv 1811.05014 (private leaderboard)",
    },
)


def curve_label(train_shards: int) -> str:
    """Suffix of a learning-curve run's folder name."""
    return f"-shards{train_shards}"


def run_curves(
    frameworks,
    models,
    seeds,
    *,
    profile: str,
    data_dir,
    sizes=TRAIN_SHARDS,
    learning_rates: dict | None = None,
    results_dir=None,
    verbose: bool = True,
) -> pd.DataFrame:
    """Train and test every (framework, model, size, seed); one row per run (the number of
    test videos in ``attrs["test_videos"]``). ``learning_rates``: {model: rate} to train
    with instead of the profile's (the tuning protocol's choices). A size equal to all the
    train shards is the model chapters' run, reused."""
    from yt8m_lib import experiments
    from yt8m_lib.data.datasets import split_files

    available = len(split_files(data_dir, "video").get("train", []))
    # every size the split can give, and always all of its train shards (the chapters' runs)
    sizes = sorted({n for n in sizes if n < available} | {available})
    rows = []
    for framework in frameworks:
        for model in models:
            for n in sizes:
                for seed in seeds:
                    record = experiments.run_one(
                        framework,
                        model,
                        seed,
                        profile=profile,
                        data_dir=data_dir,
                        results_dir=results_dir,
                        learning_rate=(learning_rates or {}).get(model),
                        train_shards=None if n == available else n,
                        run_label="" if n == available else curve_label(n),
                        verbose=verbose,
                    )
                    test = record["evaluations"]["test"]
                    test_videos = test.get("num_videos")
                    rows.append(
                        {
                            "framework": framework,
                            "model": model,
                            "train_shards": n,
                            "train_videos": int(record["data"].get("num_train_videos") or 0),
                            "seed": seed,
                            "gap": float(test["gap"]),
                            "hit_at_1": float(test["hit_at_1"]),
                            "best_epoch": record["best_epoch"],
                        }
                    )
    frame = pd.DataFrame(rows)
    frame.attrs["test_videos"] = test_videos if rows else None
    return frame


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of the test GAP per (framework, model, size)."""
    grouped = frame.groupby(["framework", "model", "train_shards"])
    out = grouped.agg(
        train_videos=("train_videos", "max"),
        seeds=("seed", "nunique"),
        gap_mean=("gap", "mean"),
        gap_std=("gap", "std"),
    )
    return out.reset_index()


def slope_per_doubling(frame: pd.DataFrame) -> pd.DataFrame:
    """GAP gained per doubling of the training shards (least squares on log2 n), per model
    and framework: how fast more data still helps at the right end of the curve."""
    rows = []
    for (framework, model), part in frame.groupby(["framework", "model"]):
        if part["train_shards"].nunique() < 2:
            continue
        slope = np.polyfit(np.log2(part["train_shards"]), part["gap"], 1)[0]
        rows.append({"framework": framework, "model": model, "gap_per_doubling": float(slope)})
    return pd.DataFrame(rows, columns=["framework", "model", "gap_per_doubling"])
