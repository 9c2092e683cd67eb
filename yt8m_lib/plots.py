"""The figure style, one ``save_fig``, and the figures the model chapters (03-05) draw.

Keras and PyTorch keep the same colour in every figure (``FRAMEWORK_COLORS``; from the
colour-blind-safe seaborn palette), and models keep the same order (``MODEL_ORDER``).
``save_fig`` writes ``figures/NAME.png`` (300 dpi) and ``figures/NAME.pdf`` through
``fig.savefig`` only, so it works under any matplotlib backend (Agg in tests and papermill).
Before writing it runs ``check_figure`` (every panel shows data, no two texts overlap, a caption
line) and stops on a figure that fails it.

The figures that chapters 03 and 04 (one per framework) and 05 (the two side by side) draw
are functions here, so a chapter cell is its prose, a call and ``save_fig``.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from yt8m_lib import paths
from yt8m_lib.config import FRAMEWORKS, MODEL_NAMES

# colour-blind-safe (seaborn "colorblind" blue and orange), fixed for the whole thesis
FRAMEWORK_COLORS = {"keras": "#0173B2", "torch": "#DE8F05"}
FRAMEWORK_LABELS = {"keras": "Keras", "torch": "PyTorch"}
FRAMEWORK_ORDER = list(FRAMEWORKS)
MODEL_ORDER = list(MODEL_NAMES)
# one colour per model, never a framework colour (tab10 without its blue and orange)
MODEL_COLORS = {
    "logistic": "#7f7f7f",
    "moe": "#8c564b",
    "fc": "#2ca02c",
    "gated_moe": "#9467bd",
    "bilstm": "#17becf",
    "stream_lstm": "#bcbd22",
    "hybrid": "#e377c2",
}
FRAMEWORK_LINESTYLES = {"keras": "-", "torch": "--"}
# the three columns of the engine comparison (yt8m_lib.runs.tables.ENGINE_LABELS): Keras on
# TensorFlow and PyTorch keep their framework colours; the Keras code on the torch engine is
# a lighter Keras blue (colour-blind palette's sky blue)
ENGINE_COLORS = {
    "Keras / TensorFlow": FRAMEWORK_COLORS["keras"],
    "Keras / torch": "#56B4E9",
    "PyTorch": FRAMEWORK_COLORS["torch"],
}
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


# What the figures of a notebook show, set once by ``describe_data``: every ``save_fig`` puts
# it under the figure as a caption line, and it picks the figure folder (real/synthetic).
_DATA = {"kind": None, "caption": None}


def hardware_line() -> str:
    """This machine in a few words: CPU model and the cores this process may use (as a run
    record's ``environment`` has them), and the GPU if one is present."""
    from yt8m_lib.runs.hardware import detect_gpus
    from yt8m_lib.runs.run_record import environment_info

    env = environment_info()
    cpu = env.get("cpu_model") or env.get("processor") or env["machine"]
    cores = env.get("cpu_affinity") or env["cpu_count"]
    gpus = detect_gpus()
    gpu = f", GPU {gpus[0].get('name')}" if gpus else ""
    return f"{cpu}, {cores} cores{gpu}"


def describe_data(data_dir, *, videos=None, split: str = "test", seeds=None) -> str:
    """Set (and return) the caption line of this notebook's figures: which data (real or
    synthetic, its classes, the videos of ``split``), the seeds and the hardware."""
    from yt8m_lib.data import datasets

    manifest = datasets.load_manifest(data_dir)
    kind = "synthetic" if manifest is not None else "real"
    classes = datasets.num_classes_of(data_dir)
    if kind == "synthetic":
        source = f"synthetic YouTube-8M (profile {manifest.get('profile', '?')}, a capacity check)"
    else:
        source = "real YouTube-8M (2018 release, video level)"
    parts = [f"Data: {source}, {classes:,} classes"]
    if videos is not None:
        parts.append(f"{int(videos):,} {split} videos")
    if seeds is not None:
        parts.append(f"{len(list(seeds))} seed(s)")
    parts.append(hardware_line())
    _DATA.update(kind=kind, caption="; ".join(parts))
    return _DATA["caption"]


def figure_folder() -> Path:
    """``YT8M_FIGURES_DIR`` when set (make reproduce sets it), else ``figures/<kind>/`` of the
    data ``describe_data`` named (``figures/`` before any)."""
    import os

    if os.environ.get("YT8M_FIGURES_DIR"):
        return paths.figures_dir()
    return paths.figures_dir() / (_DATA["kind"] or "")


def set_caption(text: str) -> str:
    """Set the caption line of the following figures directly (what ``describe_data`` sets
    from a dataset folder); for figures that describe no dataset, and for tests."""
    _DATA["caption"] = text
    return text


# ------------------------------------------------------------------------------ figure check
# ``check_figure`` runs in every ``save_fig``: a figure with an empty-looking panel, two texts
# on top of each other or no caption line stops the notebook (and ``make reproduce``), naming
# the figure. ``YT8M_SKIP_FIGURE_CHECK=1`` writes it anyway, to look at a broken figure.
# Checked as ``save_fig`` writes the figure: on an Agg canvas at DPI, cropped to the same
# "tight" box (a figure legend anchored to the figure moves with that crop). A data panel must
# have more than MIN_DATA_PIXELS of its pixels differ from its background by more than
# PIXEL_TOLERANCE (of 255) once gridlines, spines, ticks and texts are hidden. Measured in a
# 5 x 3.4 inch panel at 300 dpi: chapter 01's feature values before the fix (256 histogram
# bars under seaborn's white edges) 0.000 % (5.3 % at 100 dpi, where pixel snapping leaves
# some bars blue: so the check renders at the saved dpi), an empty panel 0; a flat 0.5 pt
# line 0.23 %, the default 1.5 pt line 0.70 % (diagonal 1.0 %), three scatter points 0.23 %.
MIN_DATA_PIXELS = 0.001
PIXEL_TOLERANCE = 32
# two text boxes overlap when they share more than this (in points: 1.4 px at 100 dpi) both ways
OVERLAP_TOLERANCE_PT = 1.0
_NO_CAPTION = "no caption line: call plots.describe_data(...) (or plots.set_caption) first"


@contextmanager
def _rendering(fig, dpi):
    """``fig`` drawn on an Agg canvas at ``dpi`` (its own canvas if it renders to pixels:
    Agg, inline, QtAgg; else a temporary one), put back as it was afterwards."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    original_canvas, original_dpi = fig.canvas, fig.dpi
    canvas = original_canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(fig)
    try:
        fig.dpi = dpi
        canvas.draw()
        yield canvas
    finally:
        fig.dpi = original_dpi
        if canvas is not original_canvas:
            fig.set_canvas(original_canvas)
        fig.stale = True


def _saved_box(fig, dpi):
    """The box (inches) ``savefig(bbox_inches="tight")`` crops ``fig`` to at ``dpi``."""
    with _rendering(fig, dpi) as canvas:
        tight = fig.get_tightbbox(canvas.get_renderer())
    return tight.padded(plt.rcParams["savefig.pad_inches"])


def _as_saved(fig, dpi, box, measure):
    """Render ``fig`` as ``save_fig`` writes it (Agg, ``dpi``, cropped to ``box``) and return
    what ``measure(renderer)`` gives at the end of that draw (texts and axes then stand where
    they stand in the file)."""
    import io

    seen = []
    cid = fig.canvas.mpl_connect("draw_event", lambda event: seen.append(measure(event.renderer)))
    try:
        fig.savefig(io.BytesIO(), format="rgba", dpi=dpi, bbox_inches=box)
    finally:
        fig.canvas.mpl_disconnect(cid)
        fig.stale = True
    return seen[-1]  # the last draw is the one written (a layout draw may come first)


def _panel_name(fig, ax) -> str:
    title = ax.get_title() or ax.get_title("left") or ax.get_title("right")
    number = fig.axes.index(ax) + 1
    return f'panel {number} "{title}"' if title else f"panel {number}"


def _is_data_panel(ax) -> bool:
    colorbar = hasattr(ax, "_colorbar") or hasattr(ax, "_colorbar_info")
    return ax.get_visible() and ax.axison and not colorbar


def _chrome(fig) -> list:
    """Every artist that is not data: the axes' axis (ticks, tick labels, gridlines, axis
    label), spines, titles, legends and texts, and the figure's texts and legends."""
    artists = [*fig.texts, *fig.legends]
    for ax in fig.axes:
        titles = [getattr(ax, name, None) for name in ("title", "_left_title", "_right_title")]
        artists += [ax.xaxis, ax.yaxis, *ax.spines.values(), *ax.texts]
        artists += [t for t in titles if t is not None]
        if ax.get_legend() is not None:
            artists.append(ax.get_legend())
    return artists


