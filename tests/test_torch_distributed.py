"""`torchrun --nproc_per_node 2 -m yt8m_lib train --framework torch ...` on CPU (gloo): both
ranks end with identical weights, and every training record is read exactly once per epoch,
also when the shards split unevenly between the ranks."""

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("torch_distributed")]

EPOCHS = 2


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from yt8m_lib.data.synthetic import generate

    out = tmp_path_factory.mktemp("synth")
    # 3 training shards over 2 ranks: rank 0 reads two files, rank 1 one (uneven on purpose)
    generate(out, profile="smoke", seed=0, progress=False, train_videos=60, validate_videos=16,
             test_videos=8, train_shards=3, validate_shards=1, test_shards=1,
             min_frames=10, max_frames=16)
    return out


def train_ids(data: Path) -> list[str]:
    from yt8m_lib.data.records import iter_examples

    return [ex.id for ex in iter_examples(sorted((data / "video").glob("train*")), "video")]


def test_two_processes_end_identical_and_read_each_record_once_per_epoch(tiny_data, tmp_path):
    run_dir, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    env = dict(os.environ, YT8M_DEBUG_READ_LOG=str(logs / "read"),
               YT8M_DEBUG_WEIGHTS=str(logs / "weights"), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "yt8m_lib", "train", "--framework", "torch",
               "--model", "fc", "--profile", "smoke", "--epochs", str(EPOCHS),
               "--train-data", str(tiny_data / "video" / "train*"),
               "--val-data", str(tiny_data / "video" / "validate*"),
               "--out", str(run_dir), "--device", "cpu", "--no-progress"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    weights = [torch.load(logs / f"weights.rank{r}.pt") for r in (0, 1)]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key  # BatchNorm buffers too

    reads = collections.defaultdict(list)  # epoch -> ids, over all ranks and workers
    per_rank = collections.Counter()
    for log in logs.glob("read.rank*"):
        for line in log.read_text().splitlines():
            epoch, video_id = line.split()
            reads[int(epoch)].append(video_id)
            per_rank[log.name.split(".")[1]] += 1
    expected = sorted(train_ids(tiny_data))
    assert sorted(reads) == list(range(EPOCHS))
    for epoch in range(EPOCHS):
        assert sorted(reads[epoch]) == expected, f"epoch {epoch}"
    assert per_rank["rank0"] != per_rank["rank1"]  # the uneven case really happened

    # only rank 0 writes: one record, one TensorBoard file, and it knows the world size
    from yt8m_lib.runs.run_record import read_run_record

    record = read_run_record(run_dir)
    assert record["distributed"]["world_size"] == 2
    assert record["distributed"]["backend"] == "gloo"
    assert len(record["history"]) == EPOCHS
    assert len(list((run_dir / "tensorboard").iterdir())) == 1
    assert torch.equal(torch.load(run_dir / "last.pt", weights_only=False)["model"]["classifier.weight"],
                       weights[0]["classifier.weight"])
