"""Finding a dataset: its folder, its shards per split, its vocabulary and its manifest.

The one place that knows where things sit in a dataset folder, for the notebooks (which name
a folder) and for the CLI commands (which name shard files):

* synthetic data (``yt8m synth``): ``<dir>/manifest.json``, ``<dir>/vocabulary.csv``,
  ``<dir>/<level>/<split>NNNN.tfrecord``;
* real data: ``<dir>/vocabulary.csv`` when there is one, and the shards in
  ``<dir>/<level>_<split>/*.tfrecord`` (the real sample) or ``<dir>/<level>/<split>*.tfrecord``
  (``yt8m download --out <dir>/<level>``).

Imports no framework.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from yt8m_lib import paths
from yt8m_lib.errors import DataError

SPLITS = ("train", "validate", "test")
VOCABULARY_FILE = "vocabulary.csv"
MANIFEST_FILE = "manifest.json"
# the share of the real validate sample given to each split when a folder holds one split only
SINGLE_SPLIT_SHARES = {"train": 0.8, "validate": 0.1, "test": 0.1}


# --------------------------------------------------------------------------- the folder


def ensure_synthetic_data(
    profile: str = "default", seed: int = 0, out_dir=None, progress: bool = False
) -> Path:
    """The synthetic dataset of a profile, generated once (``make data`` writes the same)."""
    out = Path(out_dir) if out_dir is not None else paths.synth_dir(profile)
    if not (out / MANIFEST_FILE).is_file():
        from yt8m_lib.data.synthetic import generate

        generate(out, profile=profile, seed=seed, progress=progress)
    return out


def resolve_data_dir(data_dir, profile: str, seed: int = 0) -> Path:
    """A notebook's ``data_dir`` parameter: None -> the profile's synthetic data (made if
    missing), or for the ``real`` profile the real split ``data/real`` (``make data-real``);
    otherwise the folder given (real shards), which must exist."""
    if data_dir is None and profile == "real":
        data_dir = paths.data_dir() / "real"
        if not (data_dir / "split.json").is_file():
            raise FileNotFoundError(
                f"the real profile reads the real split {data_dir}: make it with `make data-real`"
            )
    if data_dir is None:
        return ensure_synthetic_data(profile, seed)
    path = Path(data_dir).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"data folder {path} does not exist")
    return path


def data_tag(data_dir) -> str:
    """Names a dataset in the results layout: ``synthetic-<profile>`` or the folder's name."""
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    if manifest is not None:
        return f"synthetic-{manifest.get('profile', data_dir.name)}"
    return data_dir.name


# --------------------------------------------------------------------------- vocabulary, manifest


def find_in_dataset(data, name: str) -> Path | None:
    """The file ``name`` of a dataset, or None.

    ``data`` is the dataset folder itself, or a list of its shard files: then the file is
    looked for beside the shards and in the folder above them, which is the dataset folder
    in every layout (``<dir>/<level>/...`` and ``<dir>/<level>_<split>/...``).
    """
    if isinstance(data, (str, os.PathLike)):
        folders = [Path(data)]
    else:
        first = Path(data[0]).resolve()
        folders = [first.parent, first.parent.parent]
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    return None


def vocabulary_path(data) -> Path | None:
    """The dataset's ``vocabulary.csv`` (``data``: folder or shard files), or None."""
    return find_in_dataset(data, VOCABULARY_FILE)


def resolve_vocabulary(vocabulary, data_paths) -> Path | None:
    """The vocabulary given (which must exist), else the dataset's own, else None."""
    if vocabulary:
        path = Path(vocabulary)
        if not path.is_file():
            raise DataError(path, "vocabulary file not found")
        return path.resolve()
    return vocabulary_path(data_paths)


def load_vocabulary(data_dir, num_classes: int | None = None):
    """The dataset's vocabulary (genres), or the synthetic fallback when there is no csv."""
    from yt8m_lib.evaluation.genres import Vocabulary

    path = vocabulary_path(data_dir)
    if path is not None:
        return Vocabulary.load(path)
    if num_classes is None:
        raise FileNotFoundError(f"no {VOCABULARY_FILE} in {data_dir} and no num_classes given")
    return Vocabulary.synthetic(num_classes)