def _background(fig, ax) -> np.ndarray:
    """RGBA (0-255) of an empty pixel of ``ax``: its face over the figure's face."""
    from matplotlib.colors import to_rgba

    face = np.array(to_rgba(ax.get_facecolor()))
    if not ax.patch.get_visible():
        face[3] = 0.0
    under = np.array(to_rgba(fig.get_facecolor()))
    alpha = face[3] + under[3] * (1 - face[3])
    if alpha == 0:
        return np.zeros(4)
    rgb = (face[:3] * face[3] + under[:3] * under[3] * (1 - face[3])) / alpha
    return np.append(rgb, alpha) * 255


def _pixel_fractions(fig, dpi, box) -> dict:
    """Render ``fig`` as saved with its chrome hidden and its layout held, and measure each
    data panel's drawn share; the chrome is shown again afterwards."""
    panels = [ax for ax in fig.axes if _is_data_panel(ax)]
    if not panels:
        return {}

    def measure(renderer):
        pixels = np.asarray(renderer.buffer_rgba()).astype(np.int16)
        return pixels, {ax: ax.bbox.frozen() for ax in panels}

    chrome = [a for a in _chrome(fig) if a.get_visible()]
    engine = fig.get_layout_engine()
    try:
        if engine is not None:  # hold the layout: hidden labels would give the panels room
            engine.execute = lambda fig: None
        for artist in chrome:
            artist.set_visible(False)
        pixels, boxes = _as_saved(fig, dpi, box, measure)
    finally:
        for artist in chrome:
            artist.set_visible(True)
        if engine is not None:
            engine.__dict__.pop("execute", None)
    height = pixels.shape[0]
    fractions = {}
    for ax, panel in boxes.items():  # display pixels, origin bottom left; 1 px inside the edge
        x0, x1 = max(int(np.ceil(panel.x0)) + 1, 0), max(int(np.floor(panel.x1)) - 1, 0)
        y0 = max(height - int(np.floor(panel.y1)) + 1, 0)
        y1 = max(height - int(np.ceil(panel.y0)) - 1, 0)
        window = pixels[y0:y1, x0:x1]
        if window.size == 0:
            fractions[ax] = 0.0
            continue
        drawn = np.abs(window - _background(fig, ax)).max(axis=-1) > PIXEL_TOLERANCE
        fractions[ax] = float(drawn.mean())
    return fractions


