"""Chapter 02's code-size sweep: PCA is measured right, each code size trains its own
autoencoder once (the profile's own size reuses the chapter's), and the reading says where
the autoencoder stands against PCA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yt8m_lib import autoencoder_study as study
from yt8m_lib import experiments


def low_rank(n: int, dim: int, rank: int, seed: int) -> np.ndarray:
    """Rows of one fixed rank-``rank`` subspace (the same for every seed), plus an offset."""
    subspace = np.random.default_rng(0).normal(size=(rank, dim))
    weights = np.random.default_rng(seed).normal(size=(n, rank))
    return (weights @ subspace + 3.0).astype(np.float32)


def test_pca_reconstructs_data_of_its_rank_exactly_and_nothing_with_no_components():
    train, validate = low_rank(200, 12, 3, seed=1), low_rank(80, 12, 3, seed=2)
    shares = study.pca_unexplained(train, validate, [0, 1, 2, 3, 12, 24])
    assert shares[0] == pytest.approx(1.0, abs=0.05)  # only the (train) mean: all the variance
    assert shares[1] > shares[2] > shares[3]
    assert shares[3] == pytest.approx(0.0, abs=1e-6)  # rank 3: three components suffice
    assert shares[24] == pytest.approx(0.0, abs=1e-6)  # more than the data has: capped


def test_pca_is_fitted_on_train_only():
    """A validate direction that train never varies in stays unexplained."""
    train = np.zeros((50, 4), np.float32)
    train[:, 0] = np.random.default_rng(0).normal(size=50)
    validate = np.zeros((50, 4), np.float32)
    validate[:, 1] = np.random.default_rng(1).normal(size=50)
    assert study.pca_unexplained(train, validate, [1])[1] == pytest.approx(1.0, abs=0.01)


def test_code_sizes_scale_both_streams_from_under_to_overcomplete():
    assert study.code_sizes([0.125, 1, 2]) == [(128, 16), (1024, 128), (2048, 256)]
    assert study.code_sizes([1 / 4096]) == [(1, 1)]  # never an empty code


def test_an_overridden_code_size_trains_its_own_autoencoder_with_that_code(tmp_path, data):
    from yt8m_lib.torch.train import load_autoencoder

    default = experiments.ensure_autoencoder(
        "torch", "video", profile="smoke", data_dir=data, results_dir=tmp_path, verbose=False
    )
    sized = experiments.ensure_autoencoder(
        "torch", "video", profile="smoke", data_dir=data, results_dir=tmp_path, verbose=False,
        code_sizes=(40, 8),
    )  # fmt: skip
    assert sized != default and sized.name.endswith("-code40x8")
    autoencoder, _ = load_autoencoder(sized, "cpu")
    assert autoencoder.rgb_encoder.out_features == 40
    assert autoencoder.audio_encoder.out_features == 8
    with pytest.raises(ValueError, match="positive"):
        experiments.ensure_autoencoder(
            "torch", "video", profile="smoke", data_dir=data, results_dir=tmp_path,
            code_sizes=(0, 8),
        )  # fmt: skip


def test_the_sweep_pairs_every_code_size_with_pca_and_reuses_the_profiles_own(
    tmp_path,
    data,
    monkeypatch,
):
    monkeypatch.setenv("YT8M_RESULTS_DIR", str(tmp_path))
    trained = []
    real_ensure = experiments.ensure_autoencoder

    def counting(*args, **kwargs):
        trained.append(kwargs.get("code_sizes"))
        return real_ensure(*args, **kwargs)

    monkeypatch.setattr(experiments, "ensure_autoencoder", counting)
    sweep = study.code_size_sweep("torch", data, profile="smoke", scales=[0.0625, 0.125],
                                  verbose=False)  # fmt: skip
    assert trained == [(64, 8), (128, 16)]  # the smoke profile's own code is 64 x 16
    assert len(sweep) == 2 * 2 * 2  # sizes x streams x methods
    assert set(sweep["method"]) == {"autoencoder", "pca"}
    assert np.isfinite(sweep["explained_share"]).all() and (sweep["explained_share"] <= 1).all()
    assert (sweep.loc[sweep.method == "autoencoder", "epochs_trained"] >= 1).all()
    lines = study.sweep_sentences(sweep)
    assert [line.split(" ")[1] for line in lines[:2]] == ["rgb", "audio"]
    # the real profile's own code (2048 x 256) is scale 2: the chapter's autoencoder, reused
    trained.clear()
    study.code_size_sweep("torch", data, profile="real", scales=[2.0], verbose=False)
    assert trained == [None]


def sweep_frame(
    ae_rgb: list[float], best_epochs: list[int], epochs: int = 20, stopped=(False,) * 3
) -> pd.DataFrame:
    """A sweep of three autoencoders (rgb codes 128 / 512 / 2048, audio 16 / 64 / 256),
    both streams explained as much as each other, PCA at 0.3 / 0.7 / 1.0; ``stopped``: which
    of them the convergence rule stopped."""
    rows = []
    for size, ae, pca, best, stop in zip(
        (128, 512, 2048), ae_rgb, (0.3, 0.7, 1.0), best_epochs, stopped, strict=True
    ):
        for stream, dim in (("rgb", 1024), ("audio", 128)):  # one autoencoder, two streams
            base = {"stream": stream, "input_dim": dim, "code_size": size * dim // 1024,
                    "code_ratio": size / 1024, "best_epoch": best,
                    "epochs_trained": epochs, "stopped_early": stop}  # fmt: skip
            rows.append(base | {"method": "autoencoder", "explained_share": ae})
            rows.append(base | {"method": "pca", "explained_share": pca} | {"best_epoch": None})
    return pd.DataFrame(rows)


def test_the_reading_counts_the_sizes_where_the_autoencoder_beats_pca():
    rgb, audio = study.sweep_sentences(sweep_frame([0.35, 0.6, 0.9], [12, 15, 9]))
    assert "more variance than PCA at 1 of 2 sizes (128)" in rgb
    assert "at 2048 units it explains 90.0% (PCA with every component: 100.0%)" in rgb
    assert audio.startswith("- audio (128 values)") and "(16)" in audio


def test_the_reading_says_when_the_autoencoder_had_not_converged():
    lines = study.sweep_sentences(sweep_frame([0.2, 0.6, 0.9], [20, 12, 20]))
    # counted per autoencoder (one per scale), not per stream row
    assert lines[-1].startswith("- At 2 of 3 code sizes the autoencoder's best validate epoch")
    assert "had not converged" in lines[-1]


def test_the_reading_says_when_every_autoencoder_converged():
    """Stopped by the convergence rule counts as converged even when the last epoch was the
    best (it fell, by less than the margin)."""
    lines = study.sweep_sentences(sweep_frame([0.2, 0.6, 0.9], [20, 12, 20], 20, (True,) * 3))
    assert lines[-1] == (
        "- All 3 autoencoders converged: each stopped when its validate loss stopped falling "
        "(after 20 epochs)."
    )
    mixed = study.sweep_sentences(
        sweep_frame([0.2, 0.6, 0.9], [20, 12, 20], 20, (True, True, False))
    )
    assert mixed[-1].startswith("- At 1 of 3 code sizes") and "converged:" not in mixed[-2]
