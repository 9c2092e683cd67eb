"""The tuning protocol: one budget for every model, choices made on validate only.

Written once and used by every chapter (``yt8m tune``, notebook 03/04 on real data):

* every model gets the **same learning-rate grid** (``LEARNING_RATES``) and the **same
  budget**: the profile's maximum epochs with early stopping on the validate GAP
  (``TrainConfig.early_stopping_patience``); the best epoch's weights are kept;
* one seed (``TUNING_SEED``) per (model, rate); the rate with the best validate GAP wins
  (a tie goes to the smaller rate);
* the **test split is never read**: tuning runs are not scored on test (``run_one(...,
  score_test=False)``), so nothing chosen here has seen a test video;
* the framework comparison is fair only with identical settings, so the rates are tuned in
  one framework (``TUNING_FRAMEWORK``) and both frameworks train with them.

The choices become the ``real`` profile's ``learning_rates`` (``yt8m_lib.config``); the
table that justifies them is committed as ``figures/real/tuning.csv`` and a test keeps the
profile equal to it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

LEARNING_RATES = (1e-3, 3e-3, 1e-2)
TUNING_SEED = 0
TUNING_FRAMEWORK = "torch"
TABLE_COLUMNS = [
    "model",
    "learning_rate",
    "validate_gap",
    "validate_hit_at_1",
    "best_epoch",
    "epochs_trained",
    "stopped_early",
    "train_seconds",
    "chosen",
]


def run_label(rate: float) -> str:
    """Suffix of a tuning run's folder name: ``fc-raw-seed0-lr0.003``."""
    return f"-lr{rate:g}"


def tune(
    models,
    *,
    profile: str,
    data_dir,
    framework: str = TUNING_FRAMEWORK,
    rates=LEARNING_RATES,
    seed: int = TUNING_SEED,
    results_dir=None,
    target: str = "classes",
    verbose: bool = True,
) -> pd.DataFrame:
    """Train every (model, rate) once on train, select on validate; the protocol's table.
    ``target="genres"``: the genre heads get the same protocol (their validate GAP is over
    genres)."""
    from yt8m_lib import experiments

    rows = []
    for model in models:
        for rate in rates:
            record = experiments.run_one(
                framework,
                model,
                seed,
                profile=profile,
                data_dir=data_dir,
                results_dir=results_dir,
                learning_rate=rate,
                run_label=run_label(rate),
                score_test=False,
                target=target,
                verbose=verbose,
            )
            validate = record["evaluations"]["validate"]
            rows.append(
                {
                    "model": model,
                    "learning_rate": rate,
                    "validate_gap": float(validate["gap"]),
                    "validate_hit_at_1": float(validate["hit_at_1"]),
                    "best_epoch": record["best_epoch"],
                    "epochs_trained": record["epochs_trained"],
                    "stopped_early": record.get("stopped_early") is not None,
                    "train_seconds": float(record["timings"].get("total_train_s", float("nan"))),
                }
            )
    return choose(pd.DataFrame(rows))


def choose(table: pd.DataFrame) -> pd.DataFrame:
    """Mark each model's chosen rate: the best validate GAP, ties to the smaller rate."""
    table = table.sort_values(["model", "learning_rate"]).reset_index(drop=True)
    best = (
        table.sort_values(["validate_gap", "learning_rate"], ascending=[False, True])
        .groupby("model")
        .head(1)
        .index
    )
    table["chosen"] = table.index.isin(best)
    return table[TABLE_COLUMNS]


def chosen_rates(table: pd.DataFrame) -> dict[str, float]:
    """{model: chosen learning rate} of a protocol table."""
    picked = table[table["chosen"].astype(bool)]
    if picked["model"].duplicated().any():
        raise ValueError("a tuning table must choose one rate per model")
    return {m: float(r) for m, r in zip(picked["model"], picked["learning_rate"])}


def write_table(table: pd.DataFrame, out_dir, name: str = "tuning") -> tuple[Path, Path]:
    """The table as CSV (read back by tests and the profile check) and Markdown."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv, md = out / f"{name}.csv", out / f"{name}.md"
    table.to_csv(csv, index=False, float_format="%.6g")
    md.write_text(table.to_markdown(index=False, floatfmt=".4g") + "\n")
    return csv, md


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path)


TABLE_NAMES = {"classes": "tuning", "genres": "tuning_genre_heads"}


def for_chapter(
    models,
    *,
    profile: str,
    data_dir,
    table_dir=None,
    target: str = "classes",
    verbose: bool = True,
):
    """The protocol as the model chapters run it: on real data (no synthetic manifest) every
    video-level model is tuned (runs reused), the table is written to ``table_dir`` (the
    chapter's figure folder; ``TABLE_NAMES[target]``) and ``{model: rate}`` returned for the
    suite; on synthetic data, whose profiles were set by hand for the capacity check, nothing
    is tuned: (None, {}). ``target="genres"`` tunes the genre heads of chapter 08."""
    from yt8m_lib.config import model_level
    from yt8m_lib.data.datasets import load_manifest

    if load_manifest(data_dir) is not None:
        return None, {}
    video_models = [m for m in models if model_level(m) == "video"]
    table = tune(video_models, profile=profile, data_dir=data_dir, target=target, verbose=verbose)
    if table_dir is not None:
        write_table(table, table_dir, TABLE_NAMES[target])
    return table, chosen_rates(table)


def cli_main(args) -> int:
    from yt8m_lib.config import MODEL_NAMES
    from yt8m_lib.errors import ConfigError

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}; choose from {MODEL_NAMES}")
    if not Path(args.data_dir).is_dir():
        raise ConfigError(f"{args.data_dir}: no such folder")
    table = tune(models, profile=args.profile, data_dir=args.data_dir, framework=args.framework)
    if args.out:
        for path in write_table(table, args.out):
            print(f"wrote {path}")
    print(table.to_string(index=False))
    print("chosen:", chosen_rates(table))
    return 0