def data_pixel_fractions(fig, dpi: float = DPI) -> dict:
    """For each data panel of ``fig`` (visible, axis on, not a colorbar): the share of its
    pixels that differ from its background, rendered as saved at ``dpi`` with everything but
    the data hidden. The figure is left as it was."""
    return _pixel_fractions(fig, dpi, _saved_box(fig, dpi))


def _text_box(text, renderer):
    """The window extent of a text as drawn (a wrapped text, like the caption, wrapped)."""
    if text.get_wrap() and hasattr(text, "_get_wrapped_text"):
        with text._cm_set(text=text._get_wrapped_text()):
            return text.get_window_extent(renderer)
    return text.get_window_extent(renderer)


def _shown(text) -> bool:
    return text.get_visible() and bool(text.get_text().strip())


def _text_boxes(fig, renderer) -> list[tuple[str, np.ndarray, object]]:
    """(name, outline, group) of every text box drawn: the outline is the box's 4 corners in
    pixels, slanted as the text is (the upright box of a slanted tick label covers its
    neighbours' where the text does not). Two boxes of one group are not compared: the x and
    y tick labels of one axes (they meet at its corner). Tick labels of one axis are
    compared: "-0.025" over "0.000", or slanted labels packed tighter than their line
    height, are defects."""
    boxes = []
    labels = {id(getattr(fig, name, None)) for name in ("_supxlabel", "_supylabel")}
    for text in fig.texts:
        if not _shown(text):
            continue
        if text is getattr(fig, "_suptitle", None):
            name = f'suptitle "{text.get_text()}"'
        elif text is getattr(fig, "_yt8m_caption", None):
            name = "caption"
        elif id(text) in labels:
            name = f'figure label "{text.get_text()}"'
        else:
            name = f'figure text "{text.get_text()[:40]}"'
        boxes.append((name, _text_outline(text, renderer), None))
    for number, legend in enumerate(fig.legends, 1):
        if legend.get_visible():
            outline = _corners(legend.get_window_extent(renderer))
            boxes.append((f"figure legend {number}", outline, None))
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        panel = _panel_name(fig, ax)
        for loc in ("", "left ", "right "):
            text = getattr(ax, f"_{loc.strip()}_title" if loc else "title", None)
            if text is not None and _shown(text):
                boxes.append((f"{loc}title of {panel}", _text_outline(text, renderer), None))
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            outline = _corners(legend.get_window_extent(renderer))
            boxes.append((f"legend of {panel}", outline, None))
        if not ax.axison:
            continue
        for letter, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if not axis.get_visible():
                continue
            if _shown(axis.label):
                name = f'{letter} label "{axis.label.get_text()}" of {panel}'
                boxes.append((name, _text_outline(axis.label, renderer), None))
            for tick in axis._update_ticks():  # the ticks drawn: those inside the view
                for text in (tick.label1, tick.label2):
                    if _shown(text):
                        name = f'{letter} tick label "{text.get_text()}" of {panel}'
                        group = ("ticks", id(ax), letter)
                        boxes.append((name, _text_outline(text, renderer), group))
    return boxes


def _corners(extent) -> np.ndarray:
    """The 4 corners (pixels) of an upright window extent."""
    return np.array([[extent.x0, extent.y0], [extent.x1, extent.y0],
                     [extent.x1, extent.y1], [extent.x0, extent.y1]])  # fmt: skip


