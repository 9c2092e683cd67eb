"""The `yt8m` command line (also `python -m yt8m_lib`).

Parsers are defined here; each command's work lives in its module and is imported only when
that command runs, so `yt8m --help` and the data commands never import a framework.
Errors of the project (bad data, bad configuration, a missing framework) print one line
naming the file/record/problem and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from yt8m_lib import __version__
from yt8m_lib.config import FRAMEWORKS, MODEL_NAMES, PROFILES
from yt8m_lib.errors import Yt8mError

# command -> (module, function); the function takes the parsed arguments, returns an exit code
COMMANDS = {
    "synth": ("yt8m_lib.data.synthetic", "cli_main"),
    "download": ("yt8m_lib.data.download", "cli_main"),
    "inspect": ("yt8m_lib.data.inspection", "cli_inspect"),
    "export": ("yt8m_lib.data.inspection", "cli_export"),
    "autoencoder": ("yt8m_lib.commands", "cli_autoencoder"),
    "train": ("yt8m_lib.commands", "cli_train"),
    "evaluate": ("yt8m_lib.commands", "cli_evaluate"),
    "parity": ("yt8m_lib.parity", "cli_main"),
    "real-data": ("yt8m_lib.data.splits", "cli_main"),
    "real-check": ("yt8m_lib.real_check", "cli_main"),
    "tune": ("yt8m_lib.tuning", "cli_main"),
    "book": ("yt8m_lib.book", "cli_main"),
}


def add_split_arguments(p, seed_flag: str) -> None:
    p.add_argument(
        "--split",
        default=None,
        metavar="TRAIN/VALIDATE/TEST",
        help="shards per split, e.g. 60/10/10 (default: 6:1:1 of the shards)",
    )
    p.add_argument(
        seed_flag,
        dest="split_seed",
        metavar="SEED",
        type=int,
        default=0,
        help="seed of the shard order (sha256 of seed and file name)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yt8m", description="YouTube-8M thesis companion: data, training, evaluation."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write a synthetic YouTube-8M dataset (both levels)")
    p.add_argument("out_dir", help="output folder (video/, frame/, vocabulary.csv, manifest.json)")
    p.add_argument("--profile", choices=PROFILES, default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--num-classes",
        type=int,
        default=None,
        help="vocabulary size (default: the profile's; 3862 for the real vocabulary)",
    )
    p.add_argument(
        "--min-seconds",
        type=int,
        default=None,
        help="keep only videos with at least this many frames (the thesis used 100)",
    )

    p = sub.add_parser(
        "download", help="download a fraction of the real dataset (official protocol)"
    )
    p.add_argument("--partition", required=True, help="e.g. 2/video/train, 2/frame/validate")
    p.add_argument(
        "--fraction", default="1/1", help="X/Y keeps the files with md5(name) %% Y == X-1"
    )
    p.add_argument("--mirror", default="us", choices=("us", "eu", "asia"))
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--dry-run", action="store_true", help="list what would be fetched")
    p.add_argument(
        "--base-url",
        default=None,
        help="serve plans and files from here instead of data.yt8m.org (tests, mirrors)",
    )
    p.add_argument("--no-vocabulary", action="store_true", help="do not fetch vocabulary.csv")

    for name, help_text in (
        ("inspect", "summarise record files; non-zero exit on bad input"),
        ("export", "export record files to a .npz of dequantized arrays"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("paths", nargs="+", help="files or glob patterns")
        p.add_argument("--vocabulary", default=None, help="vocabulary.csv to check labels against")
        p.add_argument("--num-classes", type=int, default=None, help="check labels < this")
        p.add_argument("--no-verify-crc", action="store_true", help="skip the TFRecord CRC checks")
        if name == "inspect":
            p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        else:
            p.add_argument("--out", required=True, help="output .npz")

    def add_keras_backend_argument(p) -> None:
        p.add_argument(
            "--keras-backend",
            choices=("tensorflow", "torch"),
            default=None,
            help="with --framework keras: the backend Keras runs on (default tensorflow)",
        )

    def add_training_arguments(p, model: bool):
        p.add_argument("--framework", choices=FRAMEWORKS, required=True)
        if model:
            p.add_argument("--model", required=True, help=f"one of {', '.join(MODEL_NAMES)}")
        p.add_argument("--train-data", required=True, help="glob of training shards")
        p.add_argument("--val-data", required=True, help="glob of validation shards")
        p.add_argument("--out", required=True, help="run folder (record, checkpoints, logs)")
        p.add_argument("--profile", choices=PROFILES, default="default")
        p.add_argument("--epochs", type=int, default=None)
        p.add_argument("--batch-size", type=int, default=None)
        if model:
            p.add_argument(
                "--learning-rate", type=float, default=None, help="default: the profile's"
            )
            p.add_argument(
                "--target",
                choices=("classes", "genres"),
                default="classes",
                help="genres: a genre head over the vocabulary's Vertical1 genres",
            )
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--vocabulary",
            default=None,
            help="vocabulary.csv (default: the one beside the data, if any)",
        )
        p.add_argument(
            "--num-classes",
            type=int,
            default=None,
            help="number of classes when there is no vocabulary",
        )
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: automatic)")
        p.add_argument("--mixed-precision", action="store_true", help="float16 autocast on GPU")
        p.add_argument(
            "--no-resume",
            action="store_true",
            help="start afresh even if the run folder has a checkpoint",
        )
        p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("autoencoder", help="train the denoising autoencoder (feature engineering)")
    add_training_arguments(p, model=False)
    p.add_argument("--level", choices=("video", "frame"), required=True)
    add_keras_backend_argument(p)

    p = sub.add_parser("train", help="train one model in one framework, write its run record")
    add_training_arguments(p, model=True)
    add_keras_backend_argument(p)
    p.add_argument("--features", choices=("raw", "autoencoder"), default="raw")
    p.add_argument(
        "--autoencoder",
        default=None,
        help="run folder of a trained autoencoder (for --features autoencoder)",
    )

    p = sub.add_parser("evaluate", help="score a trained run on data; print metrics as JSON")
    p.add_argument("run_dir")
    p.add_argument("--data", required=True, help="glob of shards to score")
    p.add_argument("--predictions", default=None, help="write the Kaggle predictions CSV here")
    p.add_argument("--vocabulary", default=None, help="vocabulary.csv for genre accuracy")
    p.add_argument("--device", default=None)
    p.add_argument("--split-name", default="test", help="key under which the run record keeps it")
    p.add_argument(
        "--keras-backend",
        choices=("tensorflow", "torch"),
        default=None,
        help="a Keras run: the backend to score on (default: the one it trained on)",
    )

    p = sub.add_parser("parity", help="prove the Keras and PyTorch models are the same")
    p.add_argument("--model", default="all", help=f"one of {', '.join(MODEL_NAMES)} or all")
    p.add_argument("--json", action="store_true")
    p.add_argument("--profile", choices=PROFILES, default="smoke")
    p.add_argument(
        "--keras-backend",
        choices=("tensorflow", "torch"),
        default="tensorflow",
        help="the backend Keras runs on (sets KERAS_BACKEND); PyTorch is always native",
    )

    p = sub.add_parser(
        "real-data",
        help="a folder of real shards as a dataset: a train/validate/test split by shard "
        "(split.json) and links to the shards",
    )
    p.add_argument(
        "folder",
        nargs="?",
        default=None,
        help="folder of real video-level shards (default: $YT8M_REAL_DIR or ../shared/yt8m_real)",
    )
    p.add_argument("--out", default="data/real", help="where split.json and the links go")
    add_split_arguments(p, "--seed")
    p.add_argument("--no-links", action="store_true", help="write split.json only")

    p = sub.add_parser(
        "real-check",
        help="the quality bar on real video-level shards: fc vs logistic vs the label "
        "prior, best epoch chosen on validate, scored once on test",
    )
    p.add_argument(
        "data_dir",
        help="a folder made by `yt8m real-data` (split.json), or a folder of real "
        "video-level shards (split here, into OUT/split)",
    )
    p.add_argument("--out", default="results/real_check", help="run folders and summary.json")
    p.add_argument("--framework", choices=FRAMEWORKS, default="torch")
    p.add_argument("--profile", choices=PROFILES, default="paper")
    add_split_arguments(p, "--split-seed")
    p.add_argument("--val-shards", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    p.add_argument("--seed", type=int, default=0, help="the training seed")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser(
        "tune",
        help="the tuning protocol: a learning-rate grid per model, early stopping and the "
        "choice on validate only (the test split is not read)",
    )
    p.add_argument("data_dir", help="a dataset folder with train/validate splits (data/real)")
    p.add_argument("--models", default="logistic,moe,fc,gated_moe", help="comma-separated")
    p.add_argument("--profile", choices=PROFILES, default="real")
    p.add_argument("--framework", choices=FRAMEWORKS, default="torch")
    p.add_argument("--out", default=None, help="tuning.csv/.md folder (default: print only)")

    p = sub.add_parser("book", help="the executed notebooks in build/ as a static HTML site")
    p.add_argument("--build", default="build", help="folder of executed notebooks (build/)")
    p.add_argument("--out", default=None, help="where the site goes (default: BUILD/book)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a notebook was left out")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, function_name = COMMANDS[args.command]
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        return int(function(args) or 0)
    except Yt8mError as error:
        print(f"yt8m {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"yt8m {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
