"""Every path the project uses, anchored on the repository and overridable by environment variables.

| variable          | default                     | what                                    |
|-------------------|-----------------------------|-----------------------------------------|
| YT8M_DATA_DIR     | <repo>/data                 | root of all datasets                    |
| YT8M_SYNTH_DIR    | $YT8M_DATA_DIR/synthetic/<profile> | synthetic dataset of a profile   |
| YT8M_REAL_DIR     | ../shared/yt8m_real if present | real YouTube-8M shards (tests, demos) |
| YT8M_RESULTS_DIR  | <repo>/results              | run records, checkpoints, benchmarks    |
| YT8M_FIGURES_DIR  | <repo>/figures              | rendered figures                        |
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    return _env_path("YT8M_DATA_DIR", REPO_ROOT / "data")


def synth_dir(profile: str = "default") -> Path:
    return _env_path("YT8M_SYNTH_DIR", data_dir() / "synthetic" / profile)


def real_dir() -> Path | None:
    """The real sample shards, or None when they are not on this machine."""
    path = _env_path("YT8M_REAL_DIR", REPO_ROOT.parent / "shared" / "yt8m_real")
    return path if path.is_dir() else None


def results_dir() -> Path:
    return _env_path("YT8M_RESULTS_DIR", REPO_ROOT / "results")


def figures_dir() -> Path:
    return _env_path("YT8M_FIGURES_DIR", REPO_ROOT / "figures")
