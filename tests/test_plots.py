"""The figure style: distinct colours, and save_fig's PNG (300 dpi) + PDF pair."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from yt8m_lib import plots  # noqa: E402


def test_palette_starts_with_the_framework_colours_and_repeats_none():
    plots.set_style()
    palette = [c.lower() for c in sns.color_palette().as_hex()]
    assert palette[:2] == [plots.FRAMEWORK_COLORS["keras"].lower(),
                           plots.FRAMEWORK_COLORS["torch"].lower()]
    assert len(set(palette)) == len(palette)  # a third hue level never reuses keras' blue


def test_save_fig_writes_png_at_300_dpi_and_pdf(tmp_path):
    from PIL import Image

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    written = plots.save_fig(fig, "line", folder=tmp_path)
    assert sorted(p.name for p in written) == ["line.pdf", "line.png"]
    with Image.open(tmp_path / "line.png") as image:
        assert [round(d) for d in image.info["dpi"]] == [300, 300]
