"""Chapter 02's analyses of the denoising autoencoder: how much of the features' variance it
reconstructs, against PCA with the same code size, over a sweep of code sizes from
undercomplete (smaller than the input) to overcomplete (larger).

Both methods are fitted on the train split and judged on the validate split, video level,
by the *unexplained share*: the mean squared reconstruction error over the variance of the
values (the error of always predicting the mean). PCA is the best linear code of a given
size, so it is the bar a code must clear to be worth its nonlinearity; with as many
components as input values it reconstructs everything (share 0), so the overcomplete sizes
of PCA are drawn at the input size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yt8m_lib import experiments
from yt8m_lib.config import AUDIO_DIM, RGB_DIM, get_profile
from yt8m_lib.data import datasets

STREAM_DIMS = {"rgb": RGB_DIM, "audio": AUDIO_DIM}
# code size over input size: undercomplete (< 1) to overcomplete (> 1)
DEFAULT_CODE_SCALES = (0.125, 0.25, 0.5, 1.0, 2.0)


def video_features(data_dir, split: str) -> dict[str, np.ndarray]:
    """The video-level features of one split, per stream: (videos, dim) float32 arrays."""
    videos = datasets.read_split(datasets.split_files(data_dir, "video")[split], "video")
    return {
        "rgb": np.stack([video.mean_rgb for video in videos]),
        "audio": np.stack([video.mean_audio for video in videos]),
    }


def value_variance(values: np.ndarray) -> float:
    """Mean over the feature dimensions of each dimension's variance: the squared error of
    predicting every value by its dimension's mean."""
    return float(np.asarray(values, np.float64).var(axis=0).mean())


def pca_unexplained(train: np.ndarray, validate: np.ndarray, sizes) -> dict[int, float]:
    """Unexplained share of ``validate`` under PCA fitted on ``train`` (train mean, leading
    right singular vectors), for each number of components in ``sizes`` (more components
    than the data has are capped: the reconstruction is then exact up to rounding)."""
    train = np.asarray(train, np.float64)
    mean = train.mean(axis=0)
    _, _, components = np.linalg.svd(train - mean, full_matrices=False)
    centered = np.asarray(validate, np.float64) - mean
    variance = value_variance(validate)
    shares = {}
    for size in sizes:
        basis = components[: min(int(size), len(components))]
        residual = centered - (centered @ basis.T) @ basis
        shares[int(size)] = float(np.square(residual).mean() / variance)
    return shares


def code_sizes(scales, dims: dict[str, int] = STREAM_DIMS) -> list[tuple[int, int]]:
    """(rgb, audio) code sizes at each scale of the input sizes."""
    return [(max(1, round(dims["rgb"] * s)), max(1, round(dims["audio"] * s))) for s in scales]


def kept_epoch(record: dict) -> dict:
    """The history entry of the epoch whose weights a run kept (the trainer's
    ``best_epoch``: for an autoencoder, the lowest validation loss)."""
    return record["history"][record["best_epoch"] - 1]


def code_size_sweep(
    framework: str,
    data_dir,
    *,
    profile: str,
    seed: int = 0,
    scales=DEFAULT_CODE_SCALES,
    verbose: bool = True,
) -> pd.DataFrame:
    """One video-level autoencoder per code size (trained once, reused from the results
    folder), each against PCA of the same size. One row per stream, size and method:
    ``stream``, ``input_dim``, ``code_size``, ``code_ratio`` (code / input), ``method``,
    ``unexplained_share``, ``explained_share`` and, for the autoencoder, ``best_epoch`` and
    ``epochs_trained`` and ``stopped_early`` (whether it converged or ran out of epochs)."""
    train = video_features(data_dir, "train")
    validate = video_features(data_dir, "validate")
    model = get_profile(profile).model
    profile_sizes = (model.ae_rgb_code, model.ae_audio_code)
    sizes = code_sizes(scales)
    variances = {stream: value_variance(validate[stream]) for stream in STREAM_DIMS}
    pca = {
        stream: pca_unexplained(train[stream], validate[stream], [s[i] for s in sizes])
        for i, stream in enumerate(STREAM_DIMS)
    }
    rows = []
    for rgb_code, audio_code in sizes:
        # the profile's own size is the chapter's autoencoder: reuse it, not a twin run
        override = None if (rgb_code, audio_code) == profile_sizes else (rgb_code, audio_code)
        run_dir = experiments.ensure_autoencoder(
            framework, "video", profile=profile, data_dir=data_dir, seed=seed,
            code_sizes=override, verbose=verbose,
        )  # fmt: skip
        record = experiments.load_run_record(run_dir)
        kept = kept_epoch(record)
        for stream, code in (("rgb", rgb_code), ("audio", audio_code)):
            base = {
                "stream": stream,
                "input_dim": STREAM_DIMS[stream],
                "code_size": code,
                "code_ratio": code / STREAM_DIMS[stream],
            }
            ae_share = kept[f"val_{stream}_mse"] / variances[stream]
            rows.append(
                base
                | {
                    "method": "autoencoder",
                    "unexplained_share": ae_share,
                    "best_epoch": kept["epoch"],
                    "epochs_trained": record.get("epochs_trained", len(record["history"])),
                    "stopped_early": record.get("stopped_early") is not None,
                }
            )
            rows.append(base | {"method": "pca", "unexplained_share": pca[stream][code]})
    frame = pd.DataFrame(rows)
    frame["explained_share"] = 1.0 - frame["unexplained_share"]
    return frame


def sweep_sentences(sweep: pd.DataFrame) -> list[str]:
    """The chapter's reading of the sweep, one line per stream: where the autoencoder stands
    against PCA below, at and above the input size."""
    lines = []
    for stream, part in sweep.groupby("stream", sort=False):
        wide = part.pivot(index="code_size", columns="method", values="explained_share")
        under = wide[wide.index < STREAM_DIMS[stream]]
        ahead = under[under["autoencoder"] > under["pca"]].index.tolist()
        largest = wide.index.max()
        lines.append(
            f"- {stream} ({STREAM_DIMS[stream]} values): undercomplete, the autoencoder "
            f"explains more variance than PCA at {len(ahead)} of {len(under)} sizes"
            + (f" ({', '.join(str(s) for s in ahead)})" if ahead else "")
            + f"; at {largest} units it explains {wide.loc[largest, 'autoencoder']:.1%} "
            f"(PCA with every component: {wide.loc[largest, 'pca']:.1%})."
        )
    # one autoencoder per scale (both streams' codes): count runs, not stream rows
    trained = sweep[sweep["method"] == "autoencoder"].drop_duplicates("code_ratio")
    # stopped by the convergence rule, or still improving when the epochs ran out
    converged = trained["stopped_early"].astype(bool)
    still_learning = trained[~converged & (trained["best_epoch"] >= trained["epochs_trained"])]
    if converged.all():
        low, high = trained["epochs_trained"].astype(int).agg(["min", "max"])
        span = f"{low}" if low == high else f"{low} to {high}"
        lines.append(
            f"- All {len(trained)} autoencoders converged: each stopped when its validate loss "
            f"stopped falling (after {span} epochs)."
        )
    if len(still_learning):
        lines.append(
            f"- At {len(still_learning)} of {len(trained)} code sizes the autoencoder's best "
            f"validate epoch was its last ({int(trained['epochs_trained'].max())}): it had not "
            "converged, so its points are upper bounds on the error it can reach."
        )
    return lines
