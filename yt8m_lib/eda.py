"""Chapter 01's numbers and figures: the labels, genres and features of one split of a dataset,
real or synthetic.

Notebook 01 calls these functions: the ``*_table`` / statistics functions return numbers or
pandas frames, each ``plot_*`` returns a figure that the notebook saves with
``plots.save_fig``. Every figure carries a caption line (``describe_data``: real or synthetic,
split, videos, classes) so that it stands alone outside the notebook.

Definitions, over the N videos of one split with (N, C) 0/1 labels ``y``:

* **genre shares** (``genre_shares``), three partitions that each sum to 1:
  by *videos*: the share of labelled videos whose majority genre (the genre holding most of
  their labels) is g, each video counted once (a tie split equally); by *labels*: the share
  of all (video, label) pairs whose class is of genre g, a video counted once per label; by
  *classes*: the share of the vocabulary's classes. Plus ``P(g)``, the fraction of the N
  videos with at least one label of genre g (not a partition: a video can have several
  genres).
* **genre lift** (``genre_lift``): lift(g, h) = P(g and h) / (P(g) P(h)), probabilities over
  the N videos. 1: g and h label the same videos as often as if they were independent; above
  1: more often than chance; 0: never together. The diagonal is 1 / P(g) (a genre is always
  "together" with itself): it carries no information and the heatmap masks it. NaN where a
  genre labels none of the videos.

Imports no framework.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from itertools import combinations
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors, ticker

from yt8m_lib.data import datasets, features

# pairs of genres (or classes) seen together in fewer videos than this are too noisy to rank
MIN_PAIR_VIDEOS = 30
# colours of the figures here: the palette after the two framework colours (plots.set_style
# gives C0 to Keras and C1 to PyTorch, and a figure that is not about frameworks avoids them)
COLOURS = [f"C{i}" for i in range(2, 10)]
STREAM_COLOURS = {"rgb": COLOURS[0], "audio": COLOURS[1]}
# the frame-level shards a reader can add to a folder of real video-level shards (the command
# experiments.FRAME_DOWNLOAD_HINT names for the frame models)
FRAME_DOWNLOAD = (
    "yt8m download --partition 2/frame/train --fraction 1/1000 --out {folder}/frame_train"
)


# --------------------------------------------------------------------------- the data


def describe_data(
    manifest, num_videos: int, num_classes: int, split: str = "train", label: str = "Data"
) -> str:
    """One line naming the data a figure shows: real or synthetic, split, videos, classes
    (``manifest``: the synthetic manifest, None for real data)."""
    if manifest is not None:
        source = (
            f"synthetic YouTube-8M ({manifest.get('profile', '?')} profile, "
            f"seed {manifest.get('seed', '?')})"
        )
    else:
        source = "real YouTube-8M (2018 release, video level)"
    return f"{label}: {source}, {split} split: {num_videos:,} videos, {num_classes:,} classes."


def split_summary(data_dir) -> str | None:
    """The shard split of a real data folder (its ``split.json``) in one line, or None."""
    path = Path(data_dir) / "split.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    parts = [
        f"{name} {split['num_shards']} shards / {split['num_videos']:,} videos"
        for name, split in manifest.get("splits", {}).items()
    ]
    return f"split by shard ({path.name}, seed {manifest.get('seed')}): " + ", ".join(parts)


def frame_shards(data_dir) -> list[Path]:
    """The frame-level shards to explore: the train split's, or every frame-level shard when
    the folder's files cannot be divided into splits; [] when there are none."""
    data_dir = Path(data_dir)
    try:
        found = datasets.split_files(data_dir, "frame")
    except ValueError:  # one split of fewer than 3 files: explore them all the same
        return sorted((data_dir / "frame").glob("*.tfrecord")) + sorted(
            data_dir.glob("frame_*/*.tfrecord")
        )
    return found.get("train") or next(iter(found.values()), [])


def frame_download_hint(data_dir) -> str:
    """The one line a notebook prints when a folder has no frame-level shards."""
    command = FRAME_DOWNLOAD.format(folder=Path(data_dir))
    return f"no frame-level shards in {data_dir}: frame sections skipped (to add some: {command})"


