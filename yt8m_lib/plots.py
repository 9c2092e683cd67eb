"""One figure style for every notebook, and one ``save_fig``.

Keras and PyTorch keep the same colour in every figure (``FRAMEWORK_COLORS``; from the
colour-blind-safe seaborn palette), and models keep the same order (``MODEL_ORDER``).
``save_fig`` writes ``figures/NAME.png`` (300 dpi) and ``figures/NAME.pdf`` through
``fig.savefig`` only, so it works under any matplotlib backend (Agg in tests and papermill).
"""

from __future__ import annotations

from pathlib import Path

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
    import seaborn as sns

    framework_colors = [FRAMEWORK_COLORS["keras"], FRAMEWORK_COLORS["torch"]]
    # seaborn writes hex in lower case: compare so, or its blue comes back as a third colour
    taken = {c.lower() for c in framework_colors}
    palette = framework_colors + [
        c for c in sns.color_palette("colorblind").as_hex() if c.lower() not in taken]
    sns.set_theme(context=context, style="whitegrid", palette=palette,
                  rc={"figure.dpi": 100, "savefig.dpi": DPI, "axes.titleweight": "bold"})


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
