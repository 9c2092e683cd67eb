"""The benchmark tables the docs link instead of retyping numbers:
``python -m benchmarks.tables`` (``make bench-tables``) writes ``benchmarks/records/tables.md``
from the committed records alone, so every number in it names the file it comes from.

- targets met or missed on 2 CPU cores (every section of ``cpu-2core/``);
- the headline ratios on 2 CPU cores (named below, each with what it compares);
- training step and inference per model on the CPU and on the lent GPU;
- Keras on the PyTorch backend against native PyTorch and Keras on TensorFlow (CPU);
- the trainings on CUDA through the command line (run records);
- full loop / model alone on the GPU, one table per record.

``tests/test_bench_tables.py`` fails when the committed file is not what this writes from the
committed records, so a new record means rerunning this, not editing the Markdown.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import sys
from pathlib import Path

import pandas as pd

from yt8m_lib.config import MODEL_NAMES
from yt8m_lib.runs import benchmarking as bm

RECORDS = Path(__file__).resolve().parent / "records"
OUT = RECORDS / "tables.md"
CPU = "cpu-2core"
GPU = "nvidia-h200"

# (section, ratios in its JSON as an fnmatch pattern, what they compare): "x faster" means the
# first one is faster; "time / time" is above 1 when the first one is slower
CPU_HEADLINES = (
    (
        "read",
        "frame_reader_vs_tf_data",
        "frame-level reader, dequantizing, vs `tf.data` (x faster)",
    ),
    ("read", "frame_reader_vs_tf_data_in_graph", "... vs `tf.data` dequantizing in its graph"),
    ("read", "video_reader_vs_tf_data", "video-level reader vs `tf.data` (x faster)"),
    ("read", "frame_reader_over_raw_floor", "frame-level reader (uint8) time / raw floor time"),
    ("read", "frame_reader_no_crc_over_raw_floor", "... without its CRC checks / raw floor"),
    (
        "read",
        "frame_reader_over_raw_floor_crc_dequantized",
        "... dequantizing / a floor that dequantizes and checks CRCs",
    ),
    ("metrics", "*", "streaming evaluator / `evaluate_all` time"),
    (
        "train",
        "*/keras_over_torch_step",
        "training step, model alone, batch 16: Keras time / PyTorch time",
    ),
    ("infer", "*/keras_over_torch_latency", "inference, batch 256: Keras time / PyTorch time"),
    ("compiled", "*", "`torch.compile` or Keras XLA vs eager (x faster)"),
    (
        "scaling",
        "processes/*/torch_ddp_efficiency",
        "PyTorch DDP on CPU: parallel efficiency by number of processes",
    ),
    (
        "scaling",
        "memory/*",
        "peak memory MB per MB of streamed data (`load_all`: a reader that keeps the records)",
    ),
)

# the GPU records of the full loop, oldest first, and what changed between them
GPU_LOOP_RECORDS = (
    ("nvidia-h200/first_session/train.json", "H200, loader batch by batch, reading thread"),
    ("nvidia-h200/train.json", "H200, device chunks, reading thread"),
    ("nvidia-h100/train.json", "H100, device chunks, reading thread, compiled record walk"),
    ("nvidia-h200/reader_process/train.json", "H200, one reader process (the default on CUDA)"),
    (
        "nvidia-h200/reader_process/train_video_models.json",
        "H200, the same, rerun of the video-level models",
    ),
)
GPU_RUNS = (
    ("nvidia-h200/runs", "device chunks, reading thread"),
    ("nvidia-h200/runs/batchwise", "batch by batch, reading thread"),
    ("nvidia-h200/reader_process/runs", "device chunks, reader process"),
)
LOOP_CASES = ("full", "full_thread", "full_workers", "full_batchwise")


def load(relative: str, records: Path = RECORDS) -> dict:
    path = records / relative
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"benchmark record {path} is missing") from None


def ratio_text(r: dict) -> str:
    """A paired or unpaired ratio as 'median (q1-q3)'."""
    return f"{r['median']:.2f} ({r['q1']:.2f}-{r['q3']:.2f})"


def source(result: dict, relative: str, commit: bool = True) -> str:
    """Which file, commit, date and load a table comes from. The lent GPU machines received
    the session's starting ``.git``, so their records name a stale commit (``commit=False``;
    each folder's README names the code that ran)."""
    env = result.get("environment", {})
    sha = str((result.get("git") or {}).get("commit") or "?")[:7]
    return (
        f"From `{relative}` ({result['section']}, {result['mode']} mode, "
        + (f"commit {sha}, " if commit else "")
        + f"{result['created'][:10]}, {env.get('cpu_count', '?')} CPUs, "
        f"load {env.get('load_average_1m', '?')})."
    )


