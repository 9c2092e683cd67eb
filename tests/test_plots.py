"""The figure style: distinct colours, and save_fig's PNG (300 dpi) + PDF pair."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from yt8m_lib import plots  # noqa: E402


def test_palette_starts_with_the_framework_colours_and_repeats_none():
    plots.set_style()
    palette = [c.lower() for c in sns.color_palette().as_hex()]
    assert palette[:2] == [
        plots.FRAMEWORK_COLORS["keras"].lower(),
        plots.FRAMEWORK_COLORS["torch"].lower(),
    ]
    assert len(set(palette)) == len(palette)  # a third hue level never reuses keras' blue


def test_save_fig_writes_png_at_300_dpi_and_pdf(tmp_path):
    from PIL import Image

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    written = plots.save_fig(fig, "line", folder=tmp_path)
    assert sorted(p.name for p in written) == ["line.pdf", "line.png"]
    with Image.open(tmp_path / "line.png") as image:
        assert [round(d) for d in image.info["dpi"]] == [300, 300]


# --------------------------------------------------------------------------- chapter figures
# Small frames shaped like the run tables the chapters pass in: two models, two seeds, two
# frameworks. The figures themselves are checked byte for byte by the notebook smoke runs
# (the figures of a chapter before and after a change); these tests pin what each one holds.

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

MODELS = ["logistic", "fc"]
FRAMEWORKS = ["keras", "torch"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def runs_frame():
    rng = np.random.default_rng(0)
    rows = [
        {
            "framework": f,
            "model": m,
            "seed": s,
            "gap": rng.uniform(),
            "map": rng.uniform(),
            "train_examples_per_s": rng.uniform(100, 200),
        }
        for f in FRAMEWORKS
        for m in MODELS
        for s in (0, 1)
    ]
    return pd.DataFrame(rows)


def titles_of(fig):
    return [ax.get_title() for ax in fig.axes]


def test_training_curves_are_three_panels_with_the_legend_on_the_last():
    history = pd.DataFrame(
        [
            {
                "model": m,
                "seed": s,
                "epoch": e,
                "train_loss": 1.0 / e,
                "val_loss": 1.1 / e,
                "val_gap": 0.1 * e,
            }
            for m in MODELS
            for s in (0, 1)
            for e in (1, 2, 3)
        ]
    )
    fig = plots.training_curves(history, MODELS, "keras: training curves")
    assert titles_of(fig) == ["training loss", "validation loss", "validation GAP@20"]
    assert fig.get_suptitle() == "keras: training curves"
    assert [ax.get_legend() is not None for ax in fig.axes] == [False, False, True]
    assert [t.get_text() for t in fig.axes[-1].get_legend().get_texts()] == MODELS
    assert tuple(fig.get_size_inches()) == (14, 3.8)


def test_metric_bars_draw_one_panel_per_metric_with_a_bar_per_model():
    runs = runs_frame()
    table = (
        runs[runs.framework == "keras"]
        .groupby(["framework", "model"], sort=False)[["gap", "map"]]
        .agg(["mean", "std"])
    )
    fig = plots.metric_bars(table, ["gap", "map"], {"gap": "GAP@20", "map": "mAP@20"}, "test")
    assert titles_of(fig) == ["GAP@20", "mAP@20"]
    for ax, column in zip(fig.axes, ["gap", "map"]):
        heights = [bar.get_height() for bar in ax.patches]
        assert heights == pytest.approx(list(table[(column, "mean")].values))
        assert [t.get_text() for t in ax.get_xticklabels()] == MODELS
        assert ax.get_ylim() == (0, 1)
    assert tuple(fig.get_size_inches()) == (6.0, 3.6)


def test_metric_bars_take_a_single_metric():
    table = runs_frame().groupby(["framework", "model"])[["gap"]].agg(["mean", "std"])
    fig = plots.metric_bars(table.loc[["keras"]], ["gap"], {"gap": "GAP@20"}, "one")
    assert titles_of(fig) == ["GAP@20"]


def test_genre_confusion_normalises_rows_and_drops_genres_with_no_video():
    genres = ["Arts", "Games", "Sports"]
    confusion = pd.DataFrame([[3, 1, 0], [0, 0, 0], [2, 0, 2]], index=genres, columns=genres)
    fig = plots.genre_confusion(confusion, "keras fc: genre confusion")
    heatmap = fig.axes[0]
    assert heatmap.get_title() == "keras fc: genre confusion"
    assert [t.get_text() for t in heatmap.get_yticklabels()] == ["Arts (4)", "Sports (4)"]
    values = np.asarray(heatmap.collections[0].get_array()).reshape(2, 3)
    assert values.sum(axis=1) == pytest.approx([1, 1])
    assert values[0] == pytest.approx([0.75, 0.25, 0])


def test_class_kinds_group_bars_by_the_kind_of_evidence():
    kinds = pd.DataFrame(
        [
            {"model": m, "seed": s, "class_kind": k, "mean_ap": 0.5}
            for m in MODELS
            for s in (0, 1)
            for k in ("temporal", "rgb", "audio")
        ]
    )
    fig = plots.class_kinds(kinds, MODELS, "keras: test AP")
    ax = fig.axes[0]
    assert ax.get_title() == "keras: test AP"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["rgb", "audio", "temporal"]
    assert [t.get_text() for t in ax.get_xticklabels()] == MODELS


@pytest.mark.parametrize("legend_on", [0, -1])
def test_framework_bars_colour_each_framework_and_put_the_legend_where_asked(legend_on):
    names = {"gap": "GAP@20", "train_examples_per_s": "training videos / s"}
    fig = plots.framework_bars(
        runs_frame(), list(names), names, MODELS, legend_on=legend_on, title="per framework"
    )
    assert titles_of(fig) == list(names.values())
    assert fig.get_suptitle() == "per framework"
    with_legend = [ax.get_legend() is not None for ax in fig.axes]
    assert with_legend.index(True) == (legend_on % len(names)) and sum(with_legend) == 1
    colours = {
        matplotlib.colors.to_hex(bar.get_facecolor())
        for bar in fig.axes[0].patches
        if bar.get_height() > 0
    }
    # seaborn's bars carry the framework colours at its default saturation (0.75)
    assert colours == {
        matplotlib.colors.to_hex(sns.desaturate(c, 0.75)) for c in plots.FRAMEWORK_COLORS.values()
    }
    assert tuple(fig.get_size_inches()) == pytest.approx((6.6, 3.8))


def test_framework_bars_take_a_figure_size_and_no_title():
    fig = plots.framework_bars(runs_frame(), ["gap"], {"gap": "GAP@20"}, MODELS, figsize=(14, 3.8))
    assert tuple(fig.get_size_inches()) == (14, 3.8)
    assert fig.get_suptitle() == ""


def test_hardware_over_time_is_a_cpu_row_and_a_memory_row_per_model():
    samples = pd.DataFrame(
        [
            {"model": m, "framework": f, "t_s": t, "cpu_percent": 100.0, "rss_mb": 500.0 + t}
            for m in MODELS
            for f in FRAMEWORKS
            for t in (0.0, 0.5, 1.0)
            if (m, f) != ("fc", "torch")
        ]
    )  # a missing run leaves a gap
    fig = plots.hardware_over_time(samples, MODELS, "CPU and memory")
    assert titles_of(fig)[:2] == MODELS
    assert [len(ax.lines) for ax in fig.axes] == [2, 1, 2, 1]
    assert fig.axes[0].get_ylabel() == "process CPU (%)"
    assert fig.axes[2].get_ylabel() == "resident memory (MB)"


def test_step_time_bars_are_one_log_panel_per_task_of_the_models_present():
    times = pd.DataFrame(
        [
            {"model": m, "task": t, "where": w, "ms": 2.0}
            for m in ("fc", "bilstm")
            for t in ("train step", "inference")
            for w in ("torch / cpu", "torch / cuda")
        ]
    )
    fig = plots.step_time_bars(times, MODELS + ["bilstm"], "where", "Model alone")
    assert titles_of(fig) == ["train step", "inference"]
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["fc", "bilstm"]
