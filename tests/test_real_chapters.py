"""The real-data chapters: models a folder cannot feed are skipped with one line, and
`make reproduce-real` runs the data, autoencoder, model, comparison, learning-curve and genre
chapters end to end on a small folder of real shards (smoke profile; skipped where the real
sample is absent: set YT8M_REAL_DIR)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import CHECKOUT, random_frame_examples

from yt8m_lib import experiments, paths
from yt8m_lib.data import splits


def printed_text(notebook) -> str:
    """What an executed notebook's code cells printed."""
    return "".join(
        "".join(output.get("text", ""))
        for cell in json.loads(notebook.read_text())["cells"]
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
    )


def small_real_folder(folder, shards: int = 5):
    """A folder laid out like the real sample (video_validate/ and vocabulary.csv), of
    links to its first ``shards`` shards (nothing copied)."""
    real = paths.real_dir()
    if real is None:
        pytest.skip("real YouTube-8M shards not on this machine (set YT8M_REAL_DIR)")
    (folder / "video_validate").mkdir(parents=True)
    for shard in sorted((real / "video_validate").glob("*.tfrecord"))[:shards]:
        (folder / "video_validate" / shard.name).symlink_to(shard)
    (folder / "vocabulary.csv").symlink_to(real / "vocabulary.csv")
    return folder


def test_video_level_real_data_skips_the_frame_models_with_one_line_naming_the_download(
    tmp_path, capsys
):
    out = tmp_path / "real"
    splits.make_real_data(small_real_folder(tmp_path / "sample"), out, split="3/1/1")
    kept = experiments.runnable_models(["logistic", "fc", "bilstm", "hybrid"], out)
    assert kept == ["logistic", "fc"]
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1
    assert "skipping bilstm, hybrid" in printed[0] and "yt8m download" in printed[0]


def test_frame_shards_laid_out_like_the_real_download_feed_the_frame_models(tmp_path, capsys):
    """`yt8m download --partition 2/frame/train --out DATA/frame_train` puts its shards in
    frame_train/: one split, divided by file into train / validate / test."""
    from yt8m_lib.data.records import write_shard

    out = tmp_path / "real"
    splits.make_real_data(small_real_folder(tmp_path / "sample"), out, split="3/1/1")
    for i in range(5):
        write_shard(
            out / "frame_train" / f"train{i:04d}.tfrecord",
            random_frame_examples(3, seed=i, prefix=f"f{i}-"),
        )
    kept = experiments.runnable_models(["fc", "bilstm", "stream_lstm", "hybrid"], out)
    assert kept == ["fc", "bilstm", "stream_lstm", "hybrid"]
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_make_reproduce_real_runs_the_real_chapters_on_a_small_real_folder(tmp_path):
    sample = small_real_folder(tmp_path / "sample")
    build = tmp_path / "build"
    env = {
        **os.environ,
        "YT8M_RESULTS_DIR": str(tmp_path / "results"),
        "YT8M_FIGURES_DIR": "",  # the Makefile sets it per chapter set
    }
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "reproduce-real",
            "PROFILE=smoke",
            f"REAL_DATA={sample}",
            f"DATA_DIR={tmp_path / 'data'}",
            f"BUILD_DIR={build}",
            "REAL_MODELS=logistic,fc,bilstm",  # bilstm: skipped with one line
            "KERAS_TORCH_MODELS=logistic",  # the third column for one model only
            "CURVE_MODELS=logistic",
        ],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    executed = build / "real" / "smoke"
    names = sorted(p.name for p in executed.glob("*.ipynb"))
    assert names == [
        "01_eda_features.ipynb",
        "02_autoencoder.ipynb",
        "03_keras_models.ipynb",
        "04_torch_models.ipynb",
        "05_framework_comparison.ipynb",
        "07_learning_curves.ipynb",
        "08_genres.ipynb",
    ]
    figures = executed / "figures"
    for name in (
        "02_code_size_sweep",
        "02_ablation",
        "03_test_metrics",
        "04_test_metrics",
        "05_quality",
        "05_framework_differences",
        "07_learning_curves",
        "08_rules_and_head",
    ):
        assert (figures / f"{name}.png").is_file(), name
    assert {p.stem for p in figures.glob("01_*.png")} == {
        "01_label_frequency",
        "01_labels_per_video",
        "01_genre_shares",
        "01_genre_lift",
        "01_feature_values",
        "01_rgb_vs_audio",
        "01_feature_engineering",
    }
    data_chapter = printed_text(executed / "01_eda_features.ipynb")
    assert "real YouTube-8M" in data_chapter and "3,862 classes" in data_chapter
    assert "yt8m download --partition 2/frame/train" in data_chapter  # frame sections skipped
    assert "highest lift" in data_chapter
    autoencoder_chapter = printed_text(executed / "02_autoencoder.ipynb")
    assert "skipping bilstm" in autoencoder_chapter  # video level only on the real sample
    assert "undercomplete, the autoencoder explains more variance than PCA" in autoencoder_chapter
    sweep = (figures / "02_code_size_sweep.csv").read_text()
    assert sweep.startswith("stream,input_dim,code_size") and sweep.count("pca") == 10
    tuning = (figures / "tuning.csv").read_text()
    assert tuning.startswith("model,learning_rate") and "logistic" in tuning
    torch_chapter = (executed / "04_torch_models.ipynb").read_text()
    assert "skipping bilstm" in torch_chapter and "chosen on validate" in torch_chapter
    keras_chapter = printed_text(executed / "03_keras_models.ipynb")
    assert "Keras on torch for ['logistic'] only" in keras_chapter
    backends = (figures / "03_keras_backends.csv").read_text()
    assert ",logistic," in backends and ",fc," not in backends
    comparison = printed_text(executed / "05_framework_comparison.ipynb")
    assert "three engines for ['logistic']" in comparison
    assert "\nfc,keras," in (figures / "05_quality.csv").read_text()  # two frameworks: all
