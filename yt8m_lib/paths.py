"""Every path the project uses, anchored on the project root, each overridable by a variable.

| variable          | default                            | what                                  |
|-------------------|------------------------------------|---------------------------------------|
| YT8M_HOME         | see ``project_root``               | the root the defaults below start at  |
| YT8M_DATA_DIR     | <root>/data                        | root of all datasets                  |
| YT8M_SYNTH_DIR    | $YT8M_DATA_DIR/synthetic/<profile> | synthetic dataset of a profile        |
| YT8M_REAL_DIR     | <root>/../shared/yt8m_real if present | real YouTube-8M shards (tests)       |
| YT8M_RESULTS_DIR  | <root>/results                     | run records, checkpoints, benchmarks  |
| YT8M_FIGURES_DIR  | <root>/figures                     | rendered figures                      |

Every variable is read when a path is asked for, not at import, so a notebook or a test may
set one at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def checkout_root() -> Path | None:
    """The source checkout this package is imported from (the folder holding it beside a
    pyproject.toml), or None for an installed copy (site-packages has no project)."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


def project_root() -> Path:
    """Where data/, results/ and figures/ live by default: ``$YT8M_HOME``, else the checkout
    the package runs from, else the current folder (an installed package has no checkout)."""
    return _env_path("YT8M_HOME", checkout_root() or Path.cwd().resolve())


def data_dir() -> Path:
    return _env_path("YT8M_DATA_DIR", project_root() / "data")


def synth_dir(profile: str = "default") -> Path:
    return _env_path("YT8M_SYNTH_DIR", data_dir() / "synthetic" / profile)


def real_dir() -> Path | None:
    """The real sample shards, or None when they are not on this machine."""
    path = _env_path("YT8M_REAL_DIR", project_root().parent / "shared" / "yt8m_real")
    return path if path.is_dir() else None


def results_dir() -> Path:
    return _env_path("YT8M_RESULTS_DIR", project_root() / "results")


def figures_dir() -> Path:
    return _env_path("YT8M_FIGURES_DIR", project_root() / "figures")
