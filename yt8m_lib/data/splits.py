"""A folder of real shards as a dataset: train / validate / test fixed by shard, in a manifest.

``yt8m real-data [FOLDER] --out data/real`` (``make data-real``) writes::

    OUT/split.json                      the split manifest (below)
    OUT/vocabulary.csv                  symlink to FOLDER's vocabulary, when it has one
    OUT/video/train0000.tfrecord ...    symlinks to FOLDER's shards: train*, validate*, test*

so that ``OUT`` reads like any dataset folder (``datasets.split_files``, the notebooks,
``yt8m train --train-data 'OUT/video/train*'``) and nothing is copied.

**The rule.** A shard is never divided, so no video is in two splits. The shards (every
``*.tfrecord`` in FOLDER and its ``video*/`` folders) are ordered by
``sha256(f"{seed}:{name}")`` of their file names, and the first ``train`` of that order
train, the next ``validate`` validate, the next ``test`` test; shards beyond the three
counts stay unused. The order depends on the shard names and the seed only: not on the
folder, the file system or a library's random generator (the order of two shards does
not even depend on the other shards). Counts: ``--split 60/10/10``, or by
default 6 : 1 : 1 of the shards (60 / 10 / 10 of 80). Inside a split the links are numbered
in the order of the shard names.

**Where selection happens.** Training reads ``train``; the trainers keep the epoch with the
best GAP on ``validate`` (and learning rate or early stopping choices use it too); ``test``
is scored once per finished run (``yt8m evaluate --split-name test``).

**The manifest** (``split.json``, ``format`` "yt8m-shard-split", ``version`` 1): ``source``
(the folder, absolute), ``level``, ``seed``, ``requested`` (the ``--split`` text or null),
``method`` (the rule in words), ``id`` (sha256 of the assignment: shard names and md5 per
split; the same on every machine), ``splits`` (per split: ``num_shards``, ``num_videos`` and
``shards``: ``name``, ``path`` relative to ``source``, ``link`` relative to the manifest,
``md5``, ``videos``), ``unused`` (shard names), ``totals`` (``shards``, ``videos``),
``md5_checked`` (shards whose md5 was checked against the folder's ``MD5SUMS``),
``vocabulary`` and ``made_by``. It holds no time stamp: the same folder, counts and seed give
the same bytes.

Every run record whose training shards sit under such a manifest carries ``data.split``
(``split_of``): the manifest's path, sha256, id, seed, shard and video counts per split and
which splits the run's training and validation files came from.

Imports no framework.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from yt8m_lib import __version__, paths
from yt8m_lib.data.download import md5_file
from yt8m_lib.errors import ConfigError, DataError

SPLITS = ("train", "validate", "test")
SPLIT_FILE = "split.json"
FORMAT = "yt8m-shard-split"
VERSION = 1
LEVEL = "video"
MD5SUMS = "MD5SUMS"
VOCABULARY = "vocabulary.csv"
DEFAULT_SHARES = (6, 1, 1)  # train : validate : test, when no --split is given
METHOD = (
    "shards ordered by sha256('<seed>:<file name>'); the first {train} train, the next "
    "{validate} validate, the next {test} test; a shard is never divided"
)
HOW_TO_GET = (
    "no real sample found: set YT8M_REAL_DIR=/path/to/yt8m_real (a folder of video-level "
    "shards), or download one: yt8m download --partition 2/video/validate --fraction 1/100 "
    "--out data/yt8m/video"
)


# --------------------------------------------------------------------------- the rule


def _absolute(path) -> Path:
    """An absolute, normalised path whose symlinks are kept (they are the split's names)."""
    return Path(os.path.abspath(path))


def find_shards(folder) -> list[Path]:
    """The video-level shards of a folder of real data (``*.tfrecord`` in it and in its
    ``video*/`` folders), in name order; ConfigError when there are none or two share a name."""
    folder = Path(folder)
    found = sorted(
        {p for pattern in ("*.tfrecord", "video*/*.tfrecord") for p in folder.glob(pattern)},
        key=lambda p: (p.name, str(p)),
    )
    if not found:
        raise ConfigError(f"{folder}: no .tfrecord shards (looked in ., video*/)")
    for a, b in zip(found, found[1:]):
        if a.name == b.name:
            raise ConfigError(f"{folder}: two shards named {a.name} ({a.parent}, {b.parent})")
    return found


def split_counts(text: str | None, available: int) -> dict[str, int]:
    """Shards per split: ``"60/10/10"`` (train/validate/test), or None for 6 : 1 : 1 of the
    ``available`` shards. ConfigError when a split would be empty or too many are asked."""
    if text is None:
        if available < 3:
            raise ConfigError(f"{available} shard(s) cannot be split into train, validate, test")
        held = max(1, round(available * DEFAULT_SHARES[1] / sum(DEFAULT_SHARES)))
        counts = (available - 2 * held, held, held)
    else:
        try:
            counts = tuple(int(part) for part in text.split("/"))
        except ValueError:
            counts = ()
        if len(counts) != 3:
            raise ConfigError(f"--split {text}: give three shard counts, TRAIN/VALIDATE/TEST")
    for split, count in zip(SPLITS, counts):
        if count < 1:
            raise ConfigError(f"--split {text}: the {split} split would have no shards")
    if sum(counts) > available:
        raise ConfigError(f"--split {text}: needs {sum(counts)} shards, the folder has {available}")
    return dict(zip(SPLITS, counts))


def shard_order(names, seed: int) -> list[str]:
    """The names in the split's order: by ``sha256(f"{seed}:{name}")``."""
    return sorted(names, key=lambda name: hashlib.sha256(f"{seed}:{name}".encode()).hexdigest())


def assign(names, counts: dict[str, int], seed: int) -> dict[str, list[str]]:
    """{split: shard names, in name order} and ``"unused"``: the rule of the module."""
    order = shard_order(names, seed)
    out, start = {}, 0
    for split in SPLITS:
        out[split] = sorted(order[start : start + counts[split]])
        start += counts[split]
    out["unused"] = sorted(order[start:])
    return out


# --------------------------------------------------------------------------- md5


def read_md5sums(folder) -> dict[str, str]:
    """{path relative to the folder: md5} of the folder's ``MD5SUMS`` (``md5sum`` output),
    or {} when it has none."""
    path = Path(folder) / MD5SUMS
    if not path.is_file():
        return {}
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or len(parts[0]) != 32:
                raise DataError(path, f"line {number} is not '<md5>  <file>'")
            sums[parts[1].lstrip("*").strip()] = parts[0].lower()
    return sums


# --------------------------------------------------------------------------- the manifest


def assignment_id(splits: dict) -> str:
    """sha256 of the shard names and md5s per split: names the split on any machine."""
    core = {s: [[x["name"], x["md5"]] for x in splits[s]["shards"]] for s in SPLITS}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def make_manifest(folder, split: str | None = None, seed: int = 0) -> dict:
    """The split manifest of a folder of real shards (md5 of every shard computed, and
    checked against the folder's MD5SUMS where it lists the shard)."""
    from yt8m_lib.data.records import count_records

    folder = _absolute(Path(folder).expanduser())
    shards = {p.name: p for p in find_shards(folder)}
    counts = split_counts(split, len(shards))
    assigned = assign(shards, counts, seed)
    sums = read_md5sums(folder)
    checked = 0
    splits = {}
    for name in SPLITS:
        entries = []
        for index, shard in enumerate(assigned[name]):
            path = shards[shard]
            relative = path.relative_to(folder).as_posix()
            md5 = md5_file(path)
            if relative in sums:
                checked += 1
                if sums[relative] != md5:
                    raise DataError(
                        path, f"md5 mismatch: {MD5SUMS} says {sums[relative]}, the file has {md5}"
                    )
            entries.append(
                {
                    "name": shard,
                    "path": relative,
                    "link": f"{LEVEL}/{name}{index:04d}.tfrecord",
                    "md5": md5,
                    "videos": count_records(path),
                }
            )
        splits[name] = {
            "num_shards": len(entries),
            "num_videos": sum(e["videos"] for e in entries),
            "shards": entries,
        }
    vocabulary = folder / VOCABULARY
    return {
        "format": FORMAT,
        "version": VERSION,
        "source": str(folder),
        "level": LEVEL,
        "seed": seed,
        "requested": split,
        "method": METHOD.format(**counts),
        "id": assignment_id(splits),
        "splits": splits,
        "unused": assigned["unused"],
        "totals": {
            "shards": sum(s["num_shards"] for s in splits.values()),
            "videos": sum(s["num_videos"] for s in splits.values()),
        },
        "md5_checked": checked,
        "vocabulary": VOCABULARY if vocabulary.is_file() else None,
        "made_by": f"yt8m real-data (yt8m_lib {__version__})",
    }


def write_manifest(manifest: dict, out_dir) -> Path:
    """``OUT/split.json``, written atomically; returns its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SPLIT_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def manifest_path(path) -> Path:
    """The manifest file: ``path`` itself, or ``path/split.json`` for a folder."""
    path = Path(path)
    return path / SPLIT_FILE if path.is_dir() else path


def read_manifest(path) -> dict:
    """A split manifest (file or the folder holding it), its format checked."""
    path = manifest_path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "split manifest not found (make one: yt8m real-data)") from None
    except (OSError, ValueError) as error:
        raise DataError(path, f"unreadable split manifest: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(path, f"not a split manifest (format is not {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise DataError(
            path, f"split manifest version {manifest.get('version')!r}, this code reads {VERSION}"
        )
    return manifest


def validate_manifest(manifest: dict, path, *, check_md5: bool = True) -> None:
    """DataError (one line) for an empty split, a shard in two splits, a missing shard, an
    md5 mismatch or a link that points elsewhere. ``path``: the manifest file."""
    path = manifest_path(path)
    source = Path(manifest["source"])
    seen: dict[str, str] = {}
    for split in SPLITS:
        shards = manifest.get("splits", {}).get(split, {}).get("shards") or []
        if not shards:
            raise DataError(path, f"split {split!r} has no shards")
        for shard in shards:
            name = shard["name"]
            if name in seen:
                raise DataError(path, f"shard {name} is in both {seen[name]} and {split}")
            seen[name] = split
            file = source / shard["path"]
            if not file.is_file():
                raise DataError(file, f"shard of the {split} split is missing (manifest {path})")
            if check_md5 and md5_file(file) != shard["md5"]:
                raise DataError(file, f"md5 mismatch: the manifest says {shard['md5']}")
            link = path.parent / shard["link"]
            if link.is_symlink() and Path(os.readlink(link)) != file:
                raise DataError(link, f"links to {os.readlink(link)}, the manifest says {file}")


def split_files(path) -> dict[str, list[Path]]:
    """{split: files} of a manifest: its links when they exist, else the source shards."""
    path = manifest_path(path)
    manifest = read_manifest(path)
    source = Path(manifest["source"])
    out = {}
    for split in SPLITS:
        out[split] = [
            path.parent / s["link"] if (path.parent / s["link"]).exists() else source / s["path"]
            for s in manifest["splits"][split]["shards"]
        ]
    return out


def link_shards(manifest: dict, out_dir) -> int:
    """Symlink every shard of the manifest (and the vocabulary) into ``out_dir``; earlier
    links of ``OUT/video/{train,validate,test}*`` go first. ConfigError when a regular file
    is in the way (downloaded data is never overwritten). Returns the number of links."""
    out = Path(out_dir)
    video = out / LEVEL
    video.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        for old in video.glob(f"{split}*.tfrecord"):
            if not old.is_symlink():
                raise ConfigError(f"{old}: a file, not a link, is in the way; use another --out")
            old.unlink()
    source = Path(manifest["source"])
    count = 0
    for split in SPLITS:
        for shard in manifest["splits"][split]["shards"]:
            (out / shard["link"]).symlink_to(source / shard["path"])
            count += 1
    if manifest.get("vocabulary"):
        target, link = source / manifest["vocabulary"], out / VOCABULARY
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise ConfigError(f"{link}: a file, not a link, is in the way; use another --out")
        link.symlink_to(target)
    return count


def make_real_data(
    folder, out_dir, *, split: str | None = None, seed: int = 0, links: bool = True
) -> Path:
    """``yt8m real-data``: the manifest of ``folder`` in ``out_dir`` (and the links)."""
    folder = _absolute(Path(folder).expanduser())
    out = _absolute(Path(out_dir).expanduser())
    if out == folder:
        raise ConfigError(f"--out {out_dir} is the source folder; choose another one")
    manifest = make_manifest(folder, split, seed)
    path = write_manifest(manifest, out)
    if links:
        link_shards(manifest, out)
    validate_manifest(manifest, path, check_md5=False)  # md5s were checked as they were made
    return path


# --------------------------------------------------------------------------- run records


def sha256_file(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split_of(train_paths, val_paths=()) -> dict | None:
    """What a run record keeps as ``data.split``: the manifest found beside the training
    shards or one folder up (None when there is none), its sha256 and id, the seed, shards
    and videos per split, and which splits the training and validation files are from
    ("unlisted" for a file the manifest does not name)."""
    from yt8m_lib.data.records import expand_paths

    train = [_absolute(p) for p in expand_paths(train_paths)] if train_paths else []
    if not train:
        return None
    path = next(
        (
            folder / SPLIT_FILE
            for folder in (train[0].parent, train[0].parent.parent)
            if (folder / SPLIT_FILE).is_file()
        ),
        None,
    )
    if path is None:
        return None
    manifest = read_manifest(path)
    by_link = {
        _absolute(path.parent / s["link"]): split
        for split in SPLITS
        for s in manifest["splits"][split]["shards"]
    }

    def splits_of(files):
        return sorted({by_link.get(_absolute(f), "unlisted") for f in files})

    val = expand_paths(val_paths) if val_paths else []
    return {
        "manifest": str(_absolute(path)),
        "sha256": sha256_file(path),
        "id": manifest["id"],
        "seed": manifest["seed"],
        "shards": {s: manifest["splits"][s]["num_shards"] for s in SPLITS},
        "videos": {s: manifest["splits"][s]["num_videos"] for s in SPLITS},
        "train_from": splits_of(train),
        "val_from": splits_of(val),
    }


# --------------------------------------------------------------------------- the command


def cli_main(args) -> int:
    folder = args.folder or paths.real_dir()
    if folder is None:
        raise ConfigError(HOW_TO_GET)
    if not Path(folder).is_dir():
        raise ConfigError(f"{folder}: no such folder. {HOW_TO_GET}")
    path = make_real_data(
        folder, args.out, split=args.split, seed=args.split_seed, links=not args.no_links
    )
    manifest = read_manifest(path)
    counts = ", ".join(
        f"{s} {manifest['splits'][s]['num_shards']} shards / "
        f"{manifest['splits'][s]['num_videos']} videos"
        for s in SPLITS
    )
    unused = f", {len(manifest['unused'])} unused" if manifest["unused"] else ""
    print(f"{path}: {counts}{unused} (seed {manifest['seed']}, id {manifest['id'][:12]})")
    return 0
