"""The figure style, one ``save_fig``, and the figures the model chapters (03-05) draw.

Keras and PyTorch keep the same colour in every figure (``FRAMEWORK_COLORS``; from the
colour-blind-safe seaborn palette), and models keep the same order (``MODEL_ORDER``).
``save_fig`` writes ``figures/NAME.png`` (300 dpi) and ``figures/NAME.pdf`` through
``fig.savefig`` only, so it works under any matplotlib backend (Agg in tests and papermill).

The figures that chapters 03 and 04 (one per framework) and 05 (the two side by side) draw
are functions here, so a chapter cell is its prose, a call and ``save_fig``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from yt8m_lib import paths
from yt8m_lib.config import FRAMEWORKS, MODEL_NAMES

# colour-blind-safe (seaborn "colorblind" blue and orange), fixed for the whole thesis
FRAMEWORK_COLORS = {"keras": "#0173B2", "torch": "#DE8F05"}
FRAMEWORK_LABELS = {"keras": "Keras", "torch": "PyTorch"}
FRAMEWORK_ORDER = list(FRAMEWORKS)
MODEL_ORDER = list(MODEL_NAMES)
DPI = 300


def set_style(context: str = "notebook") -> None:
    """seaborn whitegrid theme, colour-blind palette starting with the two framework colours."""
    framework_colors = [FRAMEWORK_COLORS["keras"], FRAMEWORK_COLORS["torch"]]
    # seaborn writes hex in lower case: compare so, or its blue comes back as a third colour
    taken = {c.lower() for c in framework_colors}
    palette = framework_colors + [
        c for c in sns.color_palette("colorblind").as_hex() if c.lower() not in taken
    ]
    sns.set_theme(
        context=context,
        style="whitegrid",
        palette=palette,
        rc={"figure.dpi": 100, "savefig.dpi": DPI, "axes.titleweight": "bold"},
    )


def save_fig(fig, name: str, folder=None, formats=("png", "pdf")) -> list[Path]:
    """Write ``folder/NAME.png`` (300 dpi) and ``folder/NAME.pdf``; folder defaults to
    ``yt8m_lib.paths.figures_dir()``.  The PDF carries no creation date, so rebuilding an
    unchanged figure gives the same file."""
    folder = Path(folder) if folder is not None else paths.figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata=metadata)
        written.append(path)
    return written


# --------------------------------------------------------------------------- chapter figures
# The figures of the model chapters (03 Keras, 04 PyTorch: one set of functions for both) and
# of the comparison (05). Each takes the frames the chapter already holds (run records turned
# into tables by yt8m_lib's run tables) and returns the figure; the chapter saves it with
# save_fig. Titles come from the chapter, so the figure says what the chapter says.


def training_curves(history, models, title):
    """Training loss, validation loss and validation GAP per epoch, one line per model (the
    mean over seeds; the band is the range over seeds).  ``history``: one row per (run, epoch)
    with columns epoch, model, train_loss, val_loss, val_gap."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharex=True)
    for ax, column, name in zip(
        axes,
        ("train_loss", "val_loss", "val_gap"),
        ("training loss", "validation loss", "validation GAP@20"),
    ):
        sns.lineplot(
            data=history,
            x="epoch",
            y=column,
            hue="model",
            hue_order=models,
            errorbar=("pi", 100),
            ax=ax,
            legend=ax is axes[-1],
        )
        ax.set(title=name, ylabel="")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(title)
    return fig


def metric_bars(table, columns, names, title):
    """One panel per metric: a bar per model, mean ± std over seeds, on 0-1.  ``table``: the
    mean ± std table of one framework's runs (index framework, model; columns (metric, "mean")
    and (metric, "std")); ``names``: metric column -> panel title."""
    fig, axes = plt.subplots(1, len(columns), figsize=(3.0 * len(columns), 3.6), sharey=False)
    for ax, column in zip(np.atleast_1d(axes), columns):
        means = table[(column, "mean")].droplevel("framework")
        stds = table[(column, "std")].droplevel("framework").fillna(0)
        ax.bar(
            range(len(means)),
            means.values,
            yerr=stds.values,
            capsize=3,
            color=[f"C{i}" for i in range(len(means))],
        )
        ax.set_xticks(range(len(means)), means.index, rotation=45, ha="right")
        ax.set(title=names[column], ylim=(0, 1))
    fig.suptitle(title)
    return fig


