"""Download a fraction of the real YouTube-8M dataset with the official protocol.

`yt8m download --partition 2/video/train --fraction 1/100 --mirror us --out DIR` does what
the official ``download.py`` (served at http://data.yt8m.org/download.py) does, with resume,
md5 checks that fail loudly and atomic writes:

1. Fetch the download plan ``http://data.yt8m.org/<ver>/download_plans/<level>_<split>.json``:
   a JSON object ``{"files": {"trainaA.tfrecord": "<md5 hex>", ...}}`` (a bare
   ``{name: md5}`` object is accepted too).
2. Keep file ``F`` iff ``int(md5(F).hexdigest(), 16) % Y == X - 1`` for ``--fraction X/Y``
   (the official ``shard=X,Y``). Each of the Y fractions is a disjoint, fixed set of shards.
3. Fetch ``http://<mirror>.data.yt8m.org/<partition>/<F>`` into ``DIR/<local>.part``, check
   its md5 against the plan, then rename it to its final name ``DIR/<split>%04d.tfrecord``.
   The official names are ``<split>`` + a two-character code (``aa`` … ``99`` over the
   alphabet a-z, A-Z, 0-9, so 62² = 3844 shards); the number is the code's position in that
   alphabet's product, exactly as the official script numbers them (``trainaa`` ->
   ``train0000.tfrecord``, ``trainab`` -> ``train0001``, …). Plans that already use four
   digits (``train0123.tfrecord``) keep their number. The number does not depend on the
   fraction, so fractions downloaded into one folder never collide.
4. ``vocabulary.csv`` from ``https://research.google.com/youtube8m/csv/<ver>/vocabulary.csv``
   (unless ``--no-vocabulary``).

Resume: a file already under its final name whose md5 matches the plan is skipped (the
verified md5 is remembered with the file's size and mtime in ``DIR/.yt8m_download_state.json``
so a second run does not re-hash terabytes); a ``.part`` file or a final file with a wrong
md5 is fetched again from the start. A dropped connection or an md5 mismatch is retried once;
then the file is reported, nothing corrupt is left under a final name, the other files still
download, and the command exits non-zero naming every failed file.

``--base-url URL`` replaces the scheme and host of all three servers and keeps the paths, so a
mirror (or a test server) must serve::

    URL/<ver>/download_plans/<level>_<split>.json     the plan
    URL/<ver>/<level>/<split>/<official file name>    the shards (= URL/<partition>/<file>)
    URL/youtube8m/csv/<ver>/vocabulary.csv            the vocabulary
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import os
import re
import string
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from yt8m_lib.errors import ConfigError, DataError

PLAN_HOST = "http://data.yt8m.org"
MIRROR_HOST = "http://{mirror}.data.yt8m.org"
VOCABULARY_HOST = "https://research.google.com"
MIRRORS = ("us", "eu", "asia")
LEVELS = ("video", "frame", "video_level", "frame_level")  # the last two: version 1 (2017)
SPLITS = ("train", "validate", "test")
STATE_FILE = ".yt8m_download_state.json"
TIMEOUT_S = 60  # per socket operation; a stalled mirror becomes a retry, not a hang
CHUNK = 1 << 20

# The official numbering of shard codes: 'aa', 'ab', …, '99' -> 0 … 3843.
_CODE_ALPHABET = string.ascii_lowercase + string.ascii_uppercase + string.digits
SHARD_CODE_INDEX = {"".join(pair): i
                    for i, pair in enumerate(itertools.product(_CODE_ALPHABET, repeat=2))}


@dataclass(frozen=True)
class Partition:
    version: str
    level: str
    split: str

    def __str__(self) -> str:
        return f"{self.version}/{self.level}/{self.split}"


@dataclass(frozen=True)
class PlannedFile:
    name: str  # official file name on the mirror
    md5: str
    local_name: str  # <split>%04d.tfrecord
    url: str


def parse_partition(text: str) -> Partition:
    parts = text.strip("/").split("/")
    if len(parts) != 3 or not parts[0].isdigit() or parts[1] not in LEVELS or parts[2] not in SPLITS:
        raise ConfigError(
            f"--partition {text!r}: expected VERSION/LEVEL/SPLIT such as 2/video/train, with "
            f"LEVEL in {', '.join(LEVELS)} and SPLIT in {', '.join(SPLITS)}")
    return Partition(*parts)


def parse_fraction(text: str) -> tuple[int, int]:
    """'X/Y' (or the official 'X,Y') -> (X, Y) with 1 <= X <= Y."""
    match = re.fullmatch(r"\s*(\d+)\s*[/,]\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ConfigError(f"--fraction {text!r}: expected X/Y with 1 <= X <= Y, e.g. 1/100")
    return int(match.group(1)), int(match.group(2))


def in_fraction(name: str, x: int, y: int) -> bool:
    """The official selection: the X-th of Y disjoint parts, by the md5 of the file name."""
    return int(hashlib.md5(name.encode("utf-8")).hexdigest(), 16) % y == x - 1


def local_name(name: str, split: str) -> str:
    """Official shard name -> '<split>%04d.tfrecord' (the official script's numbering)."""
    match = re.fullmatch(rf"{re.escape(split)}([A-Za-z0-9]+)\.tfrecord", name)
    if match:
        code = match.group(1)
        if code in SHARD_CODE_INDEX:
            return f"{split}{SHARD_CODE_INDEX[code]:04d}.tfrecord"
        if code.isdigit():
            return f"{split}{int(code):04d}.tfrecord"
    raise DataError(name, f"unexpected file name in the download plan (expected "
                          f"{split}XX.tfrecord or {split}NNNN.tfrecord)")


def plan_url(partition: Partition, base_url: str | None = None) -> str:
    host = base_url.rstrip("/") if base_url else PLAN_HOST
    return f"{host}/{partition.version}/download_plans/{partition.level}_{partition.split}.json"


def file_url(partition: Partition, name: str, mirror: str, base_url: str | None = None) -> str:
    host = base_url.rstrip("/") if base_url else MIRROR_HOST.format(mirror=mirror)
    return f"{host}/{partition}/{name}"


def vocabulary_url(partition: Partition, base_url: str | None = None) -> str:
    host = base_url.rstrip("/") if base_url else VOCABULARY_HOST
    return f"{host}/youtube8m/csv/{partition.version}/vocabulary.csv"


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class NotOnServerError(DataError):
    """HTTP 4xx: the file is not there (or not ours to read); retrying will not help."""


def _open(url: str, what: str):
    """urlopen with errors that name the file being fetched."""
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        kind = NotOnServerError if 400 <= error.code < 500 else DataError
        raise kind(what, f"HTTP {error.code} {error.reason} from {url}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(what, f"cannot reach {url}: {reason}") from None


def fetch_plan(partition: Partition, base_url: str | None = None) -> dict[str, str]:
    """The plan's {official file name: md5}."""
    url = plan_url(partition, base_url)
    name = url.rsplit("/", 1)[-1]
    with _open(url, name) as response:
        try:
            data = json.loads(response.read().decode("utf-8"))
        except (ValueError, http.client.HTTPException, OSError) as error:
            raise DataError(name, f"bad download plan from {url}: {error}") from None
    files = data.get("files", data) if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise DataError(name, f"bad download plan from {url}: expected {{'files': {{name: md5}}}}")
    return files


def select_files(plan: dict[str, str], partition: Partition, fraction: tuple[int, int],
                 mirror: str = "us", base_url: str | None = None) -> list[PlannedFile]:
    """The plan's files in the fraction, sorted by their local name."""
    x, y = fraction
    chosen, seen = [], {}
    for name in sorted(plan):
        local = local_name(name, partition.split)
        if local in seen:  # two plan names with the same number would overwrite each other
            raise DataError(name, f"same local name {local} as {seen[local]} in the download plan")
        seen[local] = name
        if in_fraction(name, x, y):
            chosen.append(PlannedFile(name, plan[name].lower(), local,
                                      file_url(partition, name, mirror, base_url)))
    return sorted(chosen, key=lambda f: f.local_name)


class _State:
    """Remembers verified files (name -> size, mtime, md5) so a resume need not re-hash them."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / STATE_FILE
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def is_verified(self, path: Path, md5: str) -> bool:
        if not path.is_file():
            return False
        stat = path.stat()
        entry = self.data.get(path.name)
        if entry and entry == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "md5": md5}:
            return True
        if md5_file(path) == md5:
            self.mark(path, md5)
            return True
        return False

    def mark(self, path: Path, md5: str) -> None:
        stat = path.stat()
        self.data[path.name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "md5": md5}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def _fetch_to(url: str, dest: Path, what: str, progress: bool) -> None:
    """Stream url into dest (a .part file); DataError on HTTP errors or a short/dropped body."""
    from tqdm.auto import tqdm

    with _open(url, what) as response:
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        received = 0
        with open(dest, "wb") as f, tqdm(total=expected, unit="B", unit_scale=True, desc=what,
                                         leave=False, disable=not progress) as bar:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (http.client.HTTPException, OSError) as error:
                    raise DataError(what, f"connection dropped after {received} bytes "
                                          f"from {url}: {error!r}") from None
                if not chunk:
                    break
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected is not None and received != expected:
        raise DataError(what, f"connection dropped: got {received} of {expected} bytes from {url}")


def download_file(planned: PlannedFile, out_dir: Path, state: _State, *, attempts: int = 2,
                  progress: bool = True) -> str:
    """Fetch one shard unless it is already verified: 'skipped' or 'downloaded'; DataError else."""
    final = out_dir / planned.local_name
    if state.is_verified(final, planned.md5):
        return "skipped"
    part = final.with_name(final.name + ".part")
    what = f"{planned.name} -> {final}"
    last_error = None
    for _ in range(attempts):
        try:
            _fetch_to(planned.url, part, what, progress)
        except NotOnServerError:
            part.unlink(missing_ok=True)
            raise
        except DataError as error:  # dropped connection, server error: try once more
            part.unlink(missing_ok=True)
            last_error = error
            continue
        actual = md5_file(part)
        if actual == planned.md5:
            os.replace(part, final)  # only a verified file ever gets its final name
            state.mark(final, planned.md5)
            return "downloaded"
        part.unlink(missing_ok=True)
        last_error = DataError(what, f"md5 mismatch: got {actual}, the plan says {planned.md5}")
    assert last_error is not None
    raise DataError(last_error.path, f"{last_error.problem} (after {attempts} attempts)")


def download_vocabulary(partition: Partition, out_dir: Path, base_url: str | None = None) -> Path:
    """vocabulary.csv into out_dir (kept if already there and non-empty)."""
    path = out_dir / "vocabulary.csv"
    if path.is_file() and path.stat().st_size > 0:
        return path
    url = vocabulary_url(partition, base_url)
    part = path.with_name(path.name + ".part")
    try:
        _fetch_to(url, part, "vocabulary.csv", progress=False)
        if not part.read_bytes().startswith(b"Index,"):
            raise DataError("vocabulary.csv", f"{url} did not return the vocabulary CSV")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path


def download(partition: str, out_dir, *, fraction: str = "1/1", mirror: str = "us",
             base_url: str | None = None, vocabulary: bool = True, dry_run: bool = False,
             progress: bool = True, out=None) -> dict:
    """Download (or, with dry_run, list) one fraction of one partition. Returns a summary dict.

    Raises DataError naming every file that failed after the others were attempted.
    """
    out = out or sys.stdout
    part = parse_partition(partition)
    x, y = parse_fraction(fraction)
    if mirror not in MIRRORS:
        raise ConfigError(f"--mirror {mirror!r}: choose from {', '.join(MIRRORS)}")
    out_dir = Path(out_dir)
    plan = fetch_plan(part, base_url)
    files = select_files(plan, part, (x, y), mirror, base_url)
    summary = {"partition": str(part), "fraction": f"{x}/{y}", "plan_url": plan_url(part, base_url),
               "plan_files": len(plan), "selected": [f.local_name for f in files],
               "downloaded": [], "skipped": [], "failed": {}}
    if dry_run:
        print(f"plan {summary['plan_url']}: {len(plan)} files, fraction {x}/{y} keeps {len(files)}",
              file=out)
        for f in files:
            there = "present" if (out_dir / f.local_name).is_file() else "missing"
            print(f"{f.url}  md5 {f.md5}  -> {out_dir / f.local_name}  ({there})", file=out)
        if vocabulary:
            print(f"{vocabulary_url(part, base_url)}  -> {out_dir / 'vocabulary.csv'}", file=out)
        return summary

    from tqdm.auto import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    # keep the plan beside the data: what was downloaded, with which checksums
    (out_dir / f"{str(part).replace('/', '_')}_download_plan.json").write_text(
        json.dumps({"files": plan}, indent=1, sort_keys=True))
    state = _State(out_dir)
    for f in tqdm(files, desc=f"{part} {x}/{y}", unit="file", disable=not progress):
        try:
            summary[download_file(f, out_dir, state, progress=progress)].append(f.local_name)
        except DataError as error:
            summary["failed"][f.name] = str(error)
            print(f"yt8m download: {error}", file=sys.stderr)
    if vocabulary:
        summary["vocabulary"] = str(download_vocabulary(part, out_dir, base_url))
    print(f"{part} {x}/{y}: {len(summary['downloaded'])} downloaded, {len(summary['skipped'])} "
          f"already verified, {len(summary['failed'])} failed, in {out_dir}", file=out)
    if summary["failed"]:
        names = ", ".join(summary["failed"])
        raise DataError(out_dir, f"{len(summary['failed'])} of {len(files)} files failed "
                                 f"(run again to resume): {names}")
    return summary


def cli_main(args) -> int:
    download(args.partition, args.out, fraction=args.fraction, mirror=args.mirror,
             base_url=args.base_url, vocabulary=not args.no_vocabulary, dry_run=args.dry_run)
    return 0
