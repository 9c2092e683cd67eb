"""yt8m_lib.eda: the numbers of chapter 01 on hand-computed examples (genre lift, genre
shares), its figures (caption, masked diagonal, no blank panel) and the frame-level
fallback. Notebook 01 on real shards runs in `make reproduce-real` (test_real_chapters.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from yt8m_lib import eda  # noqa: E402
from yt8m_lib.evaluation.genres import Vocabulary  # noqa: E402


def labels(rows, num_classes):
    y = np.zeros((len(rows), num_classes), dtype=np.uint8)
    for i, row in enumerate(rows):
        y[i, row] = 1
    return y


@pytest.fixture
def lift_example():
    """Four videos, one class per genre W, X, Y, Z and a genre V that labels no video:
    X and Y independent (each in 2 of 4 videos, together in 1), Z and W always together
    (in the same 2 of 4), X and Z never together."""
    vocab = Vocabulary.from_genres(list("xyzwv"), ["X", "Y", "Z", "W", "V"])
    y = labels([[0, 1], [0], [1, 2, 3], [2, 3]], 5)
    return y, vocab


# --------------------------------------------------------------------------- lift


def test_lift_is_one_for_independent_genres_and_one_over_p_for_inseparable_ones(lift_example):
    y, vocab = lift_example
    lift = eda.genre_lift(y, vocab)
    assert lift.loc["X", "Y"] == pytest.approx(1.0)  # P(X,Y) = 1/4 = 1/2 * 1/2
    assert lift.loc["Y", "Z"] == pytest.approx(1.0)
    assert lift.loc["Z", "W"] == pytest.approx(2.0)  # always together: 1 / P(Z) = 1 / (1/2)
    assert lift.loc["X", "Z"] == 0.0  # never together
    assert lift.loc["X", "X"] == pytest.approx(2.0)  # the diagonal is 1 / P(g)
    assert lift.isna().loc["V"].all() and lift.isna()["V"].all()  # V labels no video
    assert np.allclose(lift.to_numpy(), lift.to_numpy().T, equal_nan=True)


def test_lift_of_a_genre_always_with_a_rare_one_is_one_over_the_rare_ones_probability():
    # genre A on every video, B on 1 of 5: independent (lift 1), although always "together"
    vocab = Vocabulary.from_genres(["a", "b"], ["A", "B"])
    y = labels([[0, 1], [0], [0], [0], [0]], 2)
    lift = eda.genre_lift(y, vocab)
    assert lift.loc["A", "B"] == pytest.approx(1.0)
    assert lift.loc["B", "B"] == pytest.approx(5.0)


def test_lift_pairs_rank_the_pairs_with_enough_videos(lift_example):
    y, vocab = lift_example
    pairs = eda.lift_pairs(y, vocab, min_videos=1)
    assert list(pairs[["genre a", "genre b"]].iloc[0]) == ["W", "Z"]  # genre order: alphabetical
    assert pairs["lift"].tolist() == pytest.approx([2.0, 1.0, 1.0, 1.0])  # W-Z; W-Y, X-Y, Y-Z
    assert pairs["expected"].iloc[0] == pytest.approx(1.0)  # 4 x 1/2 x 1/2
    assert pairs["videos"].iloc[0] == 2
    assert eda.lift_pairs(y, vocab, min_videos=2)["genre a"].tolist() == ["W"]


# --------------------------------------------------------------------------- shares


def test_genre_shares_by_videos_and_by_labels_differ():
    # classes 0-2 of genre A, class 3 of genre B; one video with three A labels, one with a B
    vocab = Vocabulary.from_genres(list("abcd"), ["A", "A", "A", "B"])
    y = labels([[0, 1, 2], [3]], 4)
    shares = eda.genre_shares(y, vocab)
    assert shares.loc["A", "videos"] == pytest.approx(0.5)
    assert shares.loc["B", "videos"] == pytest.approx(0.5)
    assert shares.loc["A", "labels"] == pytest.approx(0.75)  # 3 of the 4 labels
    assert shares.loc["B", "labels"] == pytest.approx(0.25)
    assert shares.loc["A", "classes"] == pytest.approx(0.75)
    assert shares["P(g)"].tolist() == pytest.approx([0.5, 0.5])
    assert shares["labels_per_video"].tolist() == pytest.approx([3.0, 1.0])
    for column in ("videos", "labels", "classes"):
        assert shares[column].sum() == pytest.approx(1.0)


def test_a_tie_splits_the_video_and_unlabelled_videos_do_not_count():
    vocab = Vocabulary.from_genres(list("abc"), ["A", "B", "B"])
    y = labels([[0, 1], [1, 2], [0], []], 3)  # a tie A/B, B twice, A once, no label
    shares = eda.genre_shares(y, vocab)
    assert shares.loc["A", "num_videos"] == pytest.approx(1.5)
    assert shares.loc["B", "num_videos"] == pytest.approx(1.5)
    assert shares.loc["A", "videos"] == pytest.approx(0.5)
    assert shares.loc["B", "labels"] == pytest.approx(3 / 5)
    assert shares.loc["A", "P(g)"] == pytest.approx(2 / 4)  # over all four videos
    assert eda.majority_ties(y, vocab) == pytest.approx(1 / 3)
    assert eda.single_genre_share(y, vocab) == pytest.approx(2 / 3)


def test_a_perfect_class_predictor_misses_the_majority_genre_under_max_but_not_under_sum():
    # genre A (class a) and genre B (classes b, c): video 0 has one A and two B labels, so its
    # majority genre is B; under max both genres score 1 and the tie goes to A (lower index)
    vocab = Vocabulary.from_genres(list("abc"), ["A", "B", "B"])
    y = labels([[0, 1, 2], [1], [0]], 3)
    table = eda.genre_rule_ceilings(y, vocab).set_index(["predictor", "rule"])
    perfect = table.loc["perfect class predictor"]
    assert perfect.loc["max", "strict_accuracy"] == pytest.approx(2 / 3)
    assert perfect.loc["sum", "strict_accuracy"] == pytest.approx(1.0)
    assert (perfect["lenient_accuracy"] == 1.0).all()  # always one of the video's genres
    assert set(perfect.index) == {"max", "sum", "noisy_or", "topk_mean"}
    constant = table.loc[("most frequent genre", "any")]
    assert constant["genre"] == "B"  # the majority genre of two of the three videos
    assert constant["strict_accuracy"] == pytest.approx(2 / 3)
    assert (table["num_labelled"] == 3).all()


# --------------------------------------------------------------------------- figures


def test_the_lift_heatmap_masks_the_diagonal_has_no_grid_and_names_the_data(lift_example):
    y, vocab = lift_example
    caption = eda.describe_data(None, len(y), vocab.num_classes)
    fig = eda.plot_genre_lift(
        eda.genre_lift(y, vocab), caption, top=4, together=eda.genre_cooccurrence(y, vocab)
    )
    ax = fig.axes[0]
    image = ax.get_images()[0]
    data = image.get_array()
    assert data.shape == (4, 4) and data.mask.diagonal().all()
    norm = image.norm
    assert norm.vmin * norm.vmax == pytest.approx(1.0)  # log scale centred at 1
    assert not any(line.get_visible() for line in ax.get_xgridlines() + ax.get_ygridlines())
    texts = [t.get_text() for t in fig.texts]
    assert any("real YouTube-8M" in t and "4 videos" in t for t in texts)
    assert len(ax.texts) == 12  # every off-diagonal cell annotated
    plt.close(fig)


def test_feature_values_draw_the_bytes_or_one_panel_of_floats():
    rng = np.random.default_rng(0)
    means = rng.normal(0, 0.4, (20, 1024)).astype(np.float32)
    frames = rng.integers(60, 200, (30, 1024)).astype(np.uint8)
    fig = eda.plot_feature_values(means, "Data: synthetic.", frame_rgb=frames)
    assert len(fig.axes) == 2
    byte_panel = fig.axes[0]
    drawn = [p for p in byte_panel.patches if p.get_visible()]
    assert drawn, "the quantized bytes panel is blank"
    assert byte_panel.get_ylim()[1] > 0
    plt.close(fig)
    fig = eda.plot_feature_values(means, "Data: real.", mean_audio=means[:, :128])
    assert len(fig.axes) == 1 and fig.axes[0].patches
    assert "no quantized bytes" in fig.axes[0].get_title()
    plt.close(fig)


def test_head_classes_name_every_class_even_without_a_name():
    vocab = Vocabulary.from_genres(["a", " ", "c"], ["A", "A", "B"])
    y = labels([[1], [1, 2], [0, 1]], 3)
    head = eda.head_classes(y, vocab, 2)
    assert head["class"].tolist() == ["(class 1, no name)", "a"]
    assert head["videos"].tolist() == [3, 1] and head.index.tolist() == [1, 0]
    pairs = eda.top_class_pairs(y, vocab, n=1)  # ties: the pair seen first
    row = pairs.iloc[0]
    assert [row["class a"], row["class b"], row["genre"], row["videos"]] == [
        "(class 1, no name)",
        "c",
        "A / B",
        1,
    ]
    assert row["lift"] == pytest.approx(1.0)  # 1 video x 3 / (3 x 1)


def test_describe_data_says_real_or_synthetic_videos_and_classes():
    assert eda.describe_data({"profile": "smoke", "seed": 3}, 1200, 30) == (
        "Data: synthetic YouTube-8M (smoke profile, seed 3), train split: 1,200 videos, 30 classes."
    )
    assert "real YouTube-8M" in eda.describe_data(None, 5, 3862, split="test")


# --------------------------------------------------------------------------- frame-level


def test_without_frame_shards_the_hint_names_the_download(tmp_path):
    assert eda.frame_shards(tmp_path) == []
    hint = eda.frame_download_hint(tmp_path)
    assert "\n" not in hint
    assert (
        f"yt8m download --partition 2/frame/train --fraction 1/1000 --out {tmp_path}/frame_train"
        in hint
    )
    # two frame shards of one split cannot be divided into splits: both are explored
    for name in ("train0000.tfrecord", "train0001.tfrecord"):
        (tmp_path / "frame").mkdir(exist_ok=True)
        (tmp_path / "frame" / name).write_bytes(b"")
    assert [p.name for p in eda.frame_shards(tmp_path)] == [
        "train0000.tfrecord",
        "train0001.tfrecord",
    ]