def targets_frame(records: Path = RECORDS, folder: str = CPU) -> pd.DataFrame:
    """Every target check of every section in ``folder``."""
    rows = []
    for path in sorted((records / folder).glob("*.json")):
        result = json.loads(path.read_text())
        for check in result.get("targets", []):
            rows.append(
                {
                    "file": path.name,
                    "target": check["name"],
                    "measured": f"{check['value']:.3f}",  # 1.103 misses <= 1.1
                    "want": check["target"],
                    "met": "yes" if check["met"] else "**no**",
                }
            )
    return pd.DataFrame(rows)


def headline_frame(records: Path = RECORDS, folder: str = CPU) -> pd.DataFrame:
    """The ratios CPU_HEADLINES names; KeyError when a record has none of a pattern (a
    renamed ratio must be renamed here too, not dropped silently)."""
    rows = []
    for section, pattern, what in CPU_HEADLINES:
        ratios = load(f"{folder}/{section}.json", records)["ratios"]
        names = fnmatch.filter(ratios, pattern)
        if not names:
            raise KeyError(f"{folder}/{section}.json has no ratio {pattern!r}")
        for i, name in enumerate(names):
            r = ratios[name]
            if "median" in r:
                value = ratio_text(r)
            elif "slope_mb_per_data_mb" in r:
                value = f"{r['slope_mb_per_data_mb']:.3f}"
            else:  # DDP efficiency by number of processes
                value = ", ".join(f"{n}: {e:.2f}" for n, e in r.items())
            what_once = what if i == 0 else ""  # once per group
            rows.append(
                {"file": f"{section}.json", "what": what_once, "ratio": name, "median (IQR)": value}
            )
    return pd.DataFrame(rows)


def step_frame(records: Path = RECORDS, cpu: str = CPU, gpu: str = GPU) -> pd.DataFrame:
    """Per model: the training step alone (batch 16) and the inference batch (256) in ms
    (``benchmarking.step_times``, as notebook 05 draws them), PyTorch and Keras on the CPU,
    PyTorch on the GPU, and the GPU's speed-up over PyTorch on the CPU (a ratio of medians
    from two machines and runs, so a rough one)."""
    times, missing = bm.step_times({"CPU": records / cpu, "GPU": records / gpu})
    if missing:
        raise FileNotFoundError("; ".join(missing))
    torch_rows = times[times.framework == "torch"]
    for model, sizes in torch_rows.groupby("model")["parameters"]:
        if sizes.nunique() > 1:  # a speed-up of two different networks would mean nothing
            raise ValueError(
                f"{model}: the CPU and GPU records time different sizes {set(sizes.dropna())}"
            )
    engine = times.framework.map({"torch": "PyTorch", "keras": "Keras"})
    short_task = times.task.map({"train step": "step", "inference": "inference"})
    times["column"] = short_task + " ms, " + times["where"] + " " + engine
    frame = times.pivot(index="model", columns="column", values="ms").reindex(MODEL_NAMES)
    columns = []
    for task in ("step", "inference"):
        engines = [f"{task} ms, {e}" for e in ("CPU PyTorch", "CPU Keras", "GPU PyTorch")]
        frame[f"{task}: GPU speed-up"] = frame[engines[0]] / frame[engines[2]]
        columns += [*engines, f"{task}: GPU speed-up"]
    return frame.reindex(columns=columns).rename_axis(columns=None).reset_index()


def throughput_frame(records: Path = RECORDS, folder: str = CPU) -> pd.DataFrame:
    """Videos per second of every reader, input pipeline and metric case (``read.json``,
    ``metrics.json``): what each ratio above divides."""
    rows = []
    for section in ("read", "metrics"):
        result = load(f"{folder}/{section}.json", records)
        for row in result["rows"]:
            per_s = row["items_per_s"]
            rows.append(
                {
                    "file": f"{section}.json",
                    "case": row["name"],
                    "videos/s": f"{per_s['median']:,.0f}",
                    "quartiles": f"{per_s['q1']:,.0f}-{per_s['q3']:,.0f}",
                }
            )
    return pd.DataFrame(rows)


