"""Section 7: the same Keras model code on the PyTorch backend (``KERAS_BACKEND=torch``) against
native PyTorch and against Keras on TensorFlow, per model, eager and compiled.

Keras fixes its backend when it is first imported, so each backend runs in a child process
of its own (``bm.in_fresh_process`` with ``KERAS_BACKEND`` set; the parent's intra-op thread
count, ``bm.set_threads_as_parent``; ``OMP_WAIT_POLICY`` as ``run.py`` sets it):

* the **torch child** times native PyTorch and Keras-on-torch *interleaved* (``bm.compare``:
  A, B, A, B, ... rotated each round) on the very same preloaded torch tensors, so the ratio
  Keras-on-torch / PyTorch is paired per round of one process. TensorFlow is not importable
  there (``keras.utils.set_random_seed`` would load it: as on the lent GPU machines, which
  have no TensorFlow);
* the **tensorflow child** times Keras on TensorFlow on the same batches (the same data files,
  read by the same reader into TensorFlow tensors); the ratio Keras-on-torch / Keras-on-TF is
  a ratio of medians across the two processes of the same run (unpaired).

Cases per model, data and settings as sections ``train``/``infer``/``compiled`` (profile
``default``, 3,862 classes, float32, the same files as ``benchmarks.train.shards``):

* ``train``: one timed call = one pass over the benchmark videos, training steps of the model
  alone on preloaded batches (batch 16). PyTorch: the trainer's step
  (``adapters.torch_trainer``); Keras on torch: ``yt8m_lib.keras.torch_step.make_train_step``
  (the step ``yt8m parity --keras-backend torch`` proves equal); Keras on TensorFlow: its
  trainer's traced step (``adapters.keras_trainer``).
* ``infer``: prediction of batches of 256 in inference mode, the probabilities read back as
  numpy.
* ``compiled`` mode: native PyTorch ``torch.compile(model)`` (the trainer's ``--compile``);
  Keras on torch the whole step wrapped in ``torch.compile``, which is what Keras' own
  ``model.compile(jit_compile=True)`` does on this backend (``TorchTrainer`` compiles its
  ``train_step``/``predict_step`` function; ``jit_compile="auto"`` means eager on torch);
  Keras on TensorFlow XLA (``jit_compile=True``, off for the LSTM models, as in the trainer).
  Compilation happens before timing; a mode that fails is listed under ``failures``.
* size ``real``: for the video-level models also training at batch 256 (the real problem's
  batch; every size has the 3,862-class output), one step per call.

``profile_model`` (``--profile-model bilstm``) runs ``torch.profiler`` over a few training
steps of native PyTorch and of Keras-on-torch and writes the top ops of each to
``results/bench/keras_torch_profile_<model>.txt``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from yt8m_lib.config import (
    MODEL_NAMES,
    VIDEO_LEVEL_MODELS,
    get_profile,
    model_level,
    reads_video_means,
)
from yt8m_lib.runs import benchmarking as bm

PROFILE = "default"
REAL_BATCH = 256  # training batch of the real problem (the real and paper profiles)
SIZES = {
    # the tests: 32 videos, inference on one batch of 32
    "tiny": {"videos": 32, "repeats": 2, "models": ("logistic", "bilstm"), "real": False},
    "quick": {"videos": 256, "repeats": 3, "models": ("fc", "bilstm"), "real": True},
    "full": {"videos": 256, "repeats": 7, "models": MODEL_NAMES, "real": True},
}
PROFILE_MODELS = {"tiny": (), "quick": ("bilstm",), "full": ("bilstm",)}
PROFILE_STEPS = 5
# case -> (framework, Keras backend or None for native PyTorch, process it is timed in)
CASES = {
    "torch": ("torch", None, "torch"),
    "keras_torch": ("keras", "torch", "torch"),
    "keras_tf": ("keras", "tensorflow", "tensorflow"),
}
COMPILERS = {
    "torch": "torch.compile(model)",
    "keras_torch": "torch.compile(step)",
    "keras_tf": "xla",
}
LABELS = {"torch": "PyTorch", "keras_torch": "Keras / torch", "keras_tf": "Keras / TensorFlow"}


# ---------------------------------------------------------------- what is timed
def settings_of(size: str, models, compile: bool, compile_backend: str) -> list[dict]:
    """The (model, size, task, batch) groups of one run: the profile's batches for every
    model, plus training at batch ``REAL_BATCH`` for the video-level ones (size ``real``)."""
    train = get_profile(PROFILE).train
    videos = SIZES[size]["videos"]
    groups = []
    for model in models:
        groups.append(dict(model=model, size="default", task="train", batch=train.batch_size))
        groups.append(
            dict(
                model=model, size="default", task="infer", batch=min(train.eval_batch_size, videos)
            )
        )
        if SIZES[size]["real"] and model in VIDEO_LEVEL_MODELS and videos >= REAL_BATCH:
            groups.append(dict(model=model, size="real", task="train", batch=REAL_BATCH))
    modes = ("eager", "compiled") if compile else ("eager",)
    return [dict(g, modes=modes, compile_backend=compile_backend) for g in groups]


def shards(level: str, videos: int):
    """The benchmark files of ``benchmarks.train`` (256 videos: the very same files)."""
    from benchmarks import data

    return data.make_shards(data.data_folder(), level, shards=2, per_shard=videos // 2)


@contextlib.contextmanager
def torch_compile_backend(backend: str):
    """``torch.compile`` with ``backend`` (default "inductor") for everything compiled inside,
    also by ``adapters``; only ever entered in a benchmark's child process."""
    import functools

    import torch

    real = torch.compile
    torch.compile = functools.partial(real, backend=backend)
    try:
        yield
    finally:
        torch.compile = real


