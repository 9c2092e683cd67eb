"""The figure style: distinct colours, save_fig's PNG (300 dpi) + PDF pair, and the figure check
every saved figure passes."""

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
    plots.set_caption("Data: a line")
    written = plots.save_fig(fig, "line", folder=tmp_path)
    assert sorted(p.name for p in written) == ["line.pdf", "line.png"]
    with Image.open(tmp_path / "line.png") as image:
        assert [round(d) for d in image.info["dpi"]] == [300, 300]


# --------------------------------------------------------------------------- chapter figures
# Small frames shaped like the run tables the chapters pass in: two models, two seeds, two
# frameworks. The figures themselves are checked byte for byte by the notebook smoke runs
# (the figures of a chapter before and after a change); these tests pin what each one holds,
# and that each passes save_fig's figure check.

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from yt8m_lib.runs import tables  # noqa: E402

MODELS = ["logistic", "fc"]
FRAMEWORKS = ["keras", "torch"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


CAPTION = (
    "Data: synthetic YouTube-8M (profile smoke, a capacity check), 30 classes; "
    "1,200 test videos; 2 seed(s); Intel(R) Xeon(R) CPU @ 2.20GHz, 2 cores"
)


@pytest.fixture(autouse=True)
def _own_caption(monkeypatch):
    """Each test starts with no caption line and leaves none behind."""
    monkeypatch.setattr(plots, "_DATA", {"kind": None, "caption": None})
    monkeypatch.delenv("YT8M_SKIP_FIGURE_CHECK", raising=False)


def assert_passes(fig, tmp_path):
    """With a caption line, the figure goes through save_fig's check (which raises, listing
    the problems, if it does not pass); nothing is written."""
    plots.set_caption(CAPTION)
    assert plots.save_fig(fig, "figure", folder=tmp_path, formats=()) == []


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


def bar_colours(ax) -> set:
    return {matplotlib.colors.to_hex(bar.get_facecolor()) for bar in ax.patches if bar.get_height()}


def desaturated(colours) -> set:
    """Colours as seaborn's bars draw them (its default saturation, 0.75)."""
    return {matplotlib.colors.to_hex(sns.desaturate(c, 0.75)) for c in colours}


def titles_of(fig):
    return [ax.get_title() for ax in fig.axes]


def test_training_curves_are_three_panels_with_the_legend_on_the_last(tmp_path):
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
    assert_passes(fig, tmp_path)


def test_metric_bars_draw_one_panel_per_metric_with_a_bar_per_model(tmp_path):
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
    assert_passes(fig, tmp_path)


def test_metric_bars_take_a_single_metric(tmp_path):
    table = runs_frame().groupby(["framework", "model"])[["gap"]].agg(["mean", "std"])
    fig = plots.metric_bars(table.loc[["keras"]], ["gap"], {"gap": "GAP@20"}, "one")
    assert titles_of(fig) == ["GAP@20"]
    assert_passes(fig, tmp_path)


def test_genre_confusion_normalises_rows_and_drops_genres_with_no_video(tmp_path):
    genres = ["Arts", "Games", "Sports"]
    confusion = pd.DataFrame([[3, 1, 0], [0, 0, 0], [2, 0, 2]], index=genres, columns=genres)
    fig = plots.genre_confusion(confusion, "keras fc: genre confusion")
    heatmap = fig.axes[0]
    assert heatmap.get_title() == "keras fc: genre confusion"
    assert [t.get_text() for t in heatmap.get_yticklabels()] == [
        "Arts (4 videos)",
        "Sports (4 videos)",
    ]
    values = np.asarray(heatmap.collections[0].get_array()).reshape(2, 3)
    assert values.sum(axis=1) == pytest.approx([1, 1])
    assert values[0] == pytest.approx([0.75, 0.25, 0])
    assert_passes(fig, tmp_path)


def test_genre_confusion_of_several_seeds_counts_videos_per_seed(tmp_path):
    """Summed over 2 seeds of the same 4 Arts videos the row says 4 videos, not 8."""
    genres = ["Arts", "Games"]
    confusion = pd.DataFrame([[6, 2], [1, 3]], index=genres, columns=genres)
    confusion.attrs["runs"] = 2
    fig = plots.genre_confusion(confusion, "fc, 2 seeds")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["Arts (4 videos)", "Games (2 videos)"]


def test_class_kinds_group_bars_by_the_kind_of_evidence(tmp_path):
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
    assert_passes(fig, tmp_path)


@pytest.mark.parametrize("legend_on", [0, -1])
def test_framework_bars_colour_each_framework_and_put_the_legend_where_asked(legend_on, tmp_path):
    names = {"gap": "GAP@20", "train_examples_per_s": "training videos / s"}
    fig = plots.framework_bars(
        runs_frame(), list(names), names, MODELS, legend_on=legend_on, title="per framework"
    )
    assert titles_of(fig) == list(names.values())
    assert fig.get_suptitle() == "per framework"
    with_legend = [ax.get_legend() is not None for ax in fig.axes]
    assert with_legend.index(True) == (legend_on % len(names)) and sum(with_legend) == 1
    # beside its panel, covering none of the bars
    ax = fig.axes[with_legend.index(True)]
    renderer = fig.canvas.get_renderer()
    legend_box = ax.get_legend().get_window_extent(renderer)
    assert legend_box.x0 >= ax.get_window_extent(renderer).x1
    # seaborn's bars carry the framework colours at its default saturation (0.75)
    assert bar_colours(fig.axes[0]) == desaturated(plots.FRAMEWORK_COLORS.values())
    assert tuple(fig.get_size_inches()) == pytest.approx((8.6, 3.8))
    assert_passes(fig, tmp_path)


def test_framework_bars_take_a_figure_size_and_no_title(tmp_path):
    fig = plots.framework_bars(runs_frame(), ["gap"], {"gap": "GAP@20"}, MODELS, figsize=(14, 3.8))
    assert tuple(fig.get_size_inches()) == (14, 3.8)
    assert fig.get_suptitle() == ""
    assert_passes(fig, tmp_path)


def test_engine_bars_give_each_of_the_three_engines_its_colour_and_log_speeds(tmp_path):
    from yt8m_lib.runs import tables

    assert list(plots.ENGINE_COLORS) == list(tables.ENGINE_LABELS.values())
    keras_tf, keras_torch = runs_frame(), runs_frame()
    keras_tf["engine"] = keras_tf.framework.map({"keras": "Keras / TensorFlow", "torch": "PyTorch"})
    keras_torch = keras_torch[keras_torch.framework == "keras"].assign(engine="Keras / torch")
    runs = pd.concat([keras_tf, keras_torch])
    names = {"train_examples_per_s": "training videos / s"}
    fig = plots.framework_bars(runs, list(names), names, MODELS, by="engine", log=True)
    assert bar_colours(fig.axes[0]) == desaturated(plots.ENGINE_COLORS.values())
    assert fig.axes[0].get_yscale() == "log"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == list(plots.ENGINE_COLORS)
    assert_passes(fig, tmp_path)


def test_hardware_over_time_is_a_cpu_row_and_a_memory_row_per_model(tmp_path):
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
    assert_passes(fig, tmp_path)


def test_hardware_over_time_shows_a_run_that_ended_between_two_samples(tmp_path):
    """A run shorter than the monitor's interval has only the sample taken on exit: it is
    drawn as a marker (a line through one point would leave its panels blank)."""
    samples = pd.DataFrame(
        [
            {"model": m, "framework": f, "t_s": t, "cpu_percent": 150.0, "rss_mb": 600.0 + t}
            for m in MODELS
            for f in FRAMEWORKS
            for t in ((0.2,) if m == "logistic" else np.arange(0.0, 30.0, 0.5))
        ]
    )
    fig = plots.hardware_over_time(samples, MODELS, "CPU and memory")
    short = list(fig.axes[0].lines)
    assert [len(line.get_xdata()) for line in short] == [1, 1]
    assert all(line.get_marker() == "o" for line in short)
    assert_passes(fig, tmp_path)


def test_step_time_bars_are_one_log_panel_per_task_of_the_models_present(tmp_path):
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
    assert_passes(fig, tmp_path)


# --------------------------------------------------------------------------- figure check
# check_figure runs in every save_fig: a panel that shows no data, two texts on top of each
# other, or a missing caption line stops the notebook, naming the figure.


def line_plot():
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot([0, 1, 2, 3], [0.1, 0.4, 0.35, 0.8], lw=1.0)
    ax.set(title="validation GAP", xlabel="epoch", ylabel="GAP@20")
    return fig


def feature_values_before_the_fix():
    """Chapter 01's feature-values figure as commit 0882caa drew it: its left panel, 256 bins
    of the stored bytes of RGB frames, is 256 bars of about 1.5 px at 100 dpi under seaborn's
    white 1 pt edges (patch.force_edgecolor), so it shows nothing."""
    from yt8m_lib.data import features

    plots.set_style()
    rng = np.random.default_rng(0)
    sample = features.quantize(rng.normal(0.0, 0.5, size=(500, 1024)))  # 50 videos x 10 frames
    mean_rgb = rng.normal(0.0, 0.2, size=(1000, 1024)).astype(np.float32)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    ax[0].hist(sample.ravel(), bins=np.arange(257) - 0.5, color="C0")
    ax[0].set(xlabel="stored byte", ylabel="count", title="RGB frames: quantized bytes")
    ax[1].hist(
        features.dequantize(sample).ravel(),
        bins=120,
        density=True,
        alpha=0.6,
        label="frames (dequantized)",
    )
    ax[1].hist(mean_rgb.ravel(), bins=120, density=True, alpha=0.6, label="video means")
    ax[1].set(xlabel="value", ylabel="density", title="RGB: dequantized values")
    ax[1].legend()
    return fig


def test_a_line_plot_and_a_bar_chart_with_a_caption_pass(tmp_path):
    plots.set_style()
    assert_passes(line_plot(), tmp_path)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.bar(["logistic", "moe", "fc"], [0.7, 0.75, 0.8])
    ax.set(title="test GAP", ylim=(0, 1))
    assert_passes(fig, tmp_path)


def test_a_thin_line_shows_data_an_empty_panel_does_not():
    plots.set_style()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot([0, 1], [0.5, 0.5], lw=0.5)  # the least a line plot draws: flat and thin
    ax.set_ylim(0, 1)
    assert plots.data_pixel_fractions(fig)[ax] > plots.MIN_DATA_PIXELS
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.set(title="nothing", xlim=(0, 1), ylim=(0, 1))
    assert plots.data_pixel_fractions(fig)[ax] == 0.0
    assert any('panel 1 "nothing" shows no visible data' in p for p in plots.check_figure(fig))


def test_white_bars_on_white_show_no_data():
    plots.set_style()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.bar(range(5), [1, 2, 3, 2, 1], color="white")
    assert plots.data_pixel_fractions(fig)[ax] <= plots.MIN_DATA_PIXELS


def test_the_01_feature_values_histogram_before_the_fix_fails():
    fig = feature_values_before_the_fix()
    fractions = list(plots.data_pixel_fractions(fig).values())
    assert fractions[0] <= plots.MIN_DATA_PIXELS < fractions[1]
    problems = plots.check_figure(fig)
    assert [p for p in problems if "no visible data" in p] == [
        f'panel 1 "RGB frames: quantized bytes" shows no visible data: {fractions[0]:.3%} of its '
        f"pixels differ from the background (needs > {plots.MIN_DATA_PIXELS:.2%})"
    ]


def test_a_suptitle_on_a_panel_title_fails(tmp_path):
    plots.set_style()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))  # no layout: the suptitle sits on the titles
    for ax in axes:
        ax.plot([0, 1], [0, 1])
    axes[0].set_title("training loss")
    axes[1].set_title("validation loss")
    fig.suptitle("keras: training curves")
    problems = plots.check_figure(fig)
    assert any(
        p.startswith('text overlap: suptitle "keras: training curves" and title of panel')
        for p in problems
    )
    with pytest.raises(ValueError, match="text overlap: suptitle"):
        assert_passes(fig, tmp_path)
    fig.set_layout_engine("constrained")  # the fix: the layout makes room for the suptitle
    assert_passes(fig, tmp_path)