def load_manifest(data) -> dict | None:
    """The synthetic manifest (``data``: folder or shard files), or None for real data."""
    path = find_in_dataset(data, MANIFEST_FILE)
    return json.loads(path.read_text(encoding="utf-8")) if path is not None else None


def manifest_classes(data) -> int | None:
    """The number of classes the synthetic manifest states, or None (no or unreadable one)."""
    try:
        manifest = load_manifest(data)
        return None if manifest is None else int(manifest["num_classes"])
    except (ValueError, KeyError, TypeError):
        return None


def num_classes_of(data_dir) -> int:
    """The dataset's number of classes: the manifest's, else the vocabulary's rows."""
    manifest = load_manifest(data_dir)
    if manifest is not None:
        return int(manifest["num_classes"])
    if vocabulary_path(data_dir) is None:
        raise FileNotFoundError(f"{data_dir}: no {MANIFEST_FILE} and no {VOCABULARY_FILE}")
    return load_vocabulary(data_dir).num_classes


# --------------------------------------------------------------------------- shards and examples


def split_files(data_dir, level: str) -> dict[str, list[Path]]:
    """The shards of each split at one level.

    Layouts: ``<dir>/<level>/<split>NNNN.tfrecord`` (synthetic data, ``yt8m download --out
    <dir>/<level>``) or ``<dir>/<level>_<split>/*.tfrecord`` (the real sample). When only one
    split is present (the real video-level *validate* sample), its shards are divided by
    file, in name order: 80 % train, 10 % validate, 10 % test, so that nothing is scored on
    videos it was trained on. Splits without files are absent from the result.
    """
    data_dir = Path(data_dir)
    found = {}
    for split in SPLITS:
        files = sorted((data_dir / level).glob(f"{split}*.tfrecord"))
        files += sorted((data_dir / f"{level}_{split}").glob("*.tfrecord"))
        if files:
            found[split] = files
    if len(found) == 1:
        (files,) = found.values()
        if len(files) < 3:
            raise ValueError(
                f"{data_dir}: one split of {len(files)} file(s) cannot be divided "
                "into train, validate and test"
            )
        n_val = max(1, round(len(files) * SINGLE_SPLIT_SHARES["validate"]))
        n_test = max(1, round(len(files) * SINGLE_SPLIT_SHARES["test"]))
        n_train = len(files) - n_val - n_test
        found = {
            "train": files[:n_train],
            "validate": files[n_train : n_train + n_val],
            "test": files[n_train + n_val :],
        }
    return found


def read_split(files, level: str, num_classes: int | None = None, max_videos: int | None = None):
    """The examples of some shards as a list (for exploration; training streams instead)."""
    from yt8m_lib.data.records import iter_examples

    out = []
    for example in iter_examples([str(f) for f in files], level, num_classes=num_classes):
        out.append(example)
        if max_videos is not None and len(out) >= max_videos:
            break
    return out


def label_matrix(examples, num_classes: int) -> np.ndarray:
    """(N, C) uint8 multi-hot labels of a list of examples."""
    y = np.zeros((len(examples), num_classes), dtype=np.uint8)
    for row, ex in enumerate(examples):
        y[row, ex.labels] = 1
    return y


def read_labels(paths, level: str, num_classes: int) -> tuple[list[str], np.ndarray]:
    """(video ids, (N, C) bool labels) of the videos in ``paths``, in file order: the labels
    alone (one frame parsed per video), for analyses of a run's test predictions."""
    from yt8m_lib.data.records import iter_examples

    ids, labels = [], []
    for example in iter_examples(
        [str(p) for p in paths], level, num_classes=num_classes, verify_crc=False, max_frames=1
    ):
        ids.append(str(example.id))
        row = np.zeros(num_classes, dtype=bool)
        row[np.asarray(example.labels, dtype=np.int64)] = True
        labels.append(row)
    return ids, np.array(labels).reshape(len(ids), num_classes)