def _over(batches, fn):
    def run():
        for batch in batches:
            fn(batch)

    return run


def _tensor_entries(batch: dict) -> dict:
    """A batch without its ids: what the models read (a list of strings in the batch would
    also make ``torch.compile`` guard on, and recompile for, every batch's first id)."""
    return {k: v for k, v in batch.items() if k != "id"}


def _failure(group: dict, case: str, mode: str, error: Exception) -> dict:
    return {
        "case": f"{group['model']}/cpu/{group['size']}/{group['task']}/{case}/{mode}",
        "error": f"{type(error).__name__}: {error}"[:500],
    }


# ---------------------------------------------------------------- torch child
def _keras_torch_setup(seed: int = 0):
    """In the torch child, before Keras is imported: Keras on torch on the CPU, and no
    TensorFlow (``keras.utils.set_random_seed`` seeds TensorFlow too when it can import it)."""
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != "torch":
        raise RuntimeError("Keras is already imported with another backend in this process")
    os.environ["KERAS_BACKEND"] = "torch"
    os.environ.setdefault("KERAS_TORCH_DEVICE", "cpu")
    sys.modules.setdefault("tensorflow", None)  # import tensorflow -> ImportError here
    import keras

    keras.utils.set_random_seed(seed)
    return keras


def keras_torch_trainer(model_name: str, *, compiled: bool = False, seed: int = 0):
    """(step(batch) -> loss, model): the Keras model on the torch backend trained by
    ``torch_step.make_train_step``; ``compiled``: the whole step in ``torch.compile`` (as
    Keras' ``jit_compile=True`` on this backend)."""
    import keras
    import torch

    from yt8m_lib.keras import models, torch_step

    prof = get_profile(PROFILE)
    keras.utils.set_random_seed(seed)
    model = models.build_model(model_name, prof.model)
    step = torch_step.make_train_step(model, models.make_optimizer(prof.train), prof.train)
    return (torch.compile(step) if compiled else step), model


def keras_torch_predictor(model, *, compiled: bool = False):
    """predict(batch) -> numpy probabilities: ``model(inputs, training=False)`` without
    gradients (Keras' ``predict_step`` on torch; ``compiled``: in ``torch.compile``)."""
    import torch

    from yt8m_lib.keras.torch_step import to_model_batch

    def forward(inputs):
        with torch.no_grad():
            return model(inputs, training=False)

    run = torch.compile(forward) if compiled else forward

    def predict(batch):
        inputs, _ = to_model_batch(model, batch)
        return run(inputs).cpu().numpy()

    return predict


def _torch_child_cases(group: dict, batches: list, info: dict, failures: list) -> dict:
    from benchmarks import adapters

    cases = {}
    infer = group["task"] == "infer"
    for mode in group["modes"]:
        compiled = mode == "compiled"
        for case in ("torch", "keras_torch"):
            try:
                if case == "torch":  # compiled: the trainer's --compile (the model)
                    step, net = adapters.torch_trainer(
                        group["model"], profile=PROFILE, compile=compiled and not infer
                    )
                    info.setdefault(
                        "parameters", sum(p.numel() for p in net.parameters() if p.requires_grad)
                    )
                    fn = adapters.torch_predictor(net, compile=compiled) if infer else step
                else:
                    step, model = keras_torch_trainer(
                        group["model"], compiled=compiled and not infer
                    )
                    fn = keras_torch_predictor(model, compiled=compiled) if infer else step
                call = _over(batches, fn)
                if compiled:
                    call()  # compile now: a failure is recorded here, not inside the timing
                cases[f"{case}/{mode}"] = call
            except Exception as error:  # noqa: BLE001 - recorded, the other cases go on
                failures.append(_failure(group, case, mode, error))
    return cases


