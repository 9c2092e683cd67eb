"""Two Keras workers on CPU (MultiWorkerMirroredStrategy configured by TF_CONFIG, the same
command line as a single process) end with identical weights."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from conftest import random_video_examples  # noqa: E402

from yt8m_lib.data.records import write_shard  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("keras_distributed")]
REPO = Path(__file__).resolve().parents[1]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_end_with_identical_weights(tmp_path):
    # uneven shards: the workers read different numbers of records, yet step together
    for i, n in enumerate((40, 24, 16)):
        write_shard(tmp_path / f"train{i}.tfrecord",
                    random_video_examples(n, num_classes=30, seed=i, prefix=f"t{i}_"))
    write_shard(tmp_path / "validate0.tfrecord",
                random_video_examples(20, num_classes=30, seed=9, prefix="v"))
    out = tmp_path / "run"
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    command = [sys.executable, "-m", "yt8m_lib", "train", "--framework", "keras",
               "--model", "fc", "--train-data", str(tmp_path / "train*.tfrecord"),
               "--val-data", str(tmp_path / "validate*.tfrecord"), "--out", str(out),
               "--profile", "smoke", "--epochs", "2", "--num-classes", "30",
               "--device", "cpu", "--no-progress"]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                   YT8M_DEBUG_WEIGHTS=str(tmp_path / "weights"),
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                         "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            pytest.fail("the workers did not finish (waiting for each other?)")
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]

    with np.load(tmp_path / "weights.rank0.npz") as a, np.load(tmp_path / "weights.rank1.npz") as b:
        keys = [k for k in a.files if k.startswith("v")]
        assert keys and keys == [k for k in b.files if k.startswith("v")]
        for key in keys:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)

    record = json.loads((out / "run.json").read_text())
    assert record["distributed"]["workers"] == 2 and record["distributed"]["world_size"] == 2
    assert record["distributed"]["backend"] == "MultiWorkerMirroredStrategy"
    assert record["distributed"]["per_rank_batch_size"] == 16  # the global 32, split
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    # the trained weights are the chief's checkpoint: the weights moved from their start
    assert record["history"][-1]["train_loss"] > 0
