"""Section 2: training step time and throughput, each model in each framework.

Same model config and batch (profile ``default``: 16 videos; frame level 16 uniformly
sampled frames), same data files, same intra-op threads (``run.py``), float32, and in each
framework the trainer's own step (clipped BCE, Adam with epsilon 1e-7). One timed call is
one epoch of the benchmark data, 256 videos = 16 steps (training on CUDA: two epochs, 32
steps, one whole chunk of the PyTorch loader, ``passes_per_call``):

* ``alone``: the model on batches preloaded in memory (tensors built by the framework's own
  pipeline before timing, so both cases see the very same data);
* ``full``: the same steps, each batch coming from the trainer's input pipeline (the project's
  reader, ``yt8m_lib.data.batches``: in PyTorch the trainer's ``make_loader`` with its default of
  0 workers, in Keras the same numpy batches as TensorFlow tensors; both read two batches
  ahead in one reader, as the trainers do: a background thread, ``BackgroundLoader``, except
  for PyTorch on CUDA, where it is one worker process, and where the loader reads chunks of
  ``CUDA_CHUNK_VIDEOS`` videos, moved to the GPU in one copy and cut into batches there), in
  steady state: one endless iterator per case, created before timing, so a pipeline's
  start-up is not counted (it is paid once per epoch, and real epochs are long).

* ``full_thread`` (GPU only): as ``full``, read in a background thread (the default before
  the reader process), for comparison: the thread shares the GIL with a step that is mostly
  Python launching kernels.
* ``full_batchwise`` (GPU only): as ``full``, batch by batch (``chunk_videos=0``: one
  collation and one host-to-device copy per batch), for comparison.
* ``full_workers`` (GPU only): as ``full`` for PyTorch, read by ``GPU_LOADER_WORKERS``
  DataLoader worker processes (the ``paper`` profile's setting, ``--profile paper``).

Target: full loop time <= 1.10 x model alone (the input pipeline is never the bottleneck).
Rows also appear for ``cuda`` (both frameworks on the GPU) when one is present; a framework
that is not installed (TensorFlow on a PyTorch-only GPU machine) is listed under failures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from benchmarks import adapters, data
from yt8m_lib.config import MODEL_NAMES, get_profile, model_level, reads_video_means
from yt8m_lib.runs import benchmarking as bm

PROFILE = "default"
SIZES = {"quick": {"repeats": 3}, "full": {"repeats": 9}}


FRAMEWORKS = ("torch", "keras")
FRAMEWORK_PACKAGES = {"torch": "torch", "keras": "tensorflow"}
# DataLoader worker processes of the extra GPU full-loop case: the paper profile's (GPU) value
GPU_LOADER_WORKERS = get_profile("paper").train.num_workers
VIDEOS = 256  # videos of the benchmark data: 16 batches of 16, one eval batch of 256


def shards(level: str):
    """Two shards of ``VIDEOS`` videos in all (whole batches, no short last batch)."""
    return data.make_shards(data.data_folder(), level, shards=2, per_shard=VIDEOS // 2)


def devices(requested: str = "auto") -> list[str]:
    import torch

    cuda = torch.cuda.is_available()
    if requested == "cuda" and not cuda:
        raise RuntimeError("--device cuda: no CUDA device here")
    return {"cpu": ["cpu"], "cuda": ["cuda"]}.get(requested, ["cpu"] + (["cuda"] if cuda else []))


def installed_frameworks() -> tuple[str, ...]:
    """The frameworks whose package this Python can import, without importing it (a GPU
    machine may hold PyTorch alone: its rows are timed and Keras is listed as a failure)."""
    import importlib.util

    def found(package):
        try:
            return importlib.util.find_spec(package) is not None
        except ImportError:
            return False

    return tuple(f for f in FRAMEWORKS if found(FRAMEWORK_PACKAGES[f]))


def keras_device(device: str):
    """A context placing Keras variables and ops on the CPU or the first GPU."""
    import tensorflow as tf

    if device == "cpu":
        return tf.device("/CPU:0")
    if not tf.config.list_logical_devices("GPU"):
        raise RuntimeError("TensorFlow sees no GPU")
    return tf.device("/GPU:0")


def in_context(context_factory, fn):
    def run():
        with context_factory():
            return fn()

    return run


def measure(
    model: str,
    device: str,
    *,
    batch_size: int,
    repeats: int,
    desc: str,
    progress: bool,
    **case_options,
) -> tuple[dict, list, list[tuple[dict, object]]]:
    """Time one model's cases (``model_cases``), each framework in a fresh process of its
    own (``bm.in_fresh_process``: PyTorch is never timed beside TensorFlow's threads);
    returns (info, failures, [(row, timing)]). Ratios within a framework are paired (one
    round-robin); ratios across frameworks come from different processes: unpaired."""
    info, failures, rows = {}, [], []
    installed = installed_frameworks()
    for framework in FRAMEWORKS:
        if framework not in installed:
            failures.append(
                {
                    "case": f"{model}/{device}/{framework}",
                    "error": f"{FRAMEWORK_PACKAGES[framework]} is not installed",
                }
            )
            continue
        one_info, one_failures, one_rows = bm.in_fresh_process(
            _time_framework,
            framework,
            model,
            device,
            batch_size=batch_size,
            repeats=repeats,
            desc=f"{desc} {framework}",
            progress=progress,
            **case_options,
        )
        # each row carries its own process's info; the merged one serves the shared fields
        # (steps, videos, PyTorch's parameter count)
        info = {**one_info, **info}
        failures += one_failures
        rows += one_rows
    return info, failures, rows


def _time_framework(
    framework: str,
    model: str,
    device: str,
    *,
    batch_size: int,
    repeats: int,
    desc: str,
    progress: bool,
    **case_options,
):
    """In the child process: the parent's thread count for this framework only, then its
    cases timed round-robin."""
    bm.set_threads_as_parent("torch" if framework == "torch" else "tensorflow")
    if framework == "keras":
        adapters.keras_setup()
    start = time.perf_counter()
    cases, info, failures = model_cases(
        model, device, batch_size=batch_size, frameworks=(framework,), **case_options
    )
    info["setup_s"] = round(time.perf_counter() - start, 1)  # data, model (and compilation)
    sync = adapters.torch_sync(device) if framework == "torch" else None
    rows = (
        time_cases(
            cases,
            info,
            model=model,
            device=device,
            repeats=repeats,
            desc=desc,
            progress=progress,
            sync=sync,
        )
        if cases
        else []
    )
    return info, failures, rows


def time_cases(
    cases, info, *, model: str, device: str, repeats: int, desc: str, progress: bool, sync=None
) -> list[tuple[dict, object]]:
    """Time one model's cases round-robin (``bm.compare``, warm-up 1) with a progress bar;
    returns (row, timing) per case, the row holding the timing summary, ``info`` and the
    case's name, framework and kind (each section adds its own per-step figure)."""
    from tqdm.auto import tqdm

    with tqdm(total=repeats * len(cases), desc=desc, disable=not progress) as bar:
        timings = bm.compare(
            cases,
            repeats=repeats,
            warmup=1,
            progress=bar,
            items={n: info["videos"] for n in cases},
            sync=sync,
        )
    rows = []
    for name, timing in timings.items():
        framework, kind = name.split("/")
        row = timing.to_dict()
        row.update(info, name=f"{model}/{device}/{name}", framework=framework, kind=kind)
        rows.append((row, timing))
    return rows


@dataclass(frozen=True)
class CaseSpec:
    """What one model's cases on one device share: its data, batch and the kinds to time."""

    model: str
    device: str
    level: str
    paths: list
    video_means: bool  # as the trainers: only hybrid's batches hold the means
    batch_size: int
    passes: int  # over the benchmark data per timed call (``passes_per_call``)
    compile_modes: tuple
    inference: bool
    full: bool

    @property
    def steps(self) -> int:  # per timed call
        return steps_per_call(self.batch_size, self.passes)

    def kind(self, compiled: bool, compiled_suffix: str) -> str:
        return ("predict" if self.inference else "alone") + (compiled_suffix if compiled else "")

    def times_full_loop(self, compiled: bool) -> bool:
        return self.full and not (compiled or self.inference)


def model_cases(
    model: str,
    device: str,
    *,
    batch_size: int,
    compile_modes=(False,),
    inference=False,
    full=True,
    frameworks=("torch", "keras"),
) -> tuple[dict, dict, list]:
    """(cases, info, failures) for one model on one device: ``{framework}/{kind}`` cases
    timing one epoch of training (or, with ``inference``, prediction on preloaded batches),
    for each of ``frameworks``."""
    level = model_level(model)
    passes = passes_per_call(device, batch_size, inference)
    spec = CaseSpec(
        model=model,
        device=device,
        level=level,
        paths=shards(level),
        video_means=reads_video_means(model),
        batch_size=batch_size,
        passes=passes,
        compile_modes=tuple(compile_modes),
        inference=inference,
        full=full,
    )
    cases, failures = {}, []
    info = {
        "model": model,
        "level": level,
        "device": device,
        "batch_size": batch_size,
        "steps": spec.steps,
        "videos": VIDEOS * passes,
        "passes": passes,
    }
    if "torch" in frameworks:
        _torch_cases(spec, cases, failures, info)
    if "keras" in frameworks:
        _keras_cases(spec, cases, failures)
    return cases, info, failures


def _torch_cases(spec: CaseSpec, cases: dict, failures: list, info: dict):
    torch_make = adapters.torch_batches(
        spec.paths,
        spec.level,
        batch_size=spec.batch_size,
        profile=PROFILE,
        video_means=spec.video_means,
    )
    torch_loaded = adapters.torch_preload(list(torch_make()), spec.device)
    for compiled in spec.compile_modes:
        kind = spec.kind(compiled, "_compiled")
        try:
            step, net = adapters.torch_trainer(
                spec.model, profile=PROFILE, device=spec.device, compile=compiled
            )
            info.setdefault(
                "parameters", sum(p.numel() for p in net.parameters() if p.requires_grad)
            )
            fn = (
                adapters.torch_predictor(net, device=spec.device, compile=compiled)
                if spec.inference
                else step
            )
            case = _over(torch_loaded, fn, spec.passes)
            if compiled:
                case()  # compile now: a failure is recorded here, not inside the timing
            cases[f"torch/{kind}"] = case
            if spec.times_full_loop(compiled):

                def full_loop(step=step, **loader):  # the trainer's loader, endless, feeding step
                    return _take(
                        adapters.torch_endless_batches(
                            spec.paths,
                            spec.level,
                            batch_size=spec.batch_size,
                            profile=PROFILE,
                            device=spec.device,
                            video_means=spec.video_means,
                            **loader,
                        ),
                        spec.steps,
                        step,
                    )

                cases["torch/full"] = full_loop()
                if spec.device == "cuda":
                    from yt8m_lib.torch.data import CUDA_CHUNK_VIDEOS

                    info.update(
                        loader_workers=GPU_LOADER_WORKERS, loader_chunk_videos=CUDA_CHUNK_VIDEOS
                    )
                    cases["torch/full_thread"] = full_loop(read_in_thread=True)
                    cases["torch/full_workers"] = full_loop(num_workers=GPU_LOADER_WORKERS)
                    # the loader of before the device chunks, for comparison
                    cases["torch/full_batchwise"] = full_loop(chunk_videos=0)
        except Exception as error:  # noqa: BLE001 - recorded, the other rows go on
            failures.append(
                {
                    "case": f"{spec.model}/{spec.device}/torch/{kind}",
                    "error": f"{type(error).__name__}: {error}"[:500],
                }
            )


def _keras_cases(spec: CaseSpec, cases: dict, failures: list):
    scope = lambda: keras_device(spec.device)  # noqa: E731
    with scope():
        keras_make = adapters.keras_batches(
            spec.paths,
            spec.level,
            batch_size=spec.batch_size,
            profile=PROFILE,
            video_means=spec.video_means,
        )
        keras_loaded = adapters.keras_preload(list(keras_make()))
    keras_stream = read_ahead(keras_make)
    for compiled in spec.compile_modes:
        kind = spec.kind(compiled, "_xla")
        try:
            with scope():
                step, net = adapters.keras_trainer(
                    spec.model, profile=PROFILE, jit_compile=compiled
                )
            fn = adapters.keras_predictor(net, jit_compile=compiled) if spec.inference else step
            case = in_context(scope, _over(keras_loaded, fn, spec.passes))
            if compiled:
                case()
            cases[f"keras/{kind}"] = case
            if spec.times_full_loop(compiled):
                cases["keras/full"] = in_context(scope, _take(keras_stream, spec.steps, step))
        except Exception as error:  # noqa: BLE001
            failures.append(
                {
                    "case": f"{spec.model}/{spec.device}/keras/{kind}",
                    "error": f"{type(error).__name__}: {error}"[:500],
                }
            )


def read_ahead(make):
    """Batches of ``make()`` epoch after epoch, read two ahead in one background thread
    (``yt8m_lib.data.batches.BackgroundLoader``, as both trainers read)."""
    from yt8m_lib.data.batches import BackgroundLoader

    return iter(BackgroundLoader(adapters.endless(make)))


def _over(batches, fn, passes=1):
    def run():
        for _ in range(passes):
            for batch in batches:
                fn(batch)

    return run


def passes_per_call(
    device: str, batch_size: int, inference: bool = False, chunk_videos: int | None = None
) -> int:
    """Passes over the benchmark data in one timed call: 1, or, for training on CUDA, enough
    for whole chunks of the PyTorch loader (``make_loader``'s, ``batches_per_chunk``), so
    that every call reads as many chunks (with calls of half a chunk, every other call would
    wait for the reading of one, and the median would keep the calls that do not)."""
    if device != "cuda" or inference:
        return 1
    from yt8m_lib.torch.data import batches_per_chunk

    chunk = batches_per_chunk(batch_size, device, chunk_videos) * batch_size
    return math.lcm(chunk, VIDEOS) // VIDEOS


def steps_per_call(batch_size: int, passes: int) -> int:
    return VIDEOS // batch_size * passes


def _take(stream, steps, fn):
    """``steps`` batches from a long-lived endless stream: the pipeline runs in steady state
    (its start-up falls in the warm-up call), as it does inside a long epoch."""

    def run():
        for _ in range(steps):
            fn(next(stream))

    return run


def run(mode: str, progress=True, device="auto", models=MODEL_NAMES) -> dict:

    repeats = SIZES[mode]["repeats"]
    batch_size = get_profile(PROFILE).train.batch_size
    result = bm.new_result(
        "train",
        mode=mode,
        settings={
            "profile": PROFILE,
            "batch_size": batch_size,
            "steps_per_call": {
                dev: steps_per_call(batch_size, passes_per_call(dev, batch_size))
                for dev in devices(device)
            },
            "frames_per_video": get_profile(PROFILE).train.frames_per_video,
            "repeats": repeats,
            "warmup": 1,
            "precision": "float32",
            "torch_num_workers": 0,
        },
    )
    for dev in devices(device):
        for model in models:
            info, failures, rows = measure(
                model,
                dev,
                batch_size=batch_size,
                repeats=repeats,
                desc=f"train {model} {dev}",
                progress=progress,
            )
            result["failures"] += failures
            timings = {}
            for row, timing in rows:
                row["step_s"] = bm.summarize([s / info["steps"] for s in timing.samples])
                result["rows"].append(row)
                timings[f"{row['framework']}/{row['kind']}"] = timing
            for framework, full_kind, what in (
                ("torch", "full", "full loop"),
                ("keras", "full", "full loop"),
                ("torch", "full_workers", f"full loop, {GPU_LOADER_WORKERS} loader workers"),
                ("torch", "full_thread", None),  # comparisons, not targets
                ("torch", "full_batchwise", None),
            ):
                alone = timings.get(f"{framework}/alone")
                full = timings.get(f"{framework}/{full_kind}")
                if alone and full:
                    r = bm.ratio(alone, full)
                    result["ratios"][f"{model}/{dev}/{framework}_{full_kind}_over_alone"] = r
                    if what:
                        result["targets"].append(
                            bm.target(
                                f"{model} {dev} {framework}: {what} / model alone",
                                r["median"],
                                at_most=1.10,
                            )
                        )
            if "torch/alone" in timings and "keras/alone" in timings:
                result["ratios"][f"{model}/{dev}/keras_over_torch_step"] = bm.ratio(
                    timings["torch/alone"], timings["keras/alone"], paired=False
                )
    met = [t["met"] for t in result["targets"]]
    result["input_pipeline_target_met"] = f"{sum(met)}/{len(met)}"
    return result