def vocabulary_train_counts(data_dir) -> np.ndarray | None:
    """(C,) ``TrainVideoCount`` of the dataset's vocabulary.csv by class index, or None."""
    path = datasets.vocabulary_path(data_dir)
    if path is None:
        return None
    table = pd.read_csv(path, usecols=lambda c: c in ("Index", "TrainVideoCount"))
    if "TrainVideoCount" not in table:
        return None
    counts = pd.to_numeric(table["TrainVideoCount"], errors="coerce")
    if counts.isna().any():
        return None
    return counts.to_numpy(np.int64)[np.argsort(table["Index"].to_numpy())]


def add_caption(fig, text: str) -> None:
    """Write ``text`` as a small caption line (wrapped) under everything the figure holds.
    It is the figure's caption for ``plots.save_fig`` too (``fig._yt8m_caption``), which then
    adds no second one."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width_chars = max(40, int(box.width * 14))
    fig._yt8m_caption = fig.text(
        box.x0 / fig.get_figwidth(),
        (box.y0 - 0.08) / fig.get_figheight(),
        textwrap.fill(text, width_chars),
        ha="left",
        va="top",
        fontsize=9,
        color="0.25",
    )


# --------------------------------------------------------------------------- labels


def class_name(vocab, index: int) -> str:
    """A class's ``Name``, or ``"(class N, no name)"``: the real vocabulary leaves some names
    empty."""
    name = vocab.names[index].strip()
    return name or f"(class {index}, no name)"


def class_counts(y) -> np.ndarray:
    """(C,) int64: videos carrying each class."""
    return np.count_nonzero(np.asarray(y), axis=0).astype(np.int64)


def head_classes(y, vocab, n: int = 15) -> pd.DataFrame:
    """The ``n`` most frequent classes by name: genre, videos and share of the videos."""
    counts = class_counts(y)
    top = np.argsort(-counts, kind="stable")[:n]
    return pd.DataFrame(
        {
            "class": [class_name(vocab, c) for c in top],
            "genre": [vocab.genre_of(c) for c in top],
            "videos": counts[top],
            "share of videos": counts[top] / max(1, len(y)),
        },
        index=pd.Index(top, name="index"),
    )


def label_summary(y) -> dict:
    """The numbers of the long tail: videos, labels, classes seen, head share, tail size."""
    y = np.asarray(y)
    counts = class_counts(y)
    ranked = np.sort(counts)[::-1]
    per_video = y.sum(axis=1)
    total = max(1, int(ranked.sum()))
    return {
        "videos": int(y.shape[0]),
        "labels": int(ranked.sum()),
        "classes": int(y.shape[1]),
        "classes_unseen": int((counts == 0).sum()),
        "classes_under_10_videos": int(((counts > 0) & (counts < 10)).sum()),
        "top_10pct_share": float(ranked[: max(1, len(ranked) // 10)].sum() / total),
        "max_class_videos": int(ranked[0]),
        "median_class_videos": float(np.median(ranked)),
        "labels_per_video_mean": float(per_video.mean()) if len(per_video) else float("nan"),
        "labels_per_video_median": float(np.median(per_video)) if len(per_video) else float("nan"),
        "labels_per_video_max": int(per_video.max()) if len(per_video) else 0,
        "videos_without_labels": int((per_video == 0).sum()),
    }


def plot_label_frequency(y, vocab, caption: str, head: int = 20, reference=None):
    """Three panels: the ``head`` most frequent classes by name (coloured by genre), videos
    per class by rank (log-log; ``reference``: the vocabulary's ``TrainVideoCount`` scaled to
    this split's number of labels, for comparison), and the cumulative share of labels."""
    counts = class_counts(y)
    order = np.argsort(-counts, kind="stable")
    ranked = counts[order]
    num_classes = len(counts)
    fig, ax = plt.subplots(
        1, 3, figsize=(16, 0.22 * head + 2.2), gridspec_kw={"width_ratios": [1.2, 1, 1]}
    )
    top = order[:head]
    top_genres = list(dict.fromkeys(vocab.genre_of(c) for c in top))
    colour = {g: COLOURS[i % len(COLOURS)] for i, g in enumerate(top_genres)}
    ax[0].barh(
        np.arange(len(top))[::-1],
        counts[top],
        color=[colour[vocab.genre_of(c)] for c in top],
        height=0.8,
    )
    ax[0].set_yticks(np.arange(len(top))[::-1], [class_name(vocab, c) for c in top], fontsize=9)
    ax[0].set(xlabel="videos with the label", title=f"The {len(top)} most frequent classes")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[g]) for g in top_genres]
    ax[0].legend(
        handles, top_genres, title="genre", fontsize=8, title_fontsize=8, loc="lower right"
    )
    seen = ranked > 0
    ranks = np.arange(1, num_classes + 1)
    unseen = int((~seen).sum())
    ax[1].loglog(
        ranks[seen],
        ranked[seen],
        ".",
        ms=3,
        color=COLOURS[0],
        label=f"this split ({unseen:,} {'class' if unseen == 1 else 'classes'} unseen)"
        if unseen
        else "this split",
    )
    if reference is not None and ranked.sum() > 0:
        ref = np.sort(np.asarray(reference, dtype=np.float64))[::-1]
        ax[1].loglog(
            np.arange(1, len(ref) + 1),
            ref * ranked.sum() / ref.sum(),
            "-",
            lw=1.2,
            color="0.3",
            label="vocabulary TrainVideoCount\n(scaled to this split's labels)",
        )
    ax[1].legend(fontsize=8, loc="lower left")
    ax[1].set(
        xlabel="class rank",
        ylabel="videos with the label",
        title="Label frequency (log-log)",
    )
    ax[2].plot(ranks / num_classes, np.cumsum(ranked) / max(1, ranked.sum()), color=COLOURS[0])
    ax[2].set(
        xlabel="share of classes (most frequent first)",
        ylabel="share of all labels",
        title="Cumulative label share",
    )
    fig.tight_layout()
    add_caption(fig, caption)
    return fig