def _tf_child_cases(group: dict, batches: list, failures: list) -> dict:
    from benchmarks import adapters

    cases = {}
    for mode in group["modes"]:
        compiled = mode == "compiled"
        try:
            step, net = adapters.keras_trainer(
                group["model"], profile=PROFILE, jit_compile=compiled
            )
            fn = (
                adapters.keras_predictor(net, jit_compile=compiled)
                if group["task"] == "infer"
                else step
            )
            call = _over(batches, fn)
            if compiled:
                call()
            cases[f"keras_tf/{mode}"] = call
        except Exception as error:  # noqa: BLE001
            failures.append(_failure(group, "keras_tf", mode, error))
    return cases


def time_backend(backend: str, groups: list[dict], size: str, progress: bool = False):
    """In a child process whose Keras runs on ``backend``: every group's cases timed
    round-robin; returns (rows, failures, facts). Rows hold the timing summary and samples."""
    from tqdm.auto import tqdm

    from benchmarks import adapters

    if backend == "torch":
        _keras_torch_setup()
        threads = bm.set_threads_as_parent("torch")
    else:
        os.environ["KERAS_BACKEND"] = "tensorflow"
        threads = bm.set_threads_as_parent("tensorflow")
        adapters.keras_setup()
    import keras

    facts = {
        "keras_backend": keras.backend.backend(),
        "threads": threads,
        "tensorflow_loaded": sys.modules.get("tensorflow") is not None,
        "pid": os.getpid(),
    }
    videos, repeats = SIZES[size]["videos"], SIZES[size]["repeats"]
    rows, failures = [], []
    for group in groups:
        model, level = group["model"], model_level(group["model"])
        start = time.perf_counter()
        paths = shards(level, videos)
        common = dict(
            batch_size=group["batch"], profile=PROFILE, video_means=reads_video_means(model)
        )
        info = {
            "model": model,
            "level": level,
            "device": "cpu",
            "size": group["size"],
            "task": group["task"],
            "batch_size": group["batch"],
            "steps": videos // group["batch"],
            "videos": videos,
        }
        if backend == "torch":
            make = adapters.torch_batches(paths, level, **common)
            batches = [_tensor_entries(b) for b in adapters.torch_preload(list(make()))]
            with torch_compile_backend(group["compile_backend"]):
                cases = _torch_child_cases(group, batches, info, failures)
        else:
            make = adapters.keras_batches(paths, level, **common)
            batches = adapters.keras_preload([_tensor_entries(b) for b in make()])
            cases = _tf_child_cases(group, batches, failures)
        info["setup_s"] = round(time.perf_counter() - start, 1)  # data, models, compilation
        if not cases:
            continue
        desc = f"keras_torch {model} {group['size']} {group['task']} ({backend})"
        with tqdm(total=repeats * len(cases), desc=desc, disable=not progress) as bar:
            timings = bm.compare(
                cases, repeats=repeats, warmup=1, progress=bar, items={n: videos for n in cases}
            )
        for name, timing in timings.items():
            case, mode = name.split("/")
            framework, keras_backend, process = CASES[case]
            row = timing.to_dict()
            row.update(
                info,
                name=f"{model}/cpu/{group['size']}/{group['task']}/{name}",
                case=case,
                framework=framework,
                keras_backend=keras_backend,
                mode=mode,
                kind=f"{group['task']}_{mode}",
                compiler=COMPILERS[case] if mode == "compiled" else None,
                process=f"{process} child",
            )
            per_step = [s / info["steps"] for s in timing.samples]
            if group["task"] == "train":
                row["step_s"] = bm.summarize(per_step)
            else:
                row["batch_latency_ms"] = bm.summarize([1e3 * s for s in per_step])
            rows.append(row)
    return rows, failures, facts


