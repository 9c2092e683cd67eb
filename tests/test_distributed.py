"""Two processes on the CPU, each framework's way (torchrun + DistributedDataParallel on
gloo; two TF_CONFIG workers + MultiWorkerMirroredStrategy; Keras on the torch backend under
torchrun, its gradients averaged by one all-reduce), through the one epoch loop: both
end with identical weights (BatchNorm statistics too), no video is trained on twice in an
epoch, and only the main process writes the run folder. The training shards split unevenly
on purpose: PyTorch joins (every video trained on once), Keras steps together and counts the
batches the larger share skips."""

import collections
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import random_video_examples

from yt8m_lib.data.records import reader_count, write_shard

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("distributed")]
REPO = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(__file__).with_name("distributed_run.py"))
EPOCHS = 2


@pytest.fixture(scope="module")
def uneven_data(tmp_path_factory):
    # 3 training shards over 2 readers: one reads two of them, the other one; never equal
    folder = tmp_path_factory.mktemp("uneven")
    for i, n in enumerate((40, 24, 8)):
        write_shard(
            folder / f"train{i}.tfrecord",
            random_video_examples(n, num_classes=30, seed=i, prefix=f"t{i}_"),
        )
    write_shard(
        folder / "validate0.tfrecord", random_video_examples(20, num_classes=30, seed=9, prefix="v")
    )
    return folder


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def launch(framework, arguments, env):
    if framework in ("torch", "keras-torch"):  # torchrun
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            SCRIPT,
            *arguments,
        ]
        done = subprocess.run(
            command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300
        )
        return [(done.returncode, done.stdout + done.stderr)]
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        worker_env = dict(
            env,
            TF_CONFIG=json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            ),
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, SCRIPT, *arguments],
                cwd=REPO,
                env=worker_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    results = []
    for process in processes:
        try:
            results.append((process.wait(timeout=300), process.stdout.read()))
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            pytest.fail("the workers did not finish (waiting for each other?)")
    return results


def weights_of(path: Path) -> dict:
    if path.suffix == ".pt":
        import torch

        return {k: v.numpy() for k, v in torch.load(path)["model"].items()}
    with np.load(path) as saved:
        return {k: saved[k] for k in saved.files if k.startswith("v")}


@pytest.mark.parametrize("framework", ["torch", "keras", "keras-torch"])
def test_two_processes_end_identical_and_train_on_each_video_at_most_once(
    framework, uneven_data, tmp_path
):
    pytest.importorskip("tensorflow" if framework == "keras" else "torch")
    run_dir, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    backend = ["--keras-backend", "torch"] if framework == "keras-torch" else []
    arguments = [
        *backend,
        "--framework",
        framework.split("-")[0],
        "--model",
        "fc",
        "--epochs",
        str(EPOCHS),
        "--train",
        str(uneven_data / "train*.tfrecord"),
        "--val",
        str(uneven_data / "validate*.tfrecord"),
        "--out",
        str(run_dir),
        "--trace-dir",
        str(logs),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    for code, output in launch(framework, arguments, env):
        assert code == 0, output[-3000:]

    best = "best.pt" if framework == "torch" else "best.npz"
    first, second = (weights_of(logs / f"rank{r}.{best}") for r in (0, 1))
    assert first and first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)

    trained = collections.defaultdict(list)  # epoch -> ids, over both processes
    per_rank = collections.Counter()  # (rank, epoch) -> videos trained on
    for rank in (0, 1):
        for epoch, video_id in json.loads((logs / f"rank{rank}.ids.json").read_text()):
            trained[epoch].append(video_id)
            per_rank[rank, epoch] += 1
    assert sorted(trained) == list(range(EPOCHS))
    record = json.loads((run_dir / "run.json").read_text())
    expected_skips = 0
    for epoch in range(EPOCHS):
        assert len(set(trained[epoch])) == len(trained[epoch]), "a video trained on twice"
        shares = [
            reader_count(
                sorted(uneven_data.glob("train*")),
                seed=0,
                epoch=epoch,
                reader_index=r,
                num_readers=2,
            )
            for r in (0, 1)
        ]
        steps = [-(-n // 16) for n in shares]
        if framework != "keras":  # DDP join (shadow steps): every video, once, though the
            # shares differ
            assert len(trained[epoch]) == 72
            assert per_rank[0, epoch] == shares[0] != per_rank[1, epoch] == shares[1]
        else:  # the same number of steps on both workers: the smaller share's
            assert len(trained[epoch]) == sum(min(n, min(steps) * 16) for n in shares)
            expected_skips += sum(s - min(steps) for s in steps)
    assert record["skipped_batches"]["uneven_shards"] == expected_skips
    assert expected_skips > 0 or framework != "keras"
    if framework == "keras-torch":
        assert record["keras_backend"] == "torch"
        assert record["distributed"]["backend"] == "gloo"

    # only the main process writes: one record, one TensorBoard file, the world it ran in
    assert record["distributed"]["world_size"] == 2
    assert record["distributed"]["per_rank_batch_size"] == 16  # the smoke profile's 32, split
    assert len(record["history"]) == EPOCHS
    assert len(list((run_dir / "tensorboard").iterdir())) == 1
    assert not (run_dir / ".lock").exists()
    assert not list(run_dir.glob(".worker*"))