def _text_outline(text, renderer) -> np.ndarray:
    """The 4 corners (pixels) of a text's box as drawn, turned by its rotation. A turned
    rectangle's upright extent has the same centre, so the centre comes from the drawn
    extent and the width and height from the text drawn upright."""
    extent = _text_box(text, renderer)
    angle = np.deg2rad(text.get_rotation() % 180)
    if np.isclose(np.sin(angle), 0.0):
        return _corners(extent)
    with text._cm_set(rotation=0):
        upright = _text_box(text, renderer)
    along = np.array([np.cos(angle), np.sin(angle)]) * upright.width / 2
    across = np.array([-np.sin(angle), np.cos(angle)]) * upright.height / 2
    centre = np.array([(extent.x0 + extent.x1) / 2, (extent.y0 + extent.y1) / 2])
    return np.array([centre - along - across, centre + along - across,
                     centre + along + across, centre - along + across])  # fmt: skip


def _overlap_depth(a: np.ndarray, b: np.ndarray) -> float:
    """How far two convex outlines reach into each other (pixels): the smallest overlap of
    their shadows on the directions of their edges (separating axes); <= 0 when apart. For
    two upright boxes: the smaller of the shared width and the shared height."""
    depth = np.inf
    for outline in (a, b):
        for edge in np.diff(np.vstack([outline, outline[:1]]), axis=0):
            length = np.hypot(*edge)
            if length == 0:
                continue
            normal = np.array([-edge[1], edge[0]]) / length
            pa, pb = a @ normal, b @ normal
            depth = min(depth, min(pa.max(), pb.max()) - max(pa.min(), pb.min()))
    return depth


def _same_group(a, b) -> bool:
    return a[:2] == b[:2] and a[2] != b[2]  # the x against the y tick labels of one axes


def _overlaps(fig, renderer) -> list[tuple[str, str]]:
    tolerance = OVERLAP_TOLERANCE_PT * fig.dpi / 72
    # each outline's upright extent first: most pairs are told apart by it alone (a figure
    # has hundreds of tick labels); for two upright boxes the outline test then agrees
    boxes = [
        (name, outline, group, (*outline.min(axis=0), *outline.max(axis=0)))
        for name, outline, group in _text_boxes(fig, renderer)
    ]
    pairs = []
    for i, (name_a, a, group_a, (ax0, ay0, ax1, ay1)) in enumerate(boxes):
        for name_b, b, group_b, (bx0, by0, bx1, by1) in boxes[i + 1 :]:
            if min(ax1, bx1) - max(ax0, bx0) <= tolerance:
                continue
            if min(ay1, by1) - max(ay0, by0) <= tolerance:
                continue
            if group_a is not None and group_b is not None and _same_group(group_a, group_b):
                continue
            if _overlap_depth(a, b) > tolerance:
                pairs.append((name_a, name_b))
    return pairs


def text_overlaps(fig, dpi: float = DPI) -> list[tuple[str, str]]:
    """The pairs of text boxes of ``fig`` as saved (titles, suptitle, axis labels, tick
    labels, legends, figure texts such as the caption) that overlap by more than
    ``OVERLAP_TOLERANCE_PT`` (as drawn: slanted texts as slanted boxes); the x tick labels of
    one axes are not compared with its y tick labels."""
    return _as_saved(fig, dpi, _saved_box(fig, dpi), lambda r: _overlaps(fig, r))


def check_figure(fig, dpi: float = DPI, box=None) -> list[str]:
    """The problems of a figure, one readable line each; empty when it is fine. Rendered as
    ``save_fig`` writes it (Agg at ``dpi``, the tight crop): a data panel whose pixels show
    (almost) nothing once gridlines, spines, ticks and texts are hidden
    (``MIN_DATA_PIXELS``), two text boxes that overlap (``text_overlaps``), no caption line
    (``describe_data`` / ``set_caption`` before ``save_fig``). The figure is left as it was.
    ``box``: the crop (inches) when the caller has it already (``save_fig``)."""
    box = _saved_box(fig, dpi) if box is None else box
    problems = []
    for ax, fraction in _pixel_fractions(fig, dpi, box).items():
        if fraction <= MIN_DATA_PIXELS:
            problems.append(
                f"{_panel_name(fig, ax)} shows no visible data: {fraction:.3%} of its pixels "
                f"differ from the background (needs > {MIN_DATA_PIXELS:.2%})"
            )
    for a, b in _as_saved(fig, dpi, box, lambda r: _overlaps(fig, r)):
        problems.append(f"text overlap: {a} and {b}")
    caption = getattr(fig, "_yt8m_caption", None)
    if caption is None or caption not in fig.texts or not _shown(caption):
        problems.append(_NO_CAPTION)
    return problems