def plot_labels_per_video(y, caption: str):
    """Histogram of the number of labels per video."""
    per_video = np.asarray(y).sum(axis=1)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bins = np.arange(-0.5, per_video.max() + 1.5)
    ax.hist(per_video, bins=bins, rwidth=0.85, color=COLOURS[0])
    ax.set(xlabel="labels per video", ylabel="videos", title="Labels per video")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    fig.tight_layout()
    add_caption(fig, caption)
    return fig


def top_class_pairs(y, vocab, n: int = 10) -> pd.DataFrame:
    """The ``n`` class pairs that most often label the same video: their names, their
    genre(s) ("a / b" when they differ), the videos together and the lift (videos together x
    N / (videos of a x videos of b))."""
    y = np.asarray(y)
    together = Counter()
    for row in y:
        together.update(combinations(np.flatnonzero(row).tolist(), 2))
    counts = class_counts(y)
    rows = []
    for (a, b), k in together.most_common(n):
        genre_a, genre_b = vocab.genre_of(a), vocab.genre_of(b)
        rows.append(
            {
                "class a": class_name(vocab, a),
                "class b": class_name(vocab, b),
                "genre": genre_a if genre_a == genre_b else f"{genre_a} / {genre_b}",
                "videos": k,
                "lift": k * len(y) / (counts[a] * counts[b]),
            }
        )
    return pd.DataFrame(rows, columns=["class a", "class b", "genre", "videos", "lift"])


# --------------------------------------------------------------------------- genres


def genre_label_counts(y, vocab) -> np.ndarray:
    """(N, G) int: each video's labels per genre (genre order of ``vocab``)."""
    order, starts = vocab.classes_by_genre()
    return np.add.reduceat((np.asarray(y)[:, order] == 1).astype(np.int32), starts, axis=1)