def test_tick_labels_on_top_of_each_other_fail_and_slanted_ones_are_judged_as_drawn():
    """The 08 forest plot's "-0.025" over "0.000": tick labels of one axis are compared.
    Slanted labels are compared as the slanted boxes they are (their upright boxes overlap
    where the text does not), and x against y tick labels at a corner are not compared."""
    plots.set_style()
    fig, ax = plt.subplots(figsize=(1.2, 2))
    ax.plot([-0.025, 0.0], [0, 1])
    ax.set_xticks([-0.025, -0.02, 0.0], ["-0.025000", "-0.020000", "0.000000"])
    assert ('x tick label "-0.025000" of panel 1', 'x tick label "-0.020000" of panel 1') in (
        plots.text_overlaps(fig)
    )
    ax.set_xticks([-0.025, 0.0], ["-0.025", "0.000"])  # the fix: fewer, shorter labels
    assert plots.text_overlaps(fig) == []
    fig, ax = plt.subplots(figsize=(1.2, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_xticks([0, 0.5, 1], ["aaaaaaa", "bbbbbbb", "ccccccc"], rotation=45)
    assert plots.text_overlaps(fig) == []
    # 40 slanted genre names on a 2-inch axis: a few points apart, less than their line height
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 39], [0, 1])
    ax.set_xticks(range(40), [f"genre {i}" for i in range(40)], rotation=45)
    overlaps = plots.text_overlaps(fig)
    assert ('x tick label "genre 0" of panel 1', 'x tick label "genre 1" of panel 1') in overlaps
    assert all(a.startswith("x tick label") and b.startswith("x tick label") for a, b in overlaps)
    fig.set_size_inches(8, 2)  # 4 times the room: still closer than a line
    assert len(plots.text_overlaps(fig)) == 39
    fig.set_size_inches(12, 2)  # the fix: room for them
    assert plots.text_overlaps(fig) == []