def _add_caption(fig, caption: str):
    """The caption line as a figure text, 4 pt under everything the figure draws (its x
    labels and tick labels may reach below the figure's edge), from its left edge."""
    with _rendering(fig, fig.dpi) as canvas:
        content = fig.get_tightbbox(canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    x = min(0.0, content.x0 / width)
    y = min(-0.01, (content.y0 - 4 / 72) / height)
    return fig.text(x, y, caption, ha="left", va="top", fontsize=7, color="0.35", wrap=True)


def save_fig(fig, name: str, folder=None, formats=("png", "pdf"), note: str = "") -> list[Path]:
    """Write ``folder/NAME.png`` (300 dpi) and ``folder/NAME.pdf``; folder defaults to
    ``figure_folder()``. The caption line of ``describe_data`` (and ``note``: what the bars
    or bands mean) goes under the figure. The PDF carries no creation date, so rebuilding an
    unchanged figure gives the same file.

    ``check_figure`` runs first: a figure with a problem (a panel without visible data, two
    texts on top of each other, no ``describe_data`` caption line) raises ``ValueError``
    naming it and its problems, and nothing is written. ``YT8M_SKIP_FIGURE_CHECK=1`` in the
    environment writes it anyway: to look at a broken figure, never to commit one."""
    import os

    had_caption = getattr(fig, "_yt8m_caption", None) is not None
    caption = "; ".join(t for t in (_DATA["caption"], note) if t)
    if caption and not had_caption:
        fig._yt8m_caption = _add_caption(fig, caption)
    # the tight crop, found once: the check renders with it and every format is cut to it
    # (savefig's own bbox_inches="tight" would draw the figure twice per format)
    box = _saved_box(fig, DPI)
    if os.environ.get("YT8M_SKIP_FIGURE_CHECK") != "1":
        problems = check_figure(fig, box=box)
        if not (had_caption or _DATA["caption"]) and _NO_CAPTION not in problems:
            problems.append(_NO_CAPTION)  # a note alone is no caption line
        if problems:
            raise ValueError(
                f"figure {name!r} fails the figure check (YT8M_SKIP_FIGURE_CHECK=1 writes it "
                "anyway, to look at it):\n  - " + "\n  - ".join(problems)
            )
    folder = Path(folder) if folder is not None else figure_folder()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(path, dpi=DPI, bbox_inches=box, metadata=metadata)
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
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharex=True, layout="constrained")
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
            palette={m: MODEL_COLORS.get(m, "0.5") for m in models},
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
    fig, axes = plt.subplots(
        1, len(columns), figsize=(3.0 * len(columns), 3.6), sharey=False, layout="constrained"
    )
    for ax, column in zip(np.atleast_1d(axes), columns):
        means = table[(column, "mean")].droplevel("framework")
        stds = table[(column, "std")].droplevel("framework").fillna(0)
        ax.bar(
            range(len(means)),
            means.values,
            yerr=stds.values,
            capsize=3,
            color=[MODEL_COLORS.get(m, "0.5") for m in means.index],  # never a framework colour
        )
        ax.set_xticks(range(len(means)), means.index, rotation=45, ha="right")
        ax.set(title=names[column], ylim=(0, 1))
    fig.suptitle(title)
    return fig


def genre_confusion(confusion, title):
    """Heatmap of a genre confusion matrix (true genre x predicted genre, counts summed over
    ``confusion.attrs["runs"]`` runs of the same test videos), each row normalised to 1 (the
    mean over runs of the row's rates); genres with no true video are left out and the row
    labels carry the test videos of each genre (per run, not summed over runs)."""
    runs = max(int(confusion.attrs.get("runs", 1)), 1)
    confusion = confusion.loc[confusion.sum(axis=1) > 0]
    rates = confusion.div(confusion.sum(axis=1), axis=0)
    rates.index = [f"{g} ({n / runs:g} videos)" for g, n in zip(rates.index, confusion.sum(axis=1))]
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


