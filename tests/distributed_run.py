"""One process of a distributed training run in the tests (launched by torchrun or with a
TF_CONFIG per worker): ``yt8m_lib``'s trainer with two callbacks of the loop that write what
the test checks - the videos this process trained on, and its final weights."""

import argparse
import json
import sys
from pathlib import Path

from yt8m_lib import training
from yt8m_lib.commands import load_framework
from yt8m_lib.data.records import expand_paths


class KeepTrace(training.Callback):
    """Writes ``LOGS/rank{R}.ids.json`` (epoch, id pairs) and ``LOGS/rank{R}.<weights>``."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.ids = training.RecordTrainedIds()

    def on_train_batch(self, trainer, epoch, ids):
        self.ids.on_train_batch(trainer, epoch, ids)

    def on_train_end(self, trainer):
        (self.logs / f"rank{trainer.rank}.ids.json").write_text(json.dumps(self.ids.seen))
        trainer.save_weights(self.logs / f"rank{trainer.rank}.{trainer.BEST}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    for name in ("framework", "model", "train", "val", "out", "trace-dir"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--keras-backend", default=None)  # torch: Keras on the torch backend
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--num-classes", type=int, default=30)
    args = parser.parse_args(argv)
    trainer = load_framework(args.framework, args.keras_backend)
    trainer.train(
        model=args.model,
        train_paths=expand_paths(args.train),
        val_paths=expand_paths(args.val),
        out_dir=args.out,
        profile="smoke",
        seed=0,
        num_classes=args.num_classes,
        device="cpu",
        progress=False,
        epochs=args.epochs,
        callbacks=[KeepTrace(Path(args.trace_dir))],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
