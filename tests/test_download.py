"""`yt8m download`: the official protocol, tested offline against a real HTTP server on
127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading

import numpy as np
import pytest

from yt8m_lib.cli import main
from yt8m_lib.data import download as dl
from yt8m_lib.errors import ConfigError, DataError

VOCABULARY = (
    b"Index,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,Vertical2,Vertical3,"
    b"WikiDescription\n0,10,/m/x,Game,,Games,,,\n"
)


class FakeYt8m:
    """A tiny data.yt8m.org: serves url path -> bytes; can cut a file's first response short."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_once: set[str] = set()
        self.drop_always: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.drop_always or self.path in server.drop_once:
                    # promise the whole body, send half, hang up
                    server.drop_once.discard(self.path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def file_requests(self) -> list[str]:
        return [p for p in self.requests if p.endswith(".tfrecord")]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def official_names(n: int, split: str = "train") -> list[str]:
    codes = list(dl.SHARD_CODE_INDEX)
    picks = sorted(np.random.default_rng(1).choice(len(codes), n, replace=False))
    return [f"{split}{codes[i]}.tfrecord" for i in picks]


@pytest.fixture
def server():
    fake = FakeYt8m()
    yield fake
    fake.close()


@pytest.fixture
def partition(server):
    """2/video/train with 12 shards of random bytes and an honest plan."""
    rng = np.random.default_rng(0)
    contents = {name: rng.bytes(int(rng.integers(1000, 300_000))) for name in official_names(12)}
    plan = {name: hashlib.md5(body).hexdigest() for name, body in contents.items()}
    server.files["/2/download_plans/video_train.json"] = json.dumps({"files": plan}).encode()
    for name, body in contents.items():
        server.files[f"/2/video/train/{name}"] = body
    server.files["/youtube8m/csv/2/vocabulary.csv"] = VOCABULARY
    return contents


def run_cli(server, out, *extra):
    return main(
        [
            "download",
            "--partition",
            "2/video/train",
            "--out",
            str(out),
            "--base-url",
            server.url,
            *extra,
        ]
    )


def expected_local(name: str) -> str:
    return dl.local_name(name, "train")


# --- the protocol's arithmetic ---------------------------------------------------------


def test_fraction_is_the_official_md5_rule_and_splits_the_shards_disjointly():
    names = [f"train{code}.tfrecord" for code in dl.SHARD_CODE_INDEX]
    assert len(names) == 3844  # the number of shards of every 2018 partition
    y = 7
    parts = [{n for n in names if dl.in_fraction(n, x, y)} for x in range(1, y + 1)]
    assert sum(len(p) for p in parts) == len(names)  # every shard in exactly one fraction
    assert set().union(*parts) == set(names)
    assert all(0.8 * len(names) / y < len(p) < 1.2 * len(names) / y for p in parts)
    name = "trainaB.tfrecord"
    x = int(hashlib.md5(name.encode()).hexdigest(), 16) % 100 + 1
    assert dl.in_fraction(name, x, 100)
    assert not dl.in_fraction(name, x % 100 + 1, 100)
    assert all(dl.in_fraction(n, 1, 1) for n in names[:50])


def test_local_names_follow_the_official_numbering():
    assert dl.local_name("trainaa.tfrecord", "train") == "train0000.tfrecord"
    assert dl.local_name("trainab.tfrecord", "train") == "train0001.tfrecord"
    assert dl.local_name("trainba.tfrecord", "train") == "train0062.tfrecord"
    assert dl.local_name("validate99.tfrecord", "validate") == "validate3843.tfrecord"
    assert dl.local_name("test0123.tfrecord", "test") == "test0123.tfrecord"
    for bad in ("train/../x.tfrecord", "validateaa.tfrecord", "trainabc.tfrecord", "trainaa.csv"):
        with pytest.raises(DataError, match="unexpected file name"):
            dl.local_name(bad, "train")


def test_partition_and_fraction_parsing():
    assert dl.parse_partition("2/frame/validate") == dl.Partition("2", "frame", "validate")
    assert dl.parse_fraction("3/100") == (3, 100)
    assert dl.parse_fraction("3,100") == (3, 100)  # the official shard=X,Y spelling
    for bad in ("2/video", "2/audio/train", "x/video/train", "2/video/dev"):
        with pytest.raises(ConfigError):
            dl.parse_partition(bad)
    for bad in ("0/10", "11/10", "1", "a/b"):
        with pytest.raises(ConfigError):
            dl.parse_fraction(bad)


def test_urls_official_and_with_base_url():
    p = dl.parse_partition("2/frame/test")
    assert dl.plan_url(p) == "http://data.yt8m.org/2/download_plans/frame_test.json"
    assert (
        dl.file_url(p, "testaa.tfrecord", "eu")
        == "http://eu.data.yt8m.org/2/frame/test/testaa.tfrecord"
    )
    assert dl.vocabulary_url(p) == "https://research.google.com/youtube8m/csv/2/vocabulary.csv"
    base = "http://mirror.example/yt8m/"
    assert dl.plan_url(p, base) == "http://mirror.example/yt8m/2/download_plans/frame_test.json"
    assert (
        dl.file_url(p, "testaa.tfrecord", "us", base)
        == "http://mirror.example/yt8m/2/frame/test/testaa.tfrecord"
    )
    assert dl.vocabulary_url(p, base) == "http://mirror.example/yt8m/youtube8m/csv/2/vocabulary.csv"


# --- against the server -----------------------------------------------------------------


def test_downloads_a_fraction_verified_and_renamed(server, partition, tmp_path):
    out = tmp_path / "real"
    assert run_cli(server, out, "--fraction", "1/3") == 0
    wanted = {n for n in partition if dl.in_fraction(n, 1, 3)}
    assert 0 < len(wanted) < len(partition)
    assert sorted(p.name for p in out.glob("*.tfrecord")) == sorted(
        expected_local(n) for n in wanted
    )
    for name in wanted:
        assert (out / expected_local(name)).read_bytes() == partition[name]
    assert sorted(server.file_requests()) == sorted(f"/2/video/train/{n}" for n in wanted)
    assert (out / "vocabulary.csv").read_bytes() == VOCABULARY
    assert not list(out.glob("*.part"))


def test_dry_run_lists_the_plan_and_fetches_nothing(server, partition, tmp_path, capsys):
    out = tmp_path / "real"
    assert run_cli(server, out, "--dry-run") == 0
    printed = capsys.readouterr().out
    for name in partition:
        assert expected_local(name) in printed and name in printed
    assert "vocabulary.csv" in printed
    assert server.file_requests() == []
    assert not out.exists()


def test_corrupt_file_fails_after_one_retry_and_never_gets_its_final_name(
    server, partition, tmp_path, capsys
):
    bad = sorted(partition)[4]
    server.files[f"/2/video/train/{bad}"] = b"not the bytes the plan promised"
    out = tmp_path / "real"
    assert run_cli(server, out, "--no-vocabulary") != 0
    err = capsys.readouterr().err
    assert bad in err and "md5 mismatch" in err
    assert not (out / expected_local(bad)).exists()
    assert not list(out.glob("*.part"))
    assert server.file_requests().count(f"/2/video/train/{bad}") == 2  # one retry
    # every other file still arrived
    assert len(list(out.glob("*.tfrecord"))) == len(partition) - 1


def test_dropped_connection_is_retried(server, partition, tmp_path):
    name = sorted(partition)[2]
    server.drop_once.add(f"/2/video/train/{name}")
    out = tmp_path / "real"
    assert run_cli(server, out) == 0
    assert (out / expected_local(name)).read_bytes() == partition[name]
    assert server.file_requests().count(f"/2/video/train/{name}") == 2


def test_connection_dropped_twice_fails_naming_the_file(server, partition, tmp_path):
    name = sorted(partition)[2]
    path = f"/2/video/train/{name}"
    plan = dl.select_files(
        {name: hashlib.md5(partition[name]).hexdigest()},
        dl.parse_partition("2/video/train"),
        (1, 1),
        base_url=server.url,
    )
    state = dl._State(tmp_path)
    server.drop_always.add(path)
    with pytest.raises(DataError, match="connection dropped") as info:
        dl.download_file(plan[0], tmp_path, state, progress=False)
    assert name in str(info.value)
    assert not (tmp_path / expected_local(name)).exists()
    assert not list(tmp_path.glob("*.part"))
    assert server.file_requests() == [path, path]


def test_missing_file_is_an_http_error_without_retry(server, partition, tmp_path, capsys):
    gone = sorted(partition)[0]
    del server.files[f"/2/video/train/{gone}"]
    assert run_cli(server, tmp_path / "real", "--no-vocabulary") == 2
    err = capsys.readouterr().err
    assert gone in err and "HTTP 404" in err
    assert server.file_requests().count(f"/2/video/train/{gone}") == 1


def test_missing_plan_is_a_clear_error(server, tmp_path, capsys):
    assert run_cli(server, tmp_path / "real") == 2
    assert "video_train.json" in capsys.readouterr().err


def test_resume_skips_verified_files_and_refetches_partial_or_damaged_ones(
    server, partition, tmp_path
):
    out = tmp_path / "real"
    assert run_cli(server, out) == 0
    first = len(server.file_requests())
    assert first == len(partition)

    assert run_cli(server, out) == 0  # nothing to do
    assert len(server.file_requests()) == first

    names = sorted(partition)
    damaged, partial = names[1], names[3]
    (out / expected_local(damaged)).write_bytes(b"damaged")
    (out / expected_local(partial)).unlink()
    (out / (expected_local(partial) + ".part")).write_bytes(partition[partial][:10])
    (out / dl.STATE_FILE).unlink()  # verification must also work without the remembered state
    assert run_cli(server, out) == 0
    refetched = server.file_requests()[first:]
    assert sorted(refetched) == sorted(f"/2/video/train/{n}" for n in (damaged, partial))
    for name in (damaged, partial):
        assert (out / expected_local(name)).read_bytes() == partition[name]
    assert not list(out.glob("*.part"))