def _verdicts(cases: dict, above: str, below: str) -> str:
    """Cases (name -> ratio with quartiles) sorted by where the interquartile range lies:
    all above 1, all below 1, or spanning 1 (no direction claimed)."""

    def names(keep) -> str:
        chosen = sorted(name for name, r in cases.items() if keep(r))
        if len(chosen) == len(cases):
            return "all"
        return ", ".join(chosen) or "none"

    return (
        f"{above} for {names(lambda r: r['q1'] > 1)}; {below} for "
        f"{names(lambda r: r['q3'] < 1)}; the interquartile range spans 1 for "
        f"{names(lambda r: r['q1'] <= 1 <= r['q3'])}"
    )


def readings(records: Path = RECORDS, folder: str = CPU) -> list[str]:
    """What the CPU tables say, in sentences counted from the records (never typed). A
    direction is claimed only where the whole interquartile range of a ratio is on one
    side of 1."""
    targets = targets_frame(records, folder)
    missed = targets[targets["met"] != "yes"]
    lines = [
        f"{len(targets) - len(missed)} of {len(targets)} targets met"
        + (f"; missed: {', '.join(missed['target'])}." if len(missed) else ".")
    ]
    for section, suffix, what in (
        ("train", "/keras_over_torch_step", "per training step"),
        ("infer", "/keras_over_torch_latency", "per inference batch"),
    ):
        cases = {
            k.split("/")[0]: r
            for k, r in load(f"{folder}/{section}.json", records)["ratios"].items()
            if k.endswith(suffix)
        }
        lines.append(
            f"Keras on TensorFlow against PyTorch {what}, {len(cases)} models: "
            + _verdicts(cases, "Keras slower", "Keras faster")
            + "."
        )
    compiled = load(f"{folder}/compiled.json", records)["ratios"]
    for kind, what in (("alone", "training step"), ("predict", "inference")):
        cases = {
            f"{k.split('/')[0]} {k.split('/')[2]}": r
            for k, r in compiled.items()
            if f"/{kind}_" in k
        }
        lines.append(
            f"Compiled against eager, {what}, {len(cases)} cases: "
            + _verdicts(cases, "compiled faster", "compiled slower")
            + "."
        )
    return [f"- {line}" for line in lines]


def keras_torch_readings(result: dict) -> list[str]:
    """Per task, size and mode: where Keras on torch was slower or faster than native
    PyTorch and than Keras on TensorFlow (``_verdicts`` of the ratios)."""
    groups: dict = {}
    for key, r in result["ratios"].items():
        model, _, size, task, mode, ratio = key.split("/")
        groups.setdefault((task, size, mode, ratio), {})[model] = r

    def order(group):  # train before infer, default size, eager, PyTorch first
        task, size, mode, ratio = group[0]
        return (
            task != "train",
            size != "default",
            mode != "eager",
            ratio != "keras_torch_over_torch",
        )

    lines = []
    for (task, size, mode, ratio), cases in sorted(groups.items(), key=order):
        other = "native PyTorch" if ratio == "keras_torch_over_torch" else "Keras on TensorFlow"
        lines.append(
            f"- {task}, {size} size, {mode}, against {other}, {len(cases)} models: "
            + _verdicts(cases, "Keras on torch slower", "Keras on torch faster")
            + "."
        )
    return lines


def cuda_runs_frame(records: Path = RECORDS) -> pd.DataFrame:
    """The command-line trainings on the GPU: the last epoch's validation GAP and the
    run's own timings."""
    rows = []
    for folder, loader in GPU_RUNS:
        for path in sorted((records / folder).glob("*.json")):
            run = json.loads(path.read_text())
            timings = run["timings"]
            rows.append(
                {
                    "file": f"{folder}/{path.name}",
                    "model": run["model"],
                    "loader": loader,
                    "epochs": len(run["history"]),
                    "validation GAP": f"{run['history'][-1]['val_gap']:.3f}",
                    "train videos/s": f"{timings['train_examples_per_s']:,.0f}",
                    "median step ms": f"{1000 * timings['median_step_s']:.2f}",
                    "waiting for data": f"{timings['data_wait_fraction']:.0%}",
                }
            )
    return pd.DataFrame(rows)