def genre_confusion(confusion, title):
    """Heatmap of a genre confusion matrix (true genre x predicted genre, counts), each row
    normalised to 1; genres with no true video are left out and the row labels carry each
    row's count."""
    confusion = confusion.loc[confusion.sum(axis=1) > 0]
    rates = confusion.div(confusion.sum(axis=1), axis=0)
    rates.index = [f"{g} ({n})" for g, n in zip(rates.index, confusion.sum(axis=1))]
    size = 0.32 * len(rates.columns) + 2.5
    fig, ax = plt.subplots(figsize=(size + 1.5, 0.32 * len(rates) + 2.0))
    sns.heatmap(
        rates,
        vmin=0,
        vmax=1,
        cmap="viridis",
        ax=ax,
        cbar_kws={"shrink": 0.7},
        xticklabels=True,
        yticklabels=True,
    )
    ax.set(title=title, xlabel="predicted genre", ylabel="true (majority) genre")
    return fig


def class_kinds(kinds, models, title):
    """Mean AP@20 per model over the classes of each kind (rgb, audio, temporal: where the
    synthetic data puts a class's evidence), ± std over seeds.  ``kinds``: one row per
    (run, class kind) with columns model, class_kind, mean_ap."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    sns.barplot(
        data=kinds,
        x="model",
        y="mean_ap",
        hue="class_kind",
        order=models,
        hue_order=["rgb", "audio", "temporal"],
        errorbar="sd",
        ax=ax,
    )
    ax.set(ylabel="mean AP@20 over the classes of a kind", xlabel="", title=title)
    ax.legend(title="evidence in", bbox_to_anchor=(1.01, 1), loc="upper left")
    return fig


def framework_bars(runs, columns, names, models, figsize=None, legend_on=-1, title=None):
    """One panel per column of ``runs`` (one row per run): a bar per model and framework in the
    framework colours, mean ± std over seeds.  ``names``: column -> panel title;
    ``figsize`` defaults to 3.3 wide per panel; ``legend_on``: the index of the panel that
    carries the legend."""
    figsize = (3.3 * len(columns), 3.8) if figsize is None else figsize
    fig, axes = plt.subplots(1, len(columns), figsize=figsize)
    axes = np.atleast_1d(axes)
    for ax, column in zip(axes, columns):
        sns.barplot(
            data=runs,
            x="model",
            y=column,
            hue="framework",
            order=models,
            hue_order=["keras", "torch"],
            palette=FRAMEWORK_COLORS,
            errorbar="sd",
            capsize=0.15,
            ax=ax,
            legend=ax is axes[legend_on],
        )
        ax.set(title=names[column], xlabel="", ylabel="")
        ax.tick_params(axis="x", rotation=60)
    if title is not None:
        fig.suptitle(title)
    return fig


def hardware_over_time(samples, models, title):
    """Process CPU (top row) and resident memory (bottom row) over training time, one column
    per model, one line per framework.  ``samples``: the hardware monitor's samples, one row
    per sample with columns model, framework, t_s, cpu_percent, rss_mb."""
    fig, axes = plt.subplots(
        2, len(models), figsize=(2.6 * len(models), 5.2), sharey="row", squeeze=False
    )
    for col, model in enumerate(models):
        for framework in ("keras", "torch"):
            part = samples[(samples.model == model) & (samples.framework == framework)]
            if part.empty:
                continue
            color = FRAMEWORK_COLORS[framework]
            axes[0, col].plot(part.t_s, part.cpu_percent, color=color, label=framework)
            axes[1, col].plot(part.t_s, part.rss_mb, color=color, label=framework)
        axes[0, col].set_title(model)
        axes[1, col].set_xlabel("training time (s)")
    axes[0, 0].set_ylabel("process CPU (%)")
    axes[1, 0].set_ylabel("resident memory (MB)")
    axes[0, -1].legend(frameon=False)
    fig.suptitle(title)
    return fig


def step_time_bars(times, models, hue, title):
    """Milliseconds per batch of the model alone, one panel per task (training step,
    inference), a bar per model and ``hue`` (e.g. framework / device), log scale.  ``times``:
    one row per (model, task, hue) with column ms."""
    grid = sns.catplot(
        data=times,
        x="model",
        y="ms",
        hue=hue,
        col="task",
        kind="bar",
        order=[m for m in models if m in set(times.model)],
        height=3.4,
        aspect=1.5,
        sharey=False,
    )
    grid.set(yscale="log", ylabel="ms per batch")
    grid.set_titles("{col_name}")
    grid.set_xticklabels(rotation=30)
    grid.figure.suptitle(title, y=1.03)
    return grid.figure