def framework_bars(
    runs, columns, names, models, figsize=None, legend_on=-1, title=None, log=False, by="framework"
):
    """One panel per column of ``runs`` (one row per run): a bar per model and framework in the
    framework colours, mean ± std over seeds.  ``names``: column -> panel title;
    ``figsize`` defaults to 3.3 wide per panel plus 2 for the legend; ``legend_on``: the
    index of the panel that carries the legend (beside it); ``log``: logarithmic value axes
    (speeds of video- and frame-level models differ by orders of magnitude: on a linear axis
    the slow ones vanish);
    ``by="engine"``: a bar per engine (Keras / TensorFlow, Keras / torch, PyTorch) instead."""
    if by == "engine":
        hue_order = [e for e in ENGINE_COLORS if e in set(runs["engine"])]
        palette = ENGINE_COLORS
    else:
        hue_order, palette = ["keras", "torch"], FRAMEWORK_COLORS
    # 3.3 inches per panel and 2 for the legend beside its panel
    figsize = (3.3 * len(columns) + 2.0, 3.8) if figsize is None else figsize
    fig, axes = plt.subplots(1, len(columns), figsize=figsize, layout="constrained")
    axes = np.atleast_1d(axes)
    for ax, column in zip(axes, columns):
        sns.barplot(
            data=runs,
            x="model",
            y=column,
            hue=by,
            order=models,
            hue_order=hue_order,
            palette=palette,
            errorbar="sd",
            capsize=0.15,
            ax=ax,
            legend=ax is axes[legend_on],
        )
        ax.set(title=names[column], xlabel="", ylabel="")
        if log:
            ax.set_yscale("log")
        ax.tick_params(axis="x", rotation=60)
    # beside its panel, not on it: bars start at 0, so a legend inside covers some of them
    sns.move_legend(axes[legend_on], "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
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
            # a run shorter than the sampling interval has one sample (taken on exit): a
            # line through one point draws nothing, so short series get markers
            style = {"color": FRAMEWORK_COLORS[framework], "label": framework}
            style |= {"marker": "o", "markersize": 4} if len(part) < 5 else {}
            axes[0, col].plot(part.t_s, part.cpu_percent, **style)
            axes[1, col].plot(part.t_s, part.rss_mb, **style)
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


def forest_plot(table, metric_names: dict, title: str, *, a: str = "keras", b: str = "torch"):
    """Paired differences a - b with their 95 % intervals, one row per model, one panel per
    metric, a zero line; filled markers where the Holm-corrected test detects a difference.
    ``table``: ``stats.compare_frameworks`` over a long frame (columns metric, model,
    mean_diff, ci_low, ci_high, verdict)."""
    metrics = list(dict.fromkeys(table["metric"]))
    label_inches = 0.075 * max(len(str(m)) for m in table["model"])  # the row labels' width
    fig, axes = plt.subplots(
        1,
        len(metrics),
        figsize=(
            max(6.0, 3.3 * len(metrics) + label_inches),
            0.45 * table["model"].nunique() + 1.6,
        ),
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    for ax, metric in zip(axes[0], metrics):
        part = table[table["metric"] == metric].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        detected = part["verdict"] != "no detectable difference"
        ax.axvline(0.0, color="0.3", lw=1)
        ax.errorbar(
            part["mean_diff"],
            y,
            xerr=[part["mean_diff"] - part["ci_low"], part["ci_high"] - part["mean_diff"]],
            fmt="none",
            ecolor="0.35",
            capsize=3,
        )
        ax.scatter(
            part["mean_diff"][~detected],
            y[~detected],
            facecolor="white",
            edgecolor="0.2",
            zorder=3,
            label="no detectable difference",
        )
        ax.scatter(
            part["mean_diff"][detected],
            y[detected],
            color="0.1",
            zorder=3,
            label="difference (Holm p < 0.05)",
        )
        ax.set_yticks(y, part["model"])
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_title(metric_names.get(metric, metric), fontsize=10)
        ax.set_xlabel(f"{FRAMEWORK_LABELS.get(a, a)} - {FRAMEWORK_LABELS.get(b, b)}")
        ax.grid(axis="y", visible=False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # under the figure in figure coordinates: one anchored to the figure's box would follow
    # save_fig's tight crop down onto the caption line
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=fig.transFigure,
        ncols=2,
        frameon=False,
        fontsize=8,
    )
    fig.suptitle(title)
    return fig


def learning_curves(summary, published, title: str):
    """Test GAP against training videos (log scale): one colour per model, one line style per
    framework (mean over seeds, bars: std), and the published full-data results as labelled
    dotted lines. ``summary``: ``learning_curves.summary``; ``published``: its PUBLISHED."""
    fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    for (framework, model), part in summary.groupby(["framework", "model"], sort=False):
        part = part.sort_values("train_videos")
        ax.errorbar(
            part["train_videos"],
            part["gap_mean"],
            yerr=part["gap_std"].fillna(0.0),
            color=MODEL_COLORS.get(model, "0.2"),
            linestyle=FRAMEWORK_LINESTYLES.get(framework, "-"),
            marker="o",
            ms=4,
            capsize=2,
            label=f"{model} ({FRAMEWORK_LABELS.get(framework, framework)})",
        )
    ax.set_xscale("log")
    right = ax.get_xlim()[1]
    for ref in published:
        ax.axhline(ref["gap"], color="0.55", linestyle=":", lw=1)
        ax.text(
            right,
            ref["gap"],
            f" {ref['label']}: {ref['gap']:.3f}",
            va="center",
            ha="left",
            fontsize=7,
            color="0.3",
            clip_on=False,
        )
    ax.set(xlabel="training videos (log scale)", ylabel="test GAP@20", title=title)
    ax.grid(axis="x", which="minor", visible=False)
    ax.legend(fontsize=8, loc="lower right")
    return fig


# --------------------------------------------------------------------------- autoencoder (02)
METHOD_COLORS = {"autoencoder": "#CC78BC", "pca": "#029E73"}  # neither a framework colour
METHOD_LABELS = {"autoencoder": "denoising autoencoder", "pca": "PCA (same size)"}
# chapter 02 is one framework's: its inputs, streams and levels never take the framework
# colours (colour-blind palette entries that no framework, engine or model uses)
FEATURE_COLORS = {"raw": "#949494", "autoencoder": METHOD_COLORS["autoencoder"]}
STREAM_COLORS = {"rgb": "#CA9161", "audio": "#029E73"}
LEVEL_COLORS = {"video": "#CA9161", "frame": "#949494"}


def label_row_blocks(ax, labels, min_rows: int = 3) -> None:
    """Name the runs of equal ``labels`` (one per image row, sorted) on the y axis of an
    ``imshow`` panel: a tick at the middle of every run of at least ``min_rows`` rows, a thin
    line between runs, and no grid over the cells."""
    labels = np.asarray(labels)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], len(labels)]
    big = [(a, b) for a, b in zip(starts, ends) if b - a >= min_rows]
    ax.set_yticks([(a + b - 1) / 2 for a, b in big], [str(labels[a]) for a, _ in big], fontsize=7)
    for start in starts[1:]:
        ax.axhline(start - 0.5, color="white", lw=0.6)
    ax.grid(False)