def majority_ties(y, vocab) -> float:
    """The fraction of labelled videos whose labels are split equally between two or more top
    genres (``genres.majority_genre`` gives such a video the lowest genre index)."""
    counts = genre_label_counts(y, vocab)
    top = counts.max(axis=1)
    labelled = top > 0
    tied = ((counts == top[:, None]) & labelled[:, None]).sum(axis=1) > 1
    return float(tied.sum() / max(1, labelled.sum()))


def single_genre_share(y, vocab) -> float:
    """The fraction of labelled videos whose labels all belong to one genre."""
    genres_per_video = (genre_label_counts(y, vocab) > 0).sum(axis=1)
    return float((genres_per_video == 1).sum() / max(1, (genres_per_video > 0).sum()))


def genre_rule_ceilings(y, vocab, k: int = 3) -> pd.DataFrame:
    """What each genre rule of ``evaluation.genres`` can reach on these videos, one row per
    (predictor, rule): a **perfect class predictor** (score 1 on a video's labels, 0
    elsewhere: the ceiling of a rule, since it knows every label) and the two constant
    baselines, the most frequent majority genre and the label prior (frequencies taken from
    these same videos, so optimistic). Columns: ``strict_accuracy`` (the predicted genre is
    the majority genre), ``lenient_accuracy`` (it is one of the video's genres),
    ``macro_f1``, the ``genre`` a constant predictor answers, and ``num_labelled``.

    A perfect predictor is always lenient-correct, but under ``max`` every genre of a video
    scores 1 and the tie goes to the lowest genre index, so its strict accuracy falls below 1
    on multi-genre videos; ``sum`` counts labels and finds the majority genre."""
    from yt8m_lib.evaluation import genres

    y = np.asarray(y)
    rows = []
    for rule in genres.GENRE_RULES:
        report = genres.genre_report(y.astype(np.float32), y, vocab, rule, k=k)
        base = report["baselines"]
        for predictor, part in (
            ("perfect class predictor", report),
            ("most frequent genre", base["most_frequent_genre"]),
            ("label prior", base["label_prior"]),
        ):
            rows.append(
                {
                    "predictor": predictor,
                    "rule": rule,
                    "genre": part.get("genre", ""),
                    "strict_accuracy": part["strict_accuracy"],
                    "lenient_accuracy": part["lenient_accuracy"],
                    "macro_f1": part["macro"]["f1"],
                    "num_labelled": report["num_labelled"],
                }
            )
    frame = pd.DataFrame(rows)
    # the most frequent genre answers the same genre under every rule: keep one row of it
    constant = frame.predictor == "most frequent genre"
    frame.loc[constant, "rule"] = "any"
    return frame.drop_duplicates(["predictor", "rule"]).reset_index(drop=True)


def genre_shares(y, vocab) -> pd.DataFrame:
    """Per genre (rows, most videos first) the shares, each column summing to 1:

    * ``videos``: each labelled video counts once, for its majority genre (the genre holding
      most of its labels); a tie splits the video equally between the tied genres (unlike
      ``genres.majority_genre``, which gives it to the lowest genre index: that would favour
      the genres early in the alphabet);
    * ``labels``: each (video, label) pair counts once;
    * ``classes``: the vocabulary's classes;

    then ``P(g)``, the fraction of all videos with a label of the genre (not a partition),
    ``labels_per_video``, the mean number of labels (of any genre) of the videos of that
    majority genre (NaN without such videos), and the counts behind the shares
    (``num_videos`` may hold halves and thirds of ties)."""
    y = np.asarray(y)
    counts = genre_label_counts(y, vocab)
    top = counts.max(axis=1, keepdims=True)
    majority = ((counts == top) & (top > 0)).astype(np.float64)
    majority /= np.maximum(1.0, majority.sum(axis=1, keepdims=True))
    num_videos = majority.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        labels_per_video = (majority * counts.sum(axis=1, keepdims=True)).sum(axis=0) / num_videos
    num_labels = counts.sum(axis=0).astype(np.int64)
    num_classes = np.bincount(vocab.class_genre, minlength=vocab.num_genres)
    frame = pd.DataFrame(
        {
            "videos": num_videos / max(1.0, num_videos.sum()),
            "labels": num_labels / max(1, num_labels.sum()),
            "classes": num_classes / num_classes.sum(),
            "P(g)": (counts > 0).mean(axis=0) if len(y) else np.zeros(vocab.num_genres),
            "labels_per_video": labels_per_video,
            "num_videos": num_videos,
            "num_labels": num_labels,
            "num_classes": num_classes,
        },
        index=pd.Index(vocab.genre_names, name="genre"),
    )
    return frame.sort_values(["videos", "labels"], ascending=False, kind="stable")