def test_a_figure_without_a_caption_fails(tmp_path):
    plots.set_style()
    assert plots.check_figure(line_plot()) == [plots._NO_CAPTION]
    with pytest.raises(ValueError, match="no caption line"):
        plots.save_fig(line_plot(), "line", folder=tmp_path)
    with pytest.raises(ValueError, match="no caption line"):  # a note is no caption line
        plots.save_fig(line_plot(), "line", folder=tmp_path, note="bars: std over seeds")
    assert list(tmp_path.iterdir()) == []


def test_save_fig_raises_on_a_bad_figure_naming_it_and_writes_nothing(tmp_path):
    plots.set_caption(CAPTION)
    with pytest.raises(ValueError) as raised:
        plots.save_fig(feature_values_before_the_fix(), "01_feature_values", folder=tmp_path)
    message = str(raised.value)
    assert "'01_feature_values'" in message
    assert 'panel 1 "RGB frames: quantized bytes" shows no visible data' in message
    assert "YT8M_SKIP_FIGURE_CHECK=1" in message
    assert list(tmp_path.iterdir()) == []


def test_skip_figure_check_writes_a_bad_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("YT8M_SKIP_FIGURE_CHECK", "1")
    written = plots.save_fig(feature_values_before_the_fix(), "01_feature_values", folder=tmp_path)
    assert all(path.exists() for path in written)


