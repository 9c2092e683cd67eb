"""What both trainers share: reading a run's configs back, the run record of a training run,
and the clocks of a training loop (step times, data wait, warm-up, throughput)."""

from __future__ import annotations

import time

import numpy as np

from yt8m_lib.config import ModelConfig, TrainConfig
from yt8m_lib.data import records


def model_config_from_dict(values: dict) -> ModelConfig:
    values = dict(values)
    values["fc_hidden"] = tuple(values["fc_hidden"])
    return ModelConfig(**values)


def train_config_from_dict(values: dict) -> TrainConfig:
    values = dict(values)
    values["seeds"] = tuple(values["seeds"])
    return TrainConfig(**values)


# What the timings of a run record mean: the same in both trainers (notebook 05 compares
# them), written into every record as ``timing_definitions``.
TIMING_DEFINITIONS = {
    "median_step_s": "median wall time of one optimizer step on a batch already in memory "
                     "(forward + backward + update, result materialised: the loss read back, "
                     "after torch.cuda.synchronize on GPU / .numpy() in TensorFlow); data "
                     "loading excluded; the first 3 steps (warm-up) left out",
    "step_s_p10": "10th percentile of the same step times",
    "step_s_p90": "90th percentile of the same step times",
    "steps": "optimizer steps taken (all epochs of the run)",
    "step_s_total": "sum of all step times (warm-up included)",
    "data_wait_s": "wall time the training loop waited for its next batch (input pipeline, "
                   "host-to-device copy)",
    "data_wait_fraction": "data_wait_s / total_train_s",
    "warmup_s": "wall time from the start of the first epoch (of each process) to the end of "
                "its first step: pipeline start-up, tracing / first-call set-up",
    "train_examples_per_s": "examples / wall time of the training loops (input pipeline "
                            "included, validation excluded), the warm-up (warmup_s and its "
                            "batch) left out",
    "total_train_s": "wall time of the training loops of all epochs (validation excluded)",
    "inference_batch_latency_ms": "median wall time of the model's forward pass on one batch "
                                  "already in memory (eval mode, no gradients, synchronized; "
                                  "loss, metrics and copies to numpy excluded), first batch "
                                  "left out",
    "inference_videos_per_s": "videos / summed forward times of the same batches",
}
TIMING_STATE = {"step_times": [], "train_seconds": 0.0, "examples": 0, "data_wait_s": 0.0,
                "warmup_s": 0.0, "warmup_examples": 0}


class LoopClock:
    """The clocks of a training loop, kept in the trainer's resumable ``state`` dict (the
    keys of ``TIMING_STATE``). Both trainers call, per epoch::

        clock.start_epoch()
        for each batch:  (fetch it, copy it to the device)
            clock.batch_ready()      # data wait ends, the step's clock starts
            (step; read the loss back = wait for the step to finish)
            clock.step_done(n)       # n examples in the step (all replicas)
        clock.end_epoch()
    """

    def __init__(self, state: dict, replicas: int = 1):
        for key, value in TIMING_STATE.items():
            state.setdefault(key, list(value) if isinstance(value, list) else value)
        self.state = state
        self.replicas = replicas  # processes whose examples one step counts
        self.epoch_examples = 0
        self.first_step = True  # the warm-up of this process (trace, first-call set-up)
        self.epoch_start = self.mark = self.step_start = 0.0

    def start_epoch(self) -> None:
        self.epoch_examples = 0
        self.epoch_start = self.mark = time.perf_counter()

    def batch_ready(self) -> None:
        self.step_start = time.perf_counter()
        self.state["data_wait_s"] += self.step_start - self.mark

    def step_done(self, examples: int) -> float:
        now = time.perf_counter()
        seconds = now - self.step_start
        self.state["step_times"].append(seconds)
        self.epoch_examples += int(examples)
        if self.first_step:
            self.first_step = False
            self.state["warmup_s"] += now - self.epoch_start
            self.state["warmup_examples"] += int(examples) * self.replicas
        self.mark = now
        return seconds

    def end_epoch(self, examples: int | None = None) -> float:
        """``examples``: the epoch's examples over all processes (default: this one's)."""
        seconds = time.perf_counter() - self.epoch_start
        self.state["train_seconds"] += seconds
        self.state["examples"] += int(self.epoch_examples if examples is None else examples)
        return seconds


def training_timings(state: dict) -> dict:
    """The training half of a record's ``timings`` (see TIMING_DEFINITIONS) from a LoopClock
    state."""
    seconds = state.get("train_seconds", 0.0)
    examples = state.get("examples", 0)
    steady_s = seconds - state.get("warmup_s", 0.0)
    steady_examples = examples - state.get("warmup_examples", 0)
    if steady_s > 0 and steady_examples > 0:
        per_s = steady_examples / steady_s
    else:  # a single step: nothing after the warm-up
        per_s = examples / seconds if seconds else None
    step_times = state.get("step_times", [])
    wait = state.get("data_wait_s", 0.0)
    return {"train_examples_per_s": per_s, **step_statistics(step_times),
            "steps": len(step_times), "step_s_total": float(sum(step_times)),
            "data_wait_s": wait, "data_wait_fraction": wait / seconds if seconds else None,
            "warmup_s": state.get("warmup_s", 0.0), "total_train_s": seconds}


def inference_timings(latencies, batch_sizes) -> dict:
    """``inference_videos_per_s`` and ``inference_batch_latency_ms`` from the forward time
    and size of every batch (the first batch, warm-up, left out when there are more)."""
    latencies, batch_sizes = list(latencies), list(batch_sizes)
    if len(latencies) > 1:
        latencies, batch_sizes = latencies[1:], batch_sizes[1:]
    total = sum(latencies)
    return {"inference_videos_per_s": sum(batch_sizes) / total if total > 0 else None,
            "inference_batch_latency_ms": 1000 * float(np.median(latencies))
            if latencies else None}


def step_statistics(step_times, warmup: int = 3) -> dict:
    """Median and spread of the training step times, after the first ``warmup`` steps."""
    times = np.asarray(list(step_times)[warmup:] or list(step_times), dtype=np.float64)
    if times.size == 0:
        return {"median_step_s": None, "step_s_p10": None, "step_s_p90": None}
    return {"median_step_s": float(np.median(times)),
            "step_s_p10": float(np.percentile(times, 10)),
            "step_s_p90": float(np.percentile(times, 90))}


def new_training_record(*, framework: str, model: str, features: str, profile: str, seed: int,
                        model_config, train_config, train_paths, val_paths, level: str,
                        num_classes: int, vocabulary, autoencoder_dir=None,
                        distributed: dict | None = None) -> dict:
    """The run record of a training run before its first epoch (both trainers fill it in)."""
    from yt8m_lib.config import to_dict
    from yt8m_lib.runs.run_record import new_run_record

    record = new_run_record(
        framework=framework, model=model, features=features, profile=profile, seed=seed,
        config={"model": to_dict(model_config), "train": to_dict(train_config),
                "autoencoder": None if autoencoder_dir is None else str(autoencoder_dir)},
        data={"train": [str(p) for p in train_paths], "val": [str(p) for p in val_paths],
              "level": level, "num_train_videos": records.count_examples(train_paths),
              "num_val_videos": records.count_examples(val_paths),
              "num_classes": num_classes,
              "vocabulary": None if vocabulary is None else str(vocabulary)},
        distributed=distributed or {"world_size": 1, "backend": None})
    record["timing_definitions"] = dict(TIMING_DEFINITIONS)
    return record
