"""yt8m_lib.launch: multi-process runs (PyTorch DDP under torchrun, Keras multi-worker
with TF_CONFIG) through the real trainer's command line.

The processes are replaced by a fake that writes the chief's run record, so these tests
check each launch's command lines and environments, and the reuse of its runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from conftest import empty_dataset

from yt8m_lib import launch, paths


def option(command, name):
    return command[command.index(name) + 1]


@pytest.fixture
def fake_launch(monkeypatch):
    """Stands in for the processes: records each launch's (command, env) list and, like the
    chief of a real run, writes a run record into the ``--out`` folder."""
    launches = []
    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # 4 cores, whatever this machine has

    def run(jobs, timeout_s=None):
        launches.append(jobs)
        command = jobs[0][0]
        out = Path(option(command, "--out"))
        out.mkdir(parents=True, exist_ok=True)
        framework = option(command, "--framework")
        (out / "run.json").write_text(
            json.dumps(
                {
                    "framework": framework,
                    "model": option(command, "--model"),
                    "distributed": {"world_size": len(jobs) if framework == "keras" else 2},
                    "history": [{"epoch": 1, "val_gap": 0.1}],
                }
            )
        )
        return [(0, "")] * len(jobs)

    monkeypatch.setattr(launch, "_run_processes", run)
    return launches


def test_keras_multiworker_starts_one_trainer_per_worker_with_its_own_tf_config(
    tmp_path, fake_launch
):
    data = empty_dataset(tmp_path / "data")
    record = launch.run_keras_multiworker(
        "fc",
        2,
        profile="smoke",
        data_dir=data,
        results_dir=tmp_path / "results",
        epochs=3,
        verbose=False,
    )
    run_dir = tmp_path / "results/scaling/smoke/synthetic-smoke/keras-multiworker/fc-world2-seed0"
    assert record["run_dir"] == str(run_dir)
    (jobs,) = fake_launch
    assert len(jobs) == 2
    (command, env0), (command1, env1) = jobs
    assert command == command1  # the same command line; only TF_CONFIG differs
    assert command[1:5] == ["-m", "yt8m_lib", "train", "--framework"]
    assert option(command, "--framework") == "keras" and option(command, "--model") == "fc"
    assert option(command, "--out") == str(run_dir) and option(command, "--epochs") == "3"
    assert option(command, "--profile") == "smoke" and option(command, "--num-classes") == "5"
    assert option(command, "--train-data") == str(data / "video" / "train*.tfrecord")
    assert option(command, "--device") == "cpu"
    assert "--no-resume" not in command
    configs = [json.loads(env["TF_CONFIG"]) for env in (env0, env1)]
    assert [c["task"] for c in configs] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
    ]
    workers = configs[0]["cluster"]["worker"]
    assert configs[1]["cluster"]["worker"] == workers and len(set(workers)) == 2
    assert all(w.startswith("127.0.0.1:") and int(w.split(":")[1]) > 0 for w in workers)
    # 4 cores shared by 2 workers: every thread pool of each process gets 2
    for env in (env0, env1):
        assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == "2"
        assert env["TF_NUM_INTEROP_THREADS"] == "2"


def test_one_keras_worker_runs_without_tf_config_and_gets_every_core(
    tmp_path, fake_launch, monkeypatch
):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["elsewhere:1", "elsewhere:2"]}}')
    data = empty_dataset(tmp_path / "data")
    launch.run_keras_multiworker(
        "fc", 1, profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False
    )
    ((job,),) = fake_launch
    command, env = job
    assert "TF_CONFIG" not in env  # a stray cluster spec would make it wait for workers
    assert env["TF_NUM_INTRAOP_THREADS"] == "4"


def test_multiprocess_runs_are_reused_and_forced_runs_start_afresh(tmp_path, fake_launch):
    data = empty_dataset(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    launch.run_keras_multiworker("fc", 2, **kwargs)
    launch.run_keras_multiworker("fc", 2, **kwargs)
    assert len(fake_launch) == 1  # the second call found the record
    launch.run_torch_ddp("fc", 2, **kwargs)
    assert len(fake_launch) == 2  # another framework, another run folder
    launch.run_keras_multiworker("fc", 2, force=True, **kwargs)
    assert len(fake_launch) == 3 and "--no-resume" in fake_launch[-1][0][0]


def test_torch_ddp_is_one_torchrun_with_the_same_trainer_arguments(tmp_path, fake_launch):
    data = empty_dataset(tmp_path / "data")
    launch.run_torch_ddp(
        "fc", 2, profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False
    )
    ((job,),) = fake_launch
    command, env = job
    assert command[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert command[5:10] == ["-m", "yt8m_lib", "train", "--framework", "torch"]
    assert env["OMP_NUM_THREADS"] == "2" and "TF_CONFIG" not in env
    assert option(command, "--out").endswith(
        "/scaling/smoke/synthetic-smoke/torch-ddp/fc-world2-seed0"
    )


def test_a_failing_worker_is_reported_with_its_output(tmp_path, monkeypatch):
    monkeypatch.setattr(
        launch, "_run_processes", lambda jobs, timeout_s=None: [(0, ""), (1, "worker 1 says boom")]
    )
    data = empty_dataset(tmp_path / "data")
    with pytest.raises(RuntimeError, match="(?s)process 1, exit 1.*boom"):
        launch.run_keras_multiworker(
            "fc", 2, profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False
        )


def test_when_one_process_fails_the_others_are_stopped_instead_of_awaited():
    env = dict(os.environ)
    start = time.monotonic()
    results = launch._run_processes(
        [
            ([sys.executable, "-c", "print('bad input'); raise SystemExit(3)"], env),
            ([sys.executable, "-c", "import time; time.sleep(60)"], env),
        ]
    )
    assert time.monotonic() - start < 30
    assert results[0] == (3, "bad input\n")
    assert results[1][0] != 0  # killed


def test_every_process_imports_this_copy_of_the_package(monkeypatch):
    """The trainer processes run ``python -m yt8m_lib`` from any folder: the folder holding
    this package comes first on their import path, before what the caller had there."""
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = launch._process_env(2)
    assert env["PYTHONPATH"].split(os.pathsep) == [str(paths.PACKAGE_DIR.parent), "/elsewhere"]
