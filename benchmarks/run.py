"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--only read,train] [--threads N]
[--models fc,bilstm]``.

Each section writes ``results/bench/<section>.json`` (see ``yt8m_lib.runs.benchmarking``); at the
end ``results/bench/summary.md`` is rebuilt from every section JSON in the folder (so a
``--only`` run refreshes its sections and keeps the others) and printed.

Sections: read (record readers), metrics (GAP/Hit@1/PERR speed), train (step time, model
alone vs full loop), infer (latency, videos/s), compiled (torch.compile and Keras XLA vs
eager), scaling (batch size, frames, processes, memory vs data size), keras_torch (the same
Keras code on the PyTorch backend against native PyTorch and Keras on TensorFlow; with
``--profile-model bilstm`` also a torch.profiler table of where its time goes).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# PyTorch's OpenMP threads spin while they wait; on a machine with other work running (more
# runnable threads than cores) a descheduled spinner stalls every parallel op (measured
# here: a 2-thread fc step 10x slower than a 1-thread one). Passive waiting measures the
# framework instead of the machine's load; TensorFlow's own thread pool does not use OpenMP.
# Set before torch is imported; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from yt8m_lib.config import MODEL_NAMES  # noqa: E402 - after the environment above

SECTIONS = ("read", "metrics", "train", "infer", "compiled", "scaling", "keras_torch")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and few repeats (a few minutes on 2 cores)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections (default all: {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="intra-op threads given to BOTH frameworks (default: all cores)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="auto: CPU rows always, plus GPU rows when CUDA is present",
    )
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated models of the train, infer and keras_torch sections "
        f"(default all: {','.join(MODEL_NAMES)})",
    )
    parser.add_argument(
        "--profile-model",
        default=None,
        help="comma-separated models whose Keras-on-torch and native PyTorch training steps "
        "the keras_torch section profiles (torch.profiler -> "
        "results/bench/keras_torch_profile_<model>.txt; default bilstm, 'none' for none)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.models is not None:
        args.models = tuple(m.strip() for m in args.models.split(",") if m.strip())
        unknown = sorted(set(args.models) - set(MODEL_NAMES))
        if unknown or not args.models:
            parser.error(
                f"unknown model(s) {', '.join(unknown) or '(none given)'}; choose "
                f"from {', '.join(MODEL_NAMES)}"
            )
    if args.profile_model is not None:
        args.profile_model = tuple(
            m.strip() for m in args.profile_model.split(",") if m.strip() not in ("", "none")
        )
        unknown = sorted(set(args.profile_model) - set(MODEL_NAMES))
        if unknown:
            parser.error(
                f"unknown model(s) to profile {', '.join(unknown)}; choose from "
                f"{', '.join(MODEL_NAMES)}"
            )
    return args


def section_options(run, args) -> dict:
    """The options of ``args`` that a section's ``run`` takes (device, models)."""
    names = run.__code__.co_varnames[: run.__code__.co_argcount]
    options = {"progress": not args.no_progress}
    if "device" in names:
        options["device"] = args.device
    if "models" in names and args.models is not None:
        options["models"] = args.models
    if "profile_models" in names and getattr(args, "profile_model", None) is not None:
        options["profile_models"] = args.profile_model
    return options


def main(argv=None) -> int:
    args = parse_args(argv)
    from yt8m_lib.runs import benchmarking as bm

    # before any TensorFlow op runs: TensorFlow fixes its thread pools at start-up
    threads = bm.set_threads(args.threads)
    mode = "quick" if args.quick else "full"
    print(f"benchmarks ({mode}): {', '.join(args.sections)}; threads {threads}", flush=True)
    failed = []
    for name in args.sections:
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            result = module.run(mode, **section_options(module.run, args))
        except Exception:  # one broken section must not hide the others' results
            traceback.print_exc()
            failed.append(name)
            continue
        result["settings"]["threads"] = threads
        result["settings"]["section_seconds"] = round(time.perf_counter() - start, 1)
        path = bm.write_result(result)
        print(f"{name}: {path} ({result['settings']['section_seconds']} s)", flush=True)

    summary = write_summary()
    print(summary.read_text())
    if failed:
        print(f"FAILED sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def write_summary():
    """results/bench/summary.md from every section JSON present, in section order."""
    from yt8m_lib.runs import benchmarking as bm

    results = []
    for name in SECTIONS:
        try:
            results.append(bm.load_result(name))
        except FileNotFoundError:
            continue
    text = bm.summary_markdown(results)
    for result in results:
        if result["section"] == "keras_torch":  # its ratios as one table per model and mode
            from benchmarks.keras_torch import summary_table

            text += "\n" + summary_table(result)
    path = bm.bench_dir() / "summary.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


if __name__ == "__main__":
    sys.exit(main())