def plot_genre_shares(shares: pd.DataFrame, caption: str):
    """Two bars per genre, share of videos (majority genre) and share of labels, with the
    genre's share of the vocabulary's classes as a marker; ``shares`` from ``genre_shares``."""
    shares = shares.iloc[::-1]  # the largest at the top
    position = np.arange(len(shares))
    fig, ax = plt.subplots(figsize=(8.5, 0.3 * len(shares) + 1.6))
    ax.barh(
        position + 0.2,
        shares["videos"],
        height=0.4,
        color=COLOURS[0],
        label="videos (majority genre; ties split)",
    )
    ax.barh(position - 0.2, shares["labels"], height=0.4, color=COLOURS[1], label="labels")
    ax.plot(
        shares["classes"], position, "|", color="0.15", ms=10, mew=2, label="classes (vocabulary)"
    )
    ax.set_yticks(position, shares.index)
    ax.set_ylim(-0.7, len(shares) - 0.3)
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=0))
    ax.set(xlabel="share", title="Genres: share of videos vs share of labels")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    fig.tight_layout()
    add_caption(fig, caption)
    return fig


def genre_cooccurrence(y, vocab) -> pd.DataFrame:
    """(G, G) videos that carry a label of genre g and one of genre h (diagonal: of g)."""
    has = (genre_label_counts(y, vocab) > 0).astype(np.int64)
    names = pd.Index(vocab.genre_names, name="genre")
    return pd.DataFrame(has.T @ has, index=names, columns=names)


def genre_lift(y, vocab) -> pd.DataFrame:
    """(G, G) lift P(g and h) / (P(g) P(h)) over the videos of ``y`` (see the module text):
    1 for independent genres, 1/P(g) on the diagonal, NaN for a genre that labels no video."""
    together = genre_cooccurrence(y, vocab)
    n = np.diag(together.to_numpy()).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = together.to_numpy() * float(len(y)) / np.outer(n, n)
    lift[(n == 0)[:, None] | (n == 0)[None, :]] = np.nan
    return pd.DataFrame(lift, index=together.index, columns=together.columns)


def lift_pairs(y, vocab, min_videos: int = MIN_PAIR_VIDEOS) -> pd.DataFrame:
    """The pairs of different genres seen together in at least ``min_videos`` videos, highest
    lift first: videos together, the number expected if independent, and the lift."""
    together = genre_cooccurrence(y, vocab)
    lift = genre_lift(y, vocab)
    counts = together.to_numpy()
    n = np.diag(counts)
    rows = []
    for g, h in combinations(range(len(n)), 2):
        if counts[g, h] >= min_videos:
            rows.append(
                {
                    "genre a": together.index[g],
                    "genre b": together.index[h],
                    "videos": int(counts[g, h]),
                    "expected": n[g] * n[h] / max(1, len(y)),
                    "lift": float(lift.iat[g, h]),
                }
            )
    frame = pd.DataFrame(rows, columns=["genre a", "genre b", "videos", "expected", "lift"])
    return frame.sort_values("lift", ascending=False, kind="stable").reset_index(drop=True)


def _lift_text(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.2f}" if value < 1 else (f"{value:.1f}" if value < 10 else f"{value:.0f}")