def test_check_figure_leaves_the_figure_as_it_was():
    plots.set_style()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="line")
        ax.set(title="a panel", xlabel="x", ylabel="y")
    axes[1].legend()
    fig.suptitle("two panels")
    fig.canvas.draw()
    before = np.asarray(fig.canvas.buffer_rgba()).copy()
    canvas, dpi = fig.canvas, fig.dpi
    assert plots.check_figure(fig) == [plots._NO_CAPTION]
    assert (fig.canvas, fig.dpi) == (canvas, dpi)
    for ax in axes:
        assert ax.xaxis.get_visible() and ax.yaxis.get_visible() and ax.title.get_visible()
        assert all(spine.get_visible() for spine in ax.spines.values())
        assert all(line.get_visible() for line in ax.get_xgridlines() + ax.get_ygridlines())
    assert axes[1].get_legend().get_visible() and fig._suptitle.get_visible()
    fig.canvas.draw()
    assert np.array_equal(np.asarray(fig.canvas.buffer_rgba()), before)


# Every chapter figure, drawn from inputs the size of a real chapter's (all seven models,
# three seeds, the chapters' titles, 25 genres), passes the check.

SEEDS = (0, 1, 2)
GENRES = [
    "Games", "Arts & Entertainment", "Autos & Vehicles", "Computers & Electronics",
    "Food & Drink", "Business & Industrial", "Sports", "Pets & Animals", "Hobbies & Leisure",
    "Home & Garden", "Shopping", "Science", "Beauty & Fitness", "Travel", "People & Society",
    "Reference", "Law & Government", "Internet & Telecom", "Books & Literature", "News",
    "Health", "Jobs & Education", "Finance", "Real Estate", "(Unknown)",
]  # fmt: skip
SPEED_TITLES = {
    "train_examples_per_s": "training videos / s",
    "median_step_s": "median training step (s)",
    "inference_batch_latency_ms": "inference batch latency (ms)",
}


