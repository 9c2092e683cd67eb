"""Section 4: scaling.

* ``batch``: training throughput (videos/s, model alone on preloaded batches) against batch
  size, both frameworks, model ``fc`` (video level) - and ``bilstm`` in full mode;
* ``frames``: training throughput of ``bilstm`` against frames per video (both frameworks);
* ``processes``: PyTorch DDP on CPU with 1 and 2 processes (``torchrun``, gloo), the same
  global batch and the same total number of threads (cores / processes per rank);
  parallel efficiency = throughput(n) / (n x throughput(1)). tf.distribute's
  MultiWorkerMirroredStrategy is not measured here (it needs a cluster spec with free ports
  per worker; the Keras trainer supports it - see its TF_CONFIG handling);
* ``memory``: peak resident memory of one process streaming 1, 2, 4 (, 8) frame-level shards
  through each framework's pipeline, against a reader that keeps every record (the
  contrast); the least-squares slope in MB per shard says whether memory stays flat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import adapters, data
from benchmarks.train import PROFILE, shards
from yt8m_lib import config
from yt8m_lib.runs import benchmarking as bm

SIZES = {
    "quick": {
        "repeats": 2,
        "batch_sizes": (16, 64, 256),
        "batch_models": ("fc",),
        "frames": (8, 24),
        "ddp_steps": 4,
        "ddp_models": ("fc",),
        "memory_shards": (1, 3),
    },
    "full": {
        "repeats": 5,
        "batch_sizes": (16, 32, 64, 128, 256),
        "batch_models": ("fc", "bilstm"),
        "frames": (8, 16, 32, 64, 128),
        "ddp_steps": 20,
        "ddp_models": ("fc", "bilstm"),
        "memory_shards": (1, 2, 4, 8),
    },
}
# ~16 MB per frame-level shard, 4 batches of MEMORY_BATCH: every run streams whole batches
# (with fewer videos than a batch, the batch itself would grow with the data)
MEMORY_SHARD_VIDEOS = 64
MEMORY_BATCH = 16


def _run_child(command) -> subprocess.CompletedProcess:
    """A benchmark child process in the checkout (its output captured, 15 minutes at most):
    the DDP trainings and the memory probes each measure in a fresh process."""
    return subprocess.run(
        command,
        cwd=data.CHECKOUT,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, PYTHONPATH=str(data.CHECKOUT)),
    )


def _training_cases(model, level, batch_size, frames=None):
    """{torch: case, keras: case}: one pass of training steps over 256 preloaded videos."""
    paths = shards(level)
    kw = {"batch_size": batch_size, "profile": PROFILE, "frames_per_video": frames}
    torch_loaded = adapters.torch_preload(list(adapters.torch_batches(paths, level, **kw)()))
    keras_loaded = adapters.keras_preload(list(adapters.keras_batches(paths, level, **kw)()))
    torch_step, _ = adapters.torch_trainer(model, profile=PROFILE)
    keras_step, _ = adapters.keras_trainer(model, profile=PROFILE)

    def over(batches, step):
        def run():
            for b in batches:
                step(b)

        return run

    return {"torch": over(torch_loaded, torch_step), "keras": over(keras_loaded, keras_step)}


def _sweep(result, part, model, level, values, repeats, bar, *, key):
    videos = 256
    for value in values:
        if key == "batch_size":
            cases = _training_cases(model, level, value)
        else:
            cases = _training_cases(model, level, 64, frames=value)
        timings = bm.compare(
            cases, repeats=repeats, warmup=1, progress=bar, items={n: videos for n in cases}
        )
        for framework, timing in timings.items():
            row = timing.to_dict()
            row.update(
                name=f"{part}/{model}/{framework}/{key}={value}",
                part=part,
                model=model,
                framework=framework,
                **{key: value},
            )
            result["rows"].append(row)


def _ddp(result, model, steps, threads):
    cores = max(1, threads)
    throughput = {}
    for world in (1, 2):
        if world > cores:
            result["failures"].append(
                {"case": f"processes/{model}/{world}", "error": f"only {cores} cores"}
            )
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "ddp.json"
            command = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={world}",
                "-m",
                "benchmarks.ddp_worker",
                "--model",
                model,
                "--steps",
                str(steps),
                "--threads",
                str(max(1, cores // world)),
                "--out",
                str(out),
            ]
            done = _run_child(command)
            if done.returncode != 0 or not out.is_file():
                result["failures"].append(
                    {"case": f"processes/{model}/{world}", "error": done.stderr[-800:]}
                )
                continue
            measured = json.loads(out.read_text())
        timing = bm.Timing(
            f"processes/{model}/torch_ddp/world={world}",
            measured["step_s"],
            warmup=3,
            items=measured["global_batch"],
        )
        row = timing.to_dict()
        row.update(
            part="processes",
            model=model,
            framework="torch",
            world_size=world,
            threads_per_rank=measured["threads_per_rank"],
            global_batch=measured["global_batch"],
        )
        result["rows"].append(row)
        throughput[world] = row["items_per_s"]["median"]
    if 1 in throughput:
        result["ratios"][f"processes/{model}/torch_ddp_efficiency"] = {
            str(n): e for n, e in bm.scaling_efficiency(throughput).items()
        }


def _memory(result, shard_counts):
    biggest = max(shard_counts)
    paths = data.make_shards(
        data.data_folder(), "frame", shards=biggest, per_shard=MEMORY_SHARD_VIDEOS, seed=1
    )
    peaks = {}
    for how in ("torch", "keras", "load_all"):
        for count in shard_counts:
            command = [
                sys.executable,
                "-m",
                "benchmarks.memory_child",
                "--how",
                how,
                "--batch-size",
                str(MEMORY_BATCH),
                *[str(p) for p in paths[:count]],
            ]
            done = _run_child(command)
            if done.returncode != 0:
                result["failures"].append(
                    {"case": f"memory/{how}/{count}", "error": done.stderr[-800:]}
                )
                continue
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            data_mb = sum(p.stat().st_size for p in paths[:count]) / 1e6
            result["rows"].append(
                {
                    "name": f"memory/{how}/shards={count}",
                    "part": "memory",
                    "how": how,
                    "shards": count,
                    "data_mb": data_mb,
                    "videos": measured["videos"],
                    "peak_rss_mb": measured["peak_rss_mb"],
                }
            )
            peaks.setdefault(how, []).append((data_mb, measured["peak_rss_mb"]))
    for how, pairs in peaks.items():
        if len(pairs) >= 2:
            growth = bm.memory_growth([p[0] for p in pairs], [p[1] for p in pairs])
            growth["slope_mb_per_data_mb"] = growth.pop("slope_mb_per_unit")
            result["ratios"][f"memory/{how}"] = growth
    for how in ("torch", "keras"):
        growth = result["ratios"].get(f"memory/{how}")
        if growth:
            load_all = result["ratios"].get("memory/load_all", {})
            load_all_slope = load_all.get("slope_mb_per_data_mb", float("nan"))
            result["targets"].append(
                bm.target(
                    f"{how} pipeline: peak memory growth per MB of data (streaming: ~0)",
                    growth["slope_mb_per_data_mb"],
                    at_most=0.25,
                    note=f"load_all keeps records in memory: slope {load_all_slope:.2f}",
                )
            )


def run(mode: str, progress=True) -> dict:
    from tqdm.auto import tqdm

    adapters.keras_setup()
    sizes = SIZES[mode]
    threads = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    result = bm.new_result(
        "scaling",
        mode=mode,
        settings={
            "profile": PROFILE,
            "repeats": sizes["repeats"],
            "warmup": 1,
            **{k: v for k, v in sizes.items() if k != "repeats"},
            "memory_shard_videos": MEMORY_SHARD_VIDEOS,
            "memory_batch": MEMORY_BATCH,
        },
    )
    total = (
        sizes["repeats"]
        * 2
        * (len(sizes["batch_sizes"]) * len(sizes["batch_models"]) + len(sizes["frames"]))
    )
    with tqdm(total=total, desc="scaling batch/frames", disable=not progress) as bar:
        for model in sizes["batch_models"]:
            level = config.model_level(model)
            _sweep(
                result,
                "batch",
                model,
                level,
                sizes["batch_sizes"],
                sizes["repeats"],
                bar,
                key="batch_size",
            )
        _sweep(
            result,
            "frames",
            "bilstm",
            "frame",
            sizes["frames"],
            sizes["repeats"],
            bar,
            key="frames_per_video",
        )
    for model in tqdm(sizes["ddp_models"], desc="scaling processes", disable=not progress):
        _ddp(result, model, sizes["ddp_steps"], threads)
    _memory(result, sizes["memory_shards"])
    return result