def plot_genre_lift(
    lift: pd.DataFrame,
    caption: str,
    top: int = 12,
    together: pd.DataFrame | None = None,
    min_videos: int = MIN_PAIR_VIDEOS,
):
    """Heatmap of the lift of the ``top`` most frequent genres (most frequent first: the
    smallest diagonal 1/P(g)), on a log colour scale centred at 1, diagonal masked, every cell
    annotated; with ``together`` (``genre_cooccurrence``), cells of fewer than ``min_videos``
    videos together are annotated in grey (a noisy lift)."""
    diagonal = pd.Series(np.diag(lift.to_numpy()), index=lift.index)
    order = diagonal[np.isfinite(diagonal)].sort_values(kind="stable").index[:top]
    shown = lift.loc[order, order].to_numpy(dtype=np.float64)
    off = ~np.eye(len(order), dtype=bool)
    counts = together.loc[order, order].to_numpy() if together is not None else None
    # the colour range: symmetric around 1 in log, set by the cells with enough videos (a
    # noisy cell beyond it is drawn in the end colour and annotated with its value)
    reliable = off & np.isfinite(shown) & (shown > 0)
    if counts is not None:
        reliable &= counts >= min_videos
    positive = shown[reliable]
    spread = float(np.max(np.maximum(positive, 1 / positive))) if positive.size else 2.0
    vmax = float(2 ** np.ceil(np.log2(max(spread, 4.0))))
    norm = colors.LogNorm(vmin=1 / vmax, vmax=vmax)
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.92")
    masked = np.ma.masked_where(~off | ~np.isfinite(shown), np.clip(shown, 1 / vmax, vmax))
    size = 0.55 * len(order) + 2.5
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(masked, cmap=cmap, norm=norm, interpolation="nearest")
    ax.grid(False)
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(order)), order)
    ax.tick_params(length=0)
    for i in range(len(order)):
        for j in range(len(order)):
            value = shown[i, j]
            if i == j or not np.isfinite(value):
                continue
            dark = abs(np.log(max(value, 1 / vmax))) > 0.55 * np.log(vmax)
            noisy = counts is not None and counts[i, j] < min_videos
            ax.text(
                j,
                i,
                _lift_text(value),
                ha="center",
                va="center",
                fontsize=7.5,
                color="0.6" if noisy else ("white" if dark else "black"),
                fontstyle="italic" if noisy else "normal",
            )
    bar = fig.colorbar(image, ax=ax, shrink=0.75, pad=0.02)
    ticks = [2.0**k for k in range(-int(np.log2(vmax)), int(np.log2(vmax)) + 1)]
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"{t:g}" if t >= 1 else f"1/{1 / t:g}" for t in ticks])
    bar.minorticks_off()
    bar.set_label("lift = P(g and h) / (P(g) P(h))   (1 = independent)")
    ax.set_title("Genre co-occurrence: lift over videos")
    fig.tight_layout()
    note = "Diagonal masked (lift of a genre with itself = 1/P(g)). "
    if counts is not None:
        note += f"Grey italic: fewer than {min_videos} videos together. "
    add_caption(fig, note + caption)
    return fig


# --------------------------------------------------------------------------- features


def stream_statistics(mean_rgb, mean_audio) -> pd.DataFrame:
    """Per stream (rows rgb, audio): dimensions, the mean value, the spread of the
    per-dimension means, the std over videos of one dimension (mean, min, max over the
    dimensions), the value range and the median L2 norm per video."""
    rows = {}
    for name, x in (("rgb", np.asarray(mean_rgb)), ("audio", np.asarray(mean_audio))):
        std = x.std(axis=0)
        rows[name] = {
            "dimensions": x.shape[1],
            "mean value": float(x.mean()),
            "std of the per-dimension means": float(x.mean(axis=0).std()),
            "std over videos (mean per dim.)": float(std.mean()),
            "std over videos (min dim.)": float(std.min()),
            "std over videos (max dim.)": float(std.max()),
            "min": float(x.min()),
            "max": float(x.max()),
            "L2 norm per video (median)": float(np.median(np.linalg.norm(x, axis=1))),
        }
    return pd.DataFrame(rows).T


def rgb_norm_share(mean_rgb, mean_audio) -> np.ndarray:
    """(N,) the share of the squared unit norm that rgb holds after ``features.l2_normalize``
    of concat(rgb, audio)."""
    norm_rgb, _ = features.l2_normalize(np.asarray(mean_rgb), np.asarray(mean_audio))
    return np.square(norm_rgb).sum(axis=1)