@contextlib.contextmanager
def keras_backend_env(backend: str):
    """``KERAS_BACKEND`` set for a child spawned inside (it inherits the environment)."""
    old = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = backend
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("KERAS_BACKEND", None)
        else:
            os.environ["KERAS_BACKEND"] = old


def in_backend_process(backend: str, function, *args, **kwargs):
    with keras_backend_env(backend):
        return bm.in_fresh_process(function, *args, **kwargs)


# ---------------------------------------------------------------- ratios
def timing_of(row: dict) -> bm.Timing:
    return bm.Timing(row["name"], row["samples_s"])


def add_ratios(result: dict) -> None:
    """Keras-on-torch / PyTorch (paired: the median of per-round ratios, same process) and
    Keras-on-torch / Keras-on-TF (unpaired: the ratio of medians, two processes) per model,
    size, task and mode."""
    by_key = {}
    for row in result["rows"]:
        key = (row["model"], row["size"], row["task"], row["mode"])
        by_key.setdefault(key, {})[row["case"]] = row
    for (model, size, task, mode), rows in by_key.items():
        if "keras_torch" not in rows:
            continue
        prefix = f"{model}/cpu/{size}/{task}/{mode}"
        keras_torch = timing_of(rows["keras_torch"])
        if "torch" in rows:
            result["ratios"][f"{prefix}/keras_torch_over_torch"] = bm.ratio(
                timing_of(rows["torch"]), keras_torch
            )
        if "keras_tf" in rows:
            result["ratios"][f"{prefix}/keras_torch_over_keras_tf"] = bm.ratio(
                timing_of(rows["keras_tf"]), keras_torch, paired=False
            )


# ---------------------------------------------------------------- profile
def _profile_table(step, batches, steps: int) -> tuple[str, dict]:
    from torch.profiler import ProfilerActivity, profile

    for batch in batches[:2]:
        step(batch)  # warm-up
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            step(batches[i % len(batches)])
    wall = time.perf_counter() - start
    events = prof.key_averages()
    self_total = sum(e.self_cpu_time_total for e in events) / 1e6
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
    facts = {
        "ms_per_step_profiled": 1e3 * wall / steps,
        "op_calls_per_step": sum(e.count for e in events) / steps,
        "self_cpu_ms_per_step": 1e3 * self_total / steps,
        "top_ops": [
            {
                "op": e.key,
                "calls_per_step": e.count / steps,
                "self_cpu_ms_per_step": e.self_cpu_time_total / 1e3 / steps,
            }
            for e in top[:8]
        ],
    }
    return events.table(sort_by="self_cpu_time_total", row_limit=25), facts


def profile_model(model: str, steps: int = PROFILE_STEPS, videos: int = 256) -> dict:
    """In a torch child: ``torch.profiler`` over ``steps`` training steps (batch 16) of native
    PyTorch and of Keras-on-torch; writes both top-op tables to
    ``results/bench/keras_torch_profile_<model>.txt``; returns the per-step facts."""
    from benchmarks import adapters

    _keras_torch_setup()
    bm.set_threads_as_parent("torch")
    level = model_level(model)
    batch_size = get_profile(PROFILE).train.batch_size
    make = adapters.torch_batches(
        shards(level, videos),
        level,
        batch_size=batch_size,
        profile=PROFILE,
        video_means=reads_video_means(model),
    )
    batches = [_tensor_entries(b) for b in adapters.torch_preload(list(make()))]
    native, _ = adapters.torch_trainer(model, profile=PROFILE)
    keras_step, _ = keras_torch_trainer(model)
    out = {"model": model, "steps": steps, "batch_size": batch_size}
    texts = []
    for case, step in (("torch", native), ("keras_torch", keras_step)):
        table, facts = _profile_table(step, batches, steps)
        out[case] = facts
        texts.append(
            f"== {LABELS[case]}: {steps} training steps of {model}, batch {batch_size}, "
            f"{facts['ms_per_step_profiled']:.1f} ms per step under the profiler, "
            f"{facts['op_calls_per_step']:.0f} op calls per step ==\n{table}\n"
        )
    path = bm.bench_dir() / f"keras_torch_profile_{model}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# torch.profiler, CPU, threads {bm.threads_of_parent()}, load "
        f"{os.getloadavg()[0]:.2f}; sorted by self CPU time (python -m benchmarks.keras_torch "
        f"--profile-model {model})\n\n" + "\n".join(texts)
    )
    out["file"] = str(path)
    return out