def code_size_sweep(sweep, title: str):
    """Share of the variance reconstructed against code size (log scale), one panel per
    stream, autoencoder against PCA; a dashed line marks the input size (left of it the code
    is undercomplete). ``sweep``: ``autoencoder_study.code_size_sweep``."""
    streams = list(dict.fromkeys(sweep["stream"]))
    fig, axes = plt.subplots(1, len(streams), figsize=(4.6 * len(streams), 3.8), sharey=True,
                             layout="constrained", squeeze=False)  # fmt: skip
    for ax, stream in zip(axes[0], streams):
        part = sweep[sweep["stream"] == stream]
        for method in METHOD_COLORS:
            rows = part[part["method"] == method].sort_values("code_size")
            ax.plot(rows["code_size"], rows["explained_share"], marker="o",
                    color=METHOD_COLORS[method], label=METHOD_LABELS[method])  # fmt: skip
        ax.axvline(part["input_dim"].iloc[0], color="0.4", linestyle="--", lw=1)
        ax.set_xscale("log", base=2)
        # below 0: a code reconstructs worse than the mean (an undertrained autoencoder)
        low = min(0.0, float(sweep["explained_share"].min())) - 0.02
        ax.set(title=f"{stream} ({part['input_dim'].iloc[0]} values; dashed: input size)",
               xlabel="code size (log2)", ylim=(low, 1.02))  # fmt: skip
    axes[0][0].set_ylabel("share of variance reconstructed")
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- genre chapter (08)
# The figures of "which genre is this video?": the frames come from yt8m_lib.genre_study.

FRAMEWORK_MARKERS = {"keras": "o", "torch": "s"}


def _group_label(model: str, framework: str, source: str | None = None) -> str:
    parts = [model, FRAMEWORK_LABELS.get(framework, framework)]
    return " · ".join(parts + ([source] if source else []))