def loop_frame(result: dict) -> pd.DataFrame:
    """Full loop / model alone per model and loader case of one train record."""
    alone = {r["model"]: r for r in result["rows"] if r["kind"] == "alone"}
    rows = []
    for model in (m for m in MODEL_NAMES if m in alone):
        row = {"model": model, "step alone ms": round(1000 * alone[model]["step_s"]["median"], 2)}
        for case in LOOP_CASES:
            ratio = result["ratios"].get(f"{model}/cuda/torch_{case}_over_alone")
            row[case] = ratio_text(ratio) if ratio else ""
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.loc[:, (frame != "").any()]  # drop the cases this record did not time


def render(records: Path = RECORDS) -> str:
    def table(frame: pd.DataFrame, floatfmt=".2f") -> str:
        def cell(value):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return ""  # a case the record did not time, never "nan"
            return format(value, floatfmt) if isinstance(value, float) else value

        # numbers formatted here once; tabulate would reparse the strings (0.716 -> 0.72)
        return frame.map(cell).to_markdown(index=False, disable_numparse=True)

    from benchmarks.keras_torch import summary_table

    cpu_train = load(f"{CPU}/train.json", records)
    keras_torch = load(f"{CPU}/keras_torch.json", records)
    parts = [
        "# Benchmark tables",
        "",
        "Written by `python -m benchmarks.tables` (`make bench-tables`) from the records in this",
        "folder; do not edit by hand. Medians with quartiles in brackets; how each is measured",
        "is in [docs/benchmarks.md](../../docs/benchmarks.md), every sample in the JSON files.",
        "",
        "## Targets on 2 CPU cores",
        "",
        f"Every target check of the sections in `{CPU}/`. "
        + source(cpu_train, f"{CPU}/train.json"),
        "",
        table(targets_frame(records)),
        "",
        "## Headline ratios on 2 CPU cores",
        "",
        f"Ratios measured within one run (`{CPU}/*.json`, `ratios`); all sections ran in the same "
        "`make bench`.",
        "",
        table(headline_frame(records)),
        "",
        "What these two tables say, counted by the code that writes them (a direction only "
        "where the whole interquartile range of a ratio is on one side of 1):",
        "",
        *readings(records),
        "",
        "Videos per second of each case the read and metrics ratios divide:",
        "",
        table(throughput_frame(records)),
        "",
        "## Training step and inference per model, CPU and GPU",
        "",
        "Model alone, default profile: training step at batch 16 (`train.json`, rows `alone`), "
        f"inference of a batch of 256 (`infer.json`). CPU: `{CPU}/`; GPU: `{GPU}/` (PyTorch only; "
        "the lent machines have no TensorFlow). The speed-up divides medians of two machines "
        "and runs.",
        "",
        table(step_frame(records)),
        "",
        "## Keras on the PyTorch backend on 2 CPU cores",
        "",
        "The same Keras model on torch and on TensorFlow beside native PyTorch: medians in ms per "
        "training step or inference batch, and the ratios (Keras-torch / PyTorch paired in one "
        "process; Keras-torch / Keras-TF a ratio of medians from two processes). "
        + source(keras_torch, f"{CPU}/keras_torch.json"),
        "",
        summary_table(keras_torch).split("\n", 2)[2].strip(),  # without its own heading
        "",
        "Counted from the ratios' quartiles (a direction only where the whole interquartile "
        "range is on one side of 1):",
        "",
        *keras_torch_readings(keras_torch),
        "",
        "## Trainings on CUDA through the command line",
        "",
        "`yt8m train --device cuda`, default profile, synthetic data (hybrid with "
        "`--mixed-precision`); the commands and code of each folder are in its README.",
        "",
        table(cuda_runs_frame(records)),
        "",
        "## Full loop / model alone on the GPU (target <= 1.10)",
        "",
        "`full` is the trainer's default loader of that record; `full_thread` the reader as a "
        "thread, `full_workers` 4 DataLoader workers, `full_batchwise` the loader without device "
        "chunks. The code that ran is named in each folder's README (the `git` field of a "
        "GPU record is the session's starting commit, not that code).",
    ]
    for relative, what in GPU_LOOP_RECORDS:
        result = load(relative, records)
        parts += [
            "",
            f"### {what}",
            "",
            source(result, relative, commit=False),
            "",
            table(loop_frame(result)),
        ]
    return "\n".join(parts) + "\n"


def main(argv=None) -> int:
    argparse.ArgumentParser(prog="python -m benchmarks.tables", description=__doc__).parse_args(
        argv
    )
    OUT.write_text(render())
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