def chapter_runs():
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        [
            {
                "framework": f,
                "model": m,
                "seed": s,
                **{c: rng.uniform(0.3, 0.9) for c in tables.METRICS},
                "train_examples_per_s": rng.uniform(500, 20000),
                "median_step_s": rng.uniform(0.005, 0.2),
                "inference_batch_latency_ms": rng.uniform(2, 80),
            }
            for f in FRAMEWORKS
            for m in plots.MODEL_ORDER
            for s in SEEDS
        ]
    )


def chapter_figure(name):
    rng = np.random.default_rng(2)
    models = plots.MODEL_ORDER
    runs = chapter_runs()
    if name == "training_curves":
        history = pd.DataFrame(
            [
                {
                    "model": m,
                    "seed": s,
                    "epoch": e,
                    "train_loss": 0.02 / e + rng.uniform(0, 0.001),
                    "val_loss": 0.021 / e + rng.uniform(0, 0.001),
                    "val_gap": 0.8 - 0.5 / e + rng.uniform(0, 0.01),
                }
                for m in models
                for s in SEEDS
                for e in range(1, 11)
            ]
        )
        return plots.training_curves(
            history, models, "keras: training curves (3 seed(s), profile default)"
        )
    if name == "metric_bars":
        keras = runs[runs.framework == "keras"]
        table = keras.groupby(["framework", "model"], sort=False)[list(tables.METRICS)].agg(
            ["mean", "std"]
        )
        title = "keras: test metrics, mean ± std over 3 seed(s)"
        return plots.metric_bars(table, list(tables.METRICS), tables.METRIC_NAMES, title)
    if name == "genre_confusion":
        counts = rng.integers(0, 40, size=(len(GENRES), len(GENRES))) + 200 * np.eye(len(GENRES))
        confusion = pd.DataFrame(counts.astype(int), index=GENRES, columns=GENRES)
        return plots.genre_confusion(confusion, "keras fc: genre confusion (rows sum to 1)")
    if name == "class_kinds":
        kinds = pd.DataFrame(
            [
                {"model": m, "seed": s, "class_kind": k, "mean_ap": rng.uniform(0.2, 0.9)}
                for m in models
                for s in SEEDS
                for k in ("rgb", "audio", "temporal")
            ]
        )
        return plots.class_kinds(kinds, models, "keras: test AP by where the class's evidence is")
    if name == "framework_bars":
        title = "Test metrics per model and framework (mean ± std over 3 seeds)"
        metrics = list(tables.METRICS)
        return plots.framework_bars(runs, metrics, tables.METRIC_NAMES, models, title=title)
    if name == "framework_bars_speed":
        return plots.framework_bars(
            runs, list(SPEED_TITLES), SPEED_TITLES, models, figsize=(14, 3.8), legend_on=0
        )
    if name == "hardware_over_time":
        samples = pd.DataFrame(
            [
                {
                    "model": m,
                    "framework": f,
                    "t_s": t,
                    "cpu_percent": rng.uniform(90, 200),
                    "rss_mb": 900 + 3 * t,
                }
                for m in models
                for f in FRAMEWORKS
                for t in np.arange(0.0, 60.0, 2.0)
            ]
        )
        return plots.hardware_over_time(samples, models, "CPU and memory during training (seed 0)")
    if name == "step_time_bars":
        times = pd.DataFrame(
            [
                {"model": m, "task": t, "framework / device": w, "ms": rng.uniform(0.5, 200)}
                for m in models
                for t in ("train step", "inference")
                for w in ("keras / cpu", "torch / cpu", "keras / cuda", "torch / cuda")
            ]
        )
        title = "Model alone: training step (batch 16) and inference (batch 256)"
        return plots.step_time_bars(times, models, "framework / device", title)
    if name == "forest_plot":
        rows = []
        for metric in tables.METRICS:
            for m in models:
                diff = rng.normal(0, 0.01)
                rows.append(
                    {
                        "metric": metric,
                        "model": m,
                        "mean_diff": diff,
                        "ci_low": diff - 0.01,
                        "ci_high": diff + 0.01,
                        "verdict": "keras ahead" if diff > 0.012 else "no detectable difference",
                    }
                )
        title = "Keras - PyTorch per model, paired over 3 seeds, 95 % intervals"
        return plots.forest_plot(pd.DataFrame(rows), tables.METRIC_NAMES, title)
    if name == "learning_curves":
        from yt8m_lib import learning_curves

        summary = pd.DataFrame(
            [
                {
                    "framework": f,
                    "model": m,
                    "train_videos": n,
                    "gap_mean": 0.5 + 0.05 * np.log10(n) + rng.uniform(0, 0.02),
                    "gap_std": 0.005,
                }
                for f in FRAMEWORKS
                for m in ("logistic", "moe", "fc", "gated_moe")
                for n in (3_900, 15_600, 62_400, 249_600)
            ]
        )
        title = "Test GAP against training data (3 seed(s) per point)"
        return plots.learning_curves(summary, learning_curves.PUBLISHED, title)
    if name == "code_size_sweep":
        rows = [
            {"stream": stream, "input_dim": dim, "code_size": round(dim * scale),
             "method": method, "explained_share": share}
            for stream, dim in (("rgb", 1024), ("audio", 128))
            for scale in (0.125, 0.25, 0.5, 1, 2)
            for method, share in (("autoencoder", min(0.9, 0.5 * scale)),
                                  ("pca", min(1.0, 0.3 + 0.7 * scale)))
        ]  # fmt: skip
        title = "Validate variance reconstructed: torch autoencoder vs PCA"
        return plots.code_size_sweep(pd.DataFrame(rows), title)
    raise KeyError(name)


@pytest.mark.parametrize(
    "name",
    [
        "training_curves",
        "metric_bars",
        "genre_confusion",
        "class_kinds",
        "framework_bars",
        "framework_bars_speed",
        "hardware_over_time",
        "step_time_bars",
        "forest_plot",
        "learning_curves",
        "code_size_sweep",
    ],
)
def test_every_chapter_figure_passes_the_check_with_a_chapters_inputs(name, tmp_path):
    plots.set_style()
    assert_passes(chapter_figure(name), tmp_path)


def test_label_row_blocks_names_runs_of_rows_at_their_middle_without_a_grid():
    plots.set_style()
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((9, 4)), aspect="auto")
    plots.label_row_blocks(ax, ["Games"] * 4 + ["News"] * 2 + ["Sports"] * 3)
    assert list(ax.get_yticks()) == [1.5, 7.0]  # News (2 rows) is too short to name
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Games", "Sports"]
    assert [line.get_ydata()[0] for line in ax.get_lines()] == [3.5, 5.5]
    assert not any(line.get_visible() for line in ax.get_ygridlines())
    plt.close(fig)