def plot_stream_statistics(mean_rgb, mean_audio, caption: str):
    """Four panels: per-dimension mean +- std over videos of rgb and of audio (dimension
    index = PCA component order), the L2 norm per video of each stream, and rgb's share of
    the squared norm after L2 normalisation of their concatenation."""
    fig, ax = plt.subplots(2, 2, figsize=(11, 7))
    for panel, name, x, color in (
        (ax[0, 0], "rgb", np.asarray(mean_rgb), STREAM_COLOURS["rgb"]),
        (ax[0, 1], "audio", np.asarray(mean_audio), STREAM_COLOURS["audio"]),
    ):
        mean, std = x.mean(axis=0), x.std(axis=0)
        dims = np.arange(x.shape[1])
        panel.fill_between(
            dims, mean - std, mean + std, color=color, alpha=0.3, lw=0, label="± std over videos"
        )
        panel.plot(dims, mean, color=color, lw=0.8, label="mean over videos")
        panel.set(
            xlabel=f"{name} dimension",
            ylabel="value",
            title=f"mean_{name}: per dimension ({x.shape[1]})",
        )
        panel.legend(loc="upper right", fontsize=8)
    norms = {
        "rgb": np.linalg.norm(mean_rgb, axis=1),
        "audio": np.linalg.norm(mean_audio, axis=1),
    }
    bins = np.linspace(0, max(v.max() for v in norms.values()) * 1.02, 60)
    for name, values in norms.items():
        ax[1, 0].hist(
            values, bins=bins, histtype="stepfilled", alpha=0.35, color=STREAM_COLOURS[name]
        )
        ax[1, 0].hist(values, bins=bins, histtype="step", color=STREAM_COLOURS[name], label=name)
    ax[1, 0].set(xlabel="L2 norm of the video-level mean", ylabel="videos", title="Norm per video")
    ax[1, 0].legend()
    share = rgb_norm_share(mean_rgb, mean_audio)
    ax[1, 1].hist(share, bins=40, histtype="stepfilled", color=COLOURS[2], alpha=0.8)
    ax[1, 1].axvline(
        1024 / 1152, color="0.2", ls="--", lw=1, label="1024/1152: if all values were equal"
    )
    ax[1, 1].set(
        xlabel="rgb share of the squared norm after L2 normalization",
        ylabel="videos",
        title="Stream balance of the model input",
    )
    ax[1, 1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    add_caption(fig, caption)
    return fig


def plot_feature_values(mean_rgb, caption: str, frame_rgb=None, mean_audio=None):
    """The stored feature values. With ``frame_rgb`` (quantized uint8 frames): the histogram
    of the stored bytes (a step line over the 256 values) and, on the same value axis, the
    dequantized frame values (one bin per byte) against the video-level means. Without
    (video-level data: no bytes are stored): one panel of the float values of the video-level
    means (rgb, and audio when given)."""
    edges = np.linspace(-2.0, 2.0 + 4 / 255, 121)
    if frame_rgb is None:
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        ax.hist(
            np.ravel(mean_rgb),
            bins=edges,
            density=True,
            histtype="stepfilled",
            alpha=0.35,
            color=STREAM_COLOURS["rgb"],
        )
        ax.hist(
            np.ravel(mean_rgb),
            bins=edges,
            density=True,
            histtype="step",
            color=STREAM_COLOURS["rgb"],
            label="mean_rgb",
        )
        if mean_audio is not None:
            ax.hist(
                np.ravel(mean_audio),
                bins=edges,
                density=True,
                histtype="step",
                color=STREAM_COLOURS["audio"],
                lw=1.5,
                label="mean_audio",
            )
        ax.set(
            xlabel="value (stored as float32)",
            ylabel="density",
            title="Video-level means: stored floats (no quantized bytes)",
        )
        ax.legend()
        fig.tight_layout()
        add_caption(fig, caption)
        return fig
    frame_rgb = np.asarray(frame_rgb, dtype=np.uint8)
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    per_byte = np.bincount(frame_rgb.ravel(), minlength=256)
    ax[0].stairs(per_byte, np.arange(257) - 0.5, fill=True, alpha=0.35, color=STREAM_COLOURS["rgb"])
    ax[0].stairs(per_byte, np.arange(257) - 0.5, color=STREAM_COLOURS["rgb"], lw=1)
    ax[0].set(
        xlim=(-3, 258),
        xlabel="stored byte (0-255)",
        ylabel="values",
        title=f"RGB frames: quantized bytes ({frame_rgb.shape[0]:,} frames)",
    )
    # one bin per byte: bin edges half a step either side of each dequantized value
    step = 4 / 255
    centres = features.dequantize(np.arange(256, dtype=np.uint8)).astype(np.float64)
    byte_edges = np.append(centres - step / 2, centres[-1] + step / 2)
    ax[1].stairs(
        per_byte / per_byte.sum() / step,
        byte_edges,
        color=STREAM_COLOURS["rgb"],
        lw=1,
        label="frames (dequantized)",
    )
    ax[1].hist(
        np.ravel(mean_rgb),
        bins=edges,
        density=True,
        histtype="step",
        color=COLOURS[3],
        lw=1.5,
        label="video means (mean_rgb)",
    )
    ax[1].set(xlabel="value", ylabel="density", title="RGB: dequantized values")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    add_caption(fig, caption)
    return fig


def plot_frames_per_video(num_frames, caption: str):
    """Histogram of the frames (seconds) per video."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.hist(num_frames, bins=30, color=COLOURS[0])
    ax.set(
        xlabel="frames (seconds) per video",
        ylabel="videos",
        title=f"Frames per video ({len(num_frames):,} videos)",
    )
    fig.tight_layout()
    add_caption(fig, caption)
    return fig


def plot_feature_engineering(
    mean_rgb, mean_audio, num_frames: int, k: int, seed: int, caption: str
):
    """Left: the norms of rgb and audio per video, raw and after L2 normalisation of their
    concatenation (on the unit circle), on log axes. Right: which ``k`` of a
    ``num_frames``-frame video each frame sampling mode picks
    (``features.sample_frame_indices``)."""
    norm_rgb, norm_audio = features.l2_normalize(np.asarray(mean_rgb), np.asarray(mean_audio))
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.5]})
    for rgb, audio, colour, label in (
        (mean_rgb, mean_audio, COLOURS[0], "raw"),
        (norm_rgb, norm_audio, COLOURS[1], "L2-normalized (on the unit circle)"),
    ):
        ax[0].scatter(
            np.linalg.norm(rgb, axis=1),
            np.linalg.norm(audio, axis=1),
            s=3,
            alpha=0.4,
            color=colour,
            lw=0,
            label=label,
        )
    angle = np.linspace(0.01, np.pi / 2 - 0.01, 200)
    ax[0].plot(np.cos(angle), np.sin(angle), color="0.3", lw=0.8, ls="--")
    ax[0].set(
        xscale="log",
        yscale="log",
        xlabel="norm of rgb",
        ylabel="norm of audio",
        title="Normalization (log axes)",
    )
    ax[0].set_aspect("equal", adjustable="datalim")
    ax[0].legend(loc="lower left", fontsize="small", markerscale=3)
    draw = features.frame_rng(seed, 0, "example-video")
    modes = ("uniform", "random", "all")
    for row, mode in enumerate(modes):
        picked = features.sample_frame_indices(num_frames, k, mode, draw)
        ax[1].plot(picked, np.full(len(picked), row), "|", ms=14, mew=2, color=COLOURS[2 + row])
    ax[1].set_yticks(range(len(modes)), modes)
    ax[1].set(
        xlim=(-2, num_frames + 2),
        ylim=(-0.6, len(modes) - 0.4),
        xlabel=f"frame (second) of a {num_frames}-frame video",
        title=f"Frame sampling: {k} of {num_frames} frames",
    )
    ax[1].grid(axis="y", visible=False)
    fig.tight_layout()
    add_caption(fig, caption)
    return fig