def genre_sources(summary, baselines, metrics, names: dict, title: str, sources=None):
    """One panel per genre metric: for each source (a genre rule, or the trained ``head``)
    one point per model (colour) and framework (marker) at the mean over seeds, the black
    bar its 95 % t interval over seeds, the wide pale bar the 95 % bootstrap interval over
    test videos; the baselines as reference lines (the most frequent training genre, dashed;
    the strongest label-prior rule, dotted).  ``summary``: ``genre_study.summary_frame``;
    ``baselines``: ``genre_study.baselines_frame``."""
    sources = list(dict.fromkeys(summary["source"])) if sources is None else list(sources)
    groups = list(dict.fromkeys(zip(summary["model"], summary["framework"])))
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.6 * len(metrics) + 1.6, 3.9), layout="constrained"
    )
    axes = np.atleast_1d(axes)
    width = 0.8 / max(len(groups), 1)
    for ax, metric in zip(axes, metrics):
        part = summary[summary["metric"] == metric]
        for i, (model, framework) in enumerate(groups):
            rows = part[(part.model == model) & (part.framework == framework)]
            rows = rows.set_index("source").reindex(sources).dropna(subset=["mean"])
            x = (
                np.array([sources.index(s) for s in rows.index])
                + (i - (len(groups) - 1) / 2) * width
            )
            color = MODEL_COLORS.get(model, "0.4")
            ax.vlines(x, rows.video_ci_low, rows.video_ci_high, color=color, lw=5, alpha=0.3)
            ax.errorbar(
                x,
                rows["mean"],
                yerr=[
                    (rows["mean"] - rows.seed_ci_low).fillna(0).clip(lower=0),
                    (rows.seed_ci_high - rows["mean"]).fillna(0).clip(lower=0),
                ],
                fmt=FRAMEWORK_MARKERS.get(framework, "o"),
                color=color,
                ecolor="0.1",
                elinewidth=1,
                capsize=2,
                ms=5,
                label=_group_label(model, framework),
            )
        frequent = baselines[baselines["baseline"] == "most frequent genre"].iloc[0]
        prior = baselines[baselines["baseline"] == "label prior"]
        prior = prior.loc[prior[metric].idxmax()]
        ax.axhline(frequent[metric], color="0.3", ls="--", lw=1, label="most frequent genre")
        ax.axhline(prior[metric], color="0.3", ls=":", lw=1.2, label="label prior (best rule)")
        ax.set_xticks(range(len(sources)), sources, rotation=30, ha="right")
        ax.set(title=names.get(metric, metric), xlim=(-0.6, len(sources) - 0.4), ylim=(0, 1))
        ax.grid(axis="x", visible=False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", frameon=False, fontsize=8)
    fig.suptitle(title)
    return fig


def genre_heatmaps(per_genre, columns, title: str, values=("f1", "ap"), names=None):
    """Per-genre scores as annotated heatmaps, one panel per value (F1, AP): rows the genres
    that have test videos (with their videos), columns the ``columns`` (model, framework,
    source) triples; cells the mean over seeds, no grid.  ``per_genre``:
    ``genre_study.per_genre_frame``."""
    import pandas as pd

    names = {"f1": "F1 (majority genre)", "ap": "AP (genre set)"} if names is None else names
    genres = list(dict.fromkeys(per_genre["genre"]))
    first = per_genre.drop_duplicates("genre").set_index("genre").reindex(genres)
    genres = [g for g in genres if first.loc[g, "positives"] > 0]
    fig, axes = plt.subplots(
        1,
        len(values),
        figsize=(0.75 * len(columns) * len(values) + 4.5, 0.3 * len(genres) + 2.4),
        layout="constrained",
        sharey=True,
    )
    axes = np.atleast_1d(axes)
    for ax, value in zip(axes, values):
        table = {}
        for model, framework, source in columns:
            part = per_genre[
                (per_genre.model == model)
                & (per_genre.framework == framework)
                & (per_genre.source == source)
            ]
            table[_group_label(model, framework, source)] = part.set_index("genre")[value]
        frame = pd.DataFrame(table).reindex(genres)
        frame.index = [f"{g} ({int(first.loc[g, 'support'])})" for g in genres]
        sns.heatmap(
            frame,
            vmin=0,
            vmax=1,
            cmap="viridis",
            annot=True,
            fmt=".2f",
            annot_kws={"fontsize": 6},
            cbar=ax is axes[-1],
            cbar_kws={"shrink": 0.6},
            ax=ax,
            xticklabels=True,
            yticklabels=True,
        )
        ax.grid(False)
        ax.set(title=names.get(value, value), xlabel="", ylabel="")
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        ax.tick_params(axis="y", labelsize=7)
        for label in ax.get_xticklabels():
            label.set_ha("right")
    axes[0].set_ylabel("genre (test videos whose majority genre it is)")
    fig.suptitle(title)
    return fig


def genre_confusions(panels, title: str, ncols: int = 2):
    """Small multiples of genre confusion: one panel per (panel title, rates, counts), rows
    the true (majority) genres, columns the predicted genres; colour the row rate (mean over
    seeds, rows sum to 1), the number in a cell the videos per seed (mean over seeds, cells
    under 0.5 left blank).  ``rates``/``counts``: ``genre_study.confusion``."""
    panels = list(panels)
    ncols = min(ncols, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    rows = list(dict.fromkeys(g for _, rates, _ in panels for g in rates.index))
    predicted = {g for _, _, counts in panels for g in counts.columns[counts.sum(axis=0) > 0]}
    columns = rows + [g for g in panels[0][2].columns if g in predicted and g not in rows]
    size = 0.26 * len(columns) + 2.6
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols + 1.2, size * nrows),
        layout="constrained",
        squeeze=False,
    )
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    image = None
    for ax, (name, rates, counts) in zip(axes.ravel(), panels):
        rates = rates.reindex(index=rows, columns=columns).fillna(0.0)
        counts = counts.reindex(index=rows, columns=columns).fillna(0.0)
        text = counts.map(lambda v: "" if v < 0.5 else (f"{v:.0f}" if v >= 9.5 else f"{v:.1f}"))
        image = ax.imshow(rates.to_numpy(), vmin=0, vmax=1, cmap="viridis", aspect="equal")
        for (i, j), label in np.ndenumerate(text.to_numpy()):
            if label:
                ax.text(
                    j,
                    i,
                    label,
                    ha="center",
                    va="center",
                    fontsize=4.5,
                    color="black" if rates.iat[i, j] > 0.6 else "white",
                )
        ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=6)
        ax.set_yticks(range(len(rows)), rows, fontsize=6)
        ax.grid(False)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("predicted genre", fontsize=8)
        ax.set_ylabel("true (majority) genre", fontsize=8)
    fig.colorbar(
        image, ax=axes.ravel().tolist(), shrink=0.5, label="share of the row (mean over seeds)"
    )
    fig.suptitle(title)
    return fig