# ---------------------------------------------------------------- the section
def run(
    mode: str,
    progress=True,
    models=None,
    compile=True,
    compile_backend="inductor",
    profile_models=None,
) -> dict:
    """The section: rows of all three backends, ratios, failures (``mode``: a key of SIZES)."""
    size = SIZES[mode]
    models = tuple(models or size["models"])
    profile_models = PROFILE_MODELS[mode] if profile_models is None else tuple(profile_models)
    groups = settings_of(mode, models, compile, compile_backend)
    train = get_profile(PROFILE).train
    result = bm.new_result(
        "keras_torch",
        mode=mode,
        settings={
            "profile": PROFILE,
            "models": list(models),
            "videos_per_call": size["videos"],
            "train_batch_size": train.batch_size,
            "infer_batch_size": min(train.eval_batch_size, size["videos"]),
            "real_size_train_batch": REAL_BATCH if size["real"] else None,
            "num_classes": get_profile(PROFILE).model.num_classes,
            "frames_per_video": train.frames_per_video,
            "repeats": size["repeats"],
            "warmup": 1,
            "precision": "float32",
            "device": "cpu",
            "modes": list(groups[0]["modes"]) if groups else [],
            "compilers": {
                "torch": "torch.compile(model) (the trainer's --compile)",
                "keras_torch": "torch.compile of the whole training step / of the forward "
                "(what Keras' jit_compile=True does on this backend)",
                "keras_tf": "XLA (jit_compile=True; off for the LSTM models)",
            },
            "torch_compile_backend": compile_backend,
            "processes": "native PyTorch and Keras/torch timed interleaved in one child "
            "process (KERAS_BACKEND=torch, no TensorFlow): keras_torch_over_torch is paired "
            "per round; Keras/TensorFlow in a second child of the same run: "
            "keras_torch_over_keras_tf is a ratio of medians across processes (unpaired)",
        },
    )
    result["processes"] = {}
    for backend in ("torch", "tensorflow"):
        rows, failures, facts = in_backend_process(
            backend, time_backend, backend, groups, mode, progress
        )
        result["rows"] += rows
        result["failures"] += failures
        result["processes"][backend] = facts
    add_ratios(result)
    result["profiles"] = {
        model: in_backend_process("torch", profile_model, model) for model in profile_models
    }
    return result


def summary_table(result: dict) -> str:
    """Markdown: per model, size, task and mode the median time of each backend (ms per
    training step or per inference batch) and the two ratios."""
    cells = {}
    for row in result.get("rows", []):
        key = (row["model"], row["size"], row["task"], row["mode"])
        stat = row.get("step_s", {}).get("median")
        ms = 1e3 * stat if stat is not None else row.get("batch_latency_ms", {}).get("median")
        cells.setdefault(key, {})[row["case"]] = ms
    ratios = result.get("ratios", {})
    lines = [
        "### Keras on torch: ms per training step / inference batch, and ratios",
        "",
        "| model | size | task | mode | PyTorch | Keras / torch | Keras / TensorFlow "
        "| Keras-torch / PyTorch | Keras-torch / Keras-TF |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(x):
        if x is None:
            return "-"
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"

    for (model, size, task, mode), ms in cells.items():
        prefix = f"{model}/cpu/{size}/{task}/{mode}"
        over_torch = ratios.get(f"{prefix}/keras_torch_over_torch", {}).get("median")
        over_tf = ratios.get(f"{prefix}/keras_torch_over_keras_tf", {}).get("median")
        lines.append(
            f"| {model} | {size} | {task} | {mode} | {fmt(ms.get('torch'))} | "
            f"{fmt(ms.get('keras_torch'))} | {fmt(ms.get('keras_tf'))} | {fmt(over_torch)} | "
            f"{fmt(over_tf)} |"
        )
    for model, facts in result.get("profiles", {}).items():
        lines.append("")
        lines.append(
            f"Profile of {model} (`{os.path.basename(facts['file'])}`): "
            + "; ".join(
                f"{LABELS[c]} {facts[c]['op_calls_per_step']:.0f} op calls, "
                f"{facts[c]['ms_per_step_profiled']:.1f} ms per step"
                for c in ("torch", "keras_torch")
            )
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """``python -m benchmarks.keras_torch --profile-model bilstm``: the profile alone."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.keras_torch")
    parser.add_argument("--profile-model", required=True, choices=MODEL_NAMES)
    parser.add_argument("--steps", type=int, default=PROFILE_STEPS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    facts = in_backend_process("torch", profile_model, args.profile_model, args.steps)
    print(open(facts["file"]).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
