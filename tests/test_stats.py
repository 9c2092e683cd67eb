"""yt8m_lib.stats: paired tests over seeds, bootstrap over videos, Holm, the framework verdict.

Expected values are computed here independently of scipy: Student's t has closed forms for
2 and 4 degrees of freedom, the exact Wilcoxon null distribution of small n is counted by
hand, and Holm is checked on the textbook example.
"""

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import CHECKOUT

from yt8m_lib import stats
from yt8m_lib.evaluation.metrics import gap
from yt8m_lib.stats import (
    BootstrapInterval,
    PairedDifference,
    bootstrap_ci,
    compare_frameworks,
    holm,
    paired_bootstrap_ci,
    paired_difference,
)


def t2_two_sided_p(t):
    """Two-sided p of Student's t with 2 degrees of freedom (closed form)."""
    return 1.0 - abs(t) / math.sqrt(t * t + 2.0)


def t2_quantile(confidence):
    """t such that P(|T| <= t) = confidence for 2 degrees of freedom (inverse of the above)."""
    return confidence * math.sqrt(2.0 / (1.0 - confidence**2))


def t4_two_sided_p(t):
    """Two-sided p of Student's t with 4 degrees of freedom (closed form of the CDF)."""
    u = 1.0 + t * t / 4.0
    cdf = 0.5 + 0.375 * (abs(t) / math.sqrt(u)) * (1.0 - t * t / (12.0 * u))
    return 2.0 * (1.0 - cdf)


# ------------------------------------------------------------------------------ paired


def test_paired_difference_matches_hand_computed_t_test_with_4_degrees_of_freedom():
    a = np.array([0.61, 0.72, 0.53, 0.84, 0.65])
    b = a - np.array([1.0, 2.0, 3.0, 4.0, 5.0]) / 100  # differences 0.01 .. 0.05
    result = paired_difference(a, b)
    sd = math.sqrt(2.5) / 100
    t = 0.03 / (sd / math.sqrt(5))  # 4.2426
    assert isinstance(result, PairedDifference)
    assert result.n == 5
    assert result.mean == pytest.approx(0.03)
    assert result.sd == pytest.approx(sd)
    assert result.d_z == pytest.approx(0.03 / sd)  # Cohen's d_z = 1.897
    assert result.p_value == pytest.approx(t4_two_sided_p(t), rel=1e-9)  # 0.013236
    assert result.p_value == pytest.approx(0.013236, abs=1e-6)
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t(0.975, 4) from any table: 2.776445
    assert (result.ci_low, result.ci_high) == pytest.approx((0.03 - half, 0.03 + half))
    assert result.test == "t" and result.confidence == 0.95 and result.note == ""
    assert dataclasses.asdict(result)["mean"] == result.mean
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.mean = 0.0


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_interval_and_p_follow_the_closed_form_of_2_degrees_of_freedom(confidence):
    d = np.array([0.5, 2.0, 4.0])  # mean 13/6, three pairs
    result = paired_difference(d + 10.0, np.full(3, 10.0), confidence=confidence)
    mean, se = d.mean(), d.std(ddof=1) / math.sqrt(3)
    assert result.p_value == pytest.approx(t2_two_sided_p(mean / se), rel=1e-9)
    half = t2_quantile(confidence) * se
    assert result.ci_low == pytest.approx(mean - half, rel=1e-9)
    assert result.ci_high == pytest.approx(mean + half, rel=1e-9)


def test_sign_follows_a_minus_b():
    a, b = [1.0, 2.0, 3.5], [2.0, 3.5, 4.0]
    forward, backward = paired_difference(a, b), paired_difference(b, a)
    assert forward.mean < 0 < backward.mean
    assert forward.d_z == pytest.approx(-backward.d_z)
    assert (forward.ci_low, forward.ci_high) == pytest.approx((-backward.ci_high, -backward.ci_low))
    assert forward.p_value == pytest.approx(backward.p_value)


@pytest.mark.parametrize(
    "d, expected",
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0], 2 / 32),  # all 5 positive: smallest possible p
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2 / 64),  # 6 pairs: the first n that can reach < 0.05
        ([1.0, -2.0, 3.0, 4.0, 5.0, 6.0], 6 / 64),  # W- = 2: subsets {}, {1}, {2}, doubled
    ],
)
def test_wilcoxon_gives_the_exact_signed_rank_p(d, expected):
    d = np.array(d)
    result = paired_difference(d, np.zeros_like(d), test="wilcoxon")
    assert result.p_value == pytest.approx(expected)
    assert result.test == "wilcoxon"
    assert result.mean == pytest.approx(d.mean())  # the interval and effect are still t's
    assert result.ci_low == paired_difference(d, np.zeros_like(d)).ci_low


def test_paired_test_finds_a_steady_shift_an_unpaired_test_misses():
    rng = np.random.default_rng(7)
    seed_effect = rng.normal(0.0, 0.02, size=6)  # what a seed's batches do to both
    b = 0.80 + seed_effect + rng.normal(0.0, 0.001, size=6)
    a = 0.80 + seed_effect + 0.004 + rng.normal(0.0, 0.001, size=6)
    paired = paired_difference(a, b)
    assert paired.p_value < 0.01
    assert paired.ci_low > 0
    # the same numbers unpaired (Welch): the seed spread swamps the shift
    welch_t = (a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / 6 + b.var(ddof=1) / 6)
    assert abs(welch_t) < 1.0  # p > 0.3 for any degrees of freedom
    shuffled = paired_difference(a, b[::-1])  # pairing broken: no longer detected
    assert shuffled.p_value > 0.05


def test_all_differences_equal_give_a_point_interval_and_a_note():
    same = paired_difference([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert (same.mean, same.ci_low, same.ci_high, same.p_value, same.sd, same.d_z) == (
        0.0,
        0.0,
        0.0,
        1.0,
        0.0,
        0.0,
    )
    assert "all differences equal" in same.note
    assert paired_difference([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], test="wilcoxon").p_value == 1.0
    shifted = paired_difference([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert (shifted.ci_low, shifted.ci_high, shifted.p_value, shifted.d_z) == (
        1.0,
        1.0,
        0.0,
        math.inf,
    )
    assert paired_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]).d_z == -math.inf
    assert "seeds" in shifted.note
    ranked = paired_difference([2.0, 3.0, 4.0, 5.0, 6.0, 7.0], np.arange(1.0, 7.0), test="wilcoxon")
    assert ranked.p_value == pytest.approx(2 / 64)


def test_pairs_are_by_position_not_by_series_index():
    a = pd.Series([1.0, 2.0, 3.0], index=[2, 1, 0])
    b = pd.Series([0.0, 0.5, 1.5], index=[0, 1, 2])
    assert paired_difference(a, b).mean == pytest.approx(np.mean([1.0, 1.5, 1.5]))


@pytest.mark.parametrize(
    "a, b, kwargs, message",
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], {}, "same length"),
        ([1.0], [2.0], {}, "at least 2 pairs"),
        ([], [], {}, "at least 2 pairs"),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], {}, r"a has NaN .* positions \[1\]"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, np.inf], {}, r"b has NaN or infinite .* \[2\]"),
        ([[1.0, 2.0]], [[1.0, 2.0]], {}, "1-D"),
        ([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], {"test": "welch"}, "unknown test 'welch'"),
        ([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], {"confidence": 95}, "between 0 and 1"),
    ],
)
def test_paired_difference_refuses_bad_input_with_a_clear_message(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        paired_difference(a, b, **kwargs)


# ------------------------------------------------------------------------------ Holm


def test_holm_textbook_example_in_input_order():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_keeps_the_kind_and_the_names_of_its_input():
    named = {"fc": 0.01, "moe": 0.04, "bilstm": 0.03, "hybrid": 0.005}
    adjusted = holm(named)
    assert list(adjusted) == ["fc", "moe", "bilstm", "hybrid"]
    assert adjusted == pytest.approx({"fc": 0.03, "moe": 0.06, "bilstm": 0.06, "hybrid": 0.02})
    series = holm(pd.Series(named, name="p"))
    assert isinstance(series, pd.Series) and series.name == "p"
    assert series.index.tolist() == list(named)
    assert series.to_numpy() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    array = holm(np.array([0.01, 0.04]))
    assert isinstance(array, np.ndarray) and array == pytest.approx([0.02, 0.04])
    assert holm((0.2,)) == [0.2] and holm([]) == []


def test_holm_is_monotone_capped_at_one_and_never_below_the_raw_p():
    assert holm([0.6, 0.7, 0.01]) == pytest.approx([1.0, 1.0, 0.03])  # 2 * 0.6 > 1
    raw = np.random.default_rng(3).uniform(0, 0.2, size=12)
    adjusted = holm(raw)
    order = np.argsort(raw)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert np.all(adjusted >= raw) and np.all(adjusted <= 1)
    # the step-down's running maximum matters: 3 * 0.02 > 2 * 0.025
    assert holm([0.02, 0.025, 0.9]) == pytest.approx([0.06, 0.06, 0.9])


def test_holm_leaves_untested_nan_out_of_the_family():
    assert holm([0.01, float("nan"), 0.04]) == pytest.approx(
        [0.02, float("nan"), 0.04], nan_ok=True
    )
    assert all(math.isnan(p) for p in holm([float("nan")]))


@pytest.mark.parametrize("bad", [[0.5, 1.2], [-0.1], [[0.1, 0.2]]])
def test_holm_refuses_values_that_are_not_p_values(bad):
    with pytest.raises(ValueError, match="p-values must lie in|one-dimensional"):
        holm(bad)


# ------------------------------------------------------------------------------ bootstrap


def scored_videos(n, *, seed=0, num_classes=20):
    """Scores that carry some signal about random labels."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, num_classes)) < 0.15).astype(np.int8)
    labels[np.arange(n), rng.integers(0, num_classes, n)] = 1
    scores = np.clip(0.35 * labels + rng.random((n, num_classes)) * 0.8, 0, 1)
    return scores, labels


def test_bootstrap_is_deterministic_given_the_seed():
    scores, labels = scored_videos(100)
    first = bootstrap_ci(gap, scores, labels, n_boot=50, seed=5)
    assert isinstance(first, BootstrapInterval)
    assert first == bootstrap_ci(gap, scores, labels, n_boot=50, seed=5)
    assert first != bootstrap_ci(gap, scores, labels, n_boot=50, seed=6)
    estimate, low, high = first  # unpacks as a 3-tuple
    assert estimate == pytest.approx(gap(scores, labels))
    assert low < estimate < high


def test_bootstrap_interval_is_wider_with_fewer_videos():
    scores, labels = scored_videos(640, seed=1)
    many = bootstrap_ci(gap, scores, labels, n_boot=80, seed=0)
    few = bootstrap_ci(gap, scores[:40], labels[:40], n_boot=80, seed=0)
    assert few.ci_low <= few.estimate <= few.ci_high
    assert few.ci_high - few.ci_low > 2 * (many.ci_high - many.ci_low)  # ~ sqrt(16) = 4 x


def test_bootstrap_of_a_mean_matches_the_normal_interval():
    values = np.random.default_rng(2).exponential(1.0, size=(2000, 1))
    estimate, low, high = bootstrap_ci(
        lambda s, y: s.mean(), values, np.zeros_like(values), n_boot=1000, seed=0, confidence=0.9
    )
    half = 1.6448536 * values.std(ddof=1) / math.sqrt(values.shape[0])  # z(0.95)
    assert estimate == pytest.approx(values.mean())
    assert low == pytest.approx(estimate - half, abs=0.15 * half)
    assert high == pytest.approx(estimate + half, abs=0.15 * half)


def test_paired_bootstrap_resamples_the_same_videos_for_both_models():
    scores, labels = scored_videos(150, seed=4)
    mean = lambda s, y: float(s.mean())  # noqa: E731 - linear: shift survives every resample
    shift = paired_bootstrap_ci(mean, scores + 0.01, scores, labels, n_boot=100, seed=0)
    assert shift == pytest.approx((0.01, 0.01, 0.01), abs=1e-12)  # zero width only if paired
    same = paired_bootstrap_ci(gap, scores, scores, labels, n_boot=20)
    assert tuple(same) == (0.0, 0.0, 0.0)
    worse = np.clip(scores + np.random.default_rng(9).normal(0, 0.08, scores.shape), 0, 1)
    difference = paired_bootstrap_ci(gap, scores, worse, labels, n_boot=100, seed=0)
    assert difference.estimate == pytest.approx(gap(scores, labels) - gap(worse, labels))
    assert 0 < difference.ci_low < difference.estimate < difference.ci_high
    a_alone = bootstrap_ci(gap, scores, labels, n_boot=100, seed=0)
    b_alone = bootstrap_ci(gap, worse, labels, n_boot=100, seed=0)
    # pairing makes the difference's interval narrower than either model's own interval
    assert difference.ci_high - difference.ci_low < a_alone.ci_high - a_alone.ci_low
    assert difference.ci_high - difference.ci_low < b_alone.ci_high - b_alone.ci_low


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s, y: bootstrap_ci(gap, s[:10], y), "same number of rows"),
        (lambda s, y: bootstrap_ci(gap, s[:1], y[:1]), "at least 2 rows"),
        (lambda s, y: bootstrap_ci(gap, s, y, n_boot=1), "n_boot must be an integer >= 2"),
        (lambda s, y: bootstrap_ci(gap, s, y, n_boot=10.5), "n_boot must be an integer"),
        (lambda s, y: bootstrap_ci(gap, s, y, confidence=1.0), "between 0 and 1"),
        (lambda s, y: bootstrap_ci(lambda *_: float("nan"), s, y, n_boot=5), "NaN or infinite"),
        (lambda s, y: paired_bootstrap_ci(gap, s, s[:, :5], y), "same shape"),
        (lambda s, y: paired_bootstrap_ci(gap, s, s[:3], y), "same number of rows"),
    ],
)
def test_bootstrap_refuses_bad_input_with_a_clear_message(call, message):
    scores, labels = scored_videos(20)
    with pytest.raises(ValueError, match=message):
        call(scores, labels)


# ------------------------------------------------------------------------------ frameworks

SEEDS = [0, 1, 2, 3, 4]
SEED_EFFECT = np.array([0.010, -0.020, 0.015, -0.005, 0.000])  # shared by both frameworks


def runs(model, differences, *, seeds=SEEDS, base=0.80):
    """Long table of runs: torch = base + seed effect, keras = torch + difference."""
    rows = []
    for seed, d in zip(seeds, differences):
        torch_gap = base + SEED_EFFECT[seed % 5]
        rows.append({"model": model, "framework": "torch", "seed": seed, "gap": torch_gap})
        rows.append({"model": model, "framework": "keras", "seed": seed, "gap": torch_gap + d})
    return pd.DataFrame(rows)


STEADY = [0.001, 0.002, 0.003, 0.004, 0.005]  # p = 0.013 alone
SPREAD = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) / 1000


def test_compare_frameworks_gives_one_row_per_model_with_the_verdict():
    frame = pd.concat([runs("fc", [-x for x in STEADY]), runs("moe", SPREAD)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # everything paired: no warning
        table = compare_frameworks(frame, metric="gap")
    assert table.columns.tolist() == [
        "model",
        "n",
        "mean_keras",
        "mean_torch",
        "mean_diff",
        "ci_low",
        "ci_high",
        "d_z",
        "p_value",
        "p_holm",
        "verdict",
        "note",
    ]
    fc, moe = table.set_index("model").loc["fc"], table.set_index("model").loc["moe"]
    assert table["model"].tolist() == ["fc", "moe"]
    assert fc["n"] == 5 and fc["mean_diff"] == pytest.approx(-0.003)
    alone = paired_difference(0.8 + SEED_EFFECT - np.array(STEADY), 0.8 + SEED_EFFECT)
    assert fc["p_value"] == pytest.approx(alone.p_value)
    assert fc["p_holm"] == pytest.approx(2 * alone.p_value)  # smallest of a family of 2
    assert (fc["ci_low"], fc["ci_high"]) == pytest.approx((alone.ci_low, alone.ci_high))
    assert fc["mean_torch"] == pytest.approx(0.8 + SEED_EFFECT.mean())
    assert fc["verdict"] == "torch ahead"
    assert moe["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert moe["p_value"] == pytest.approx(1.0)
    assert moe["verdict"] == "no detectable difference"
    assert table["note"].tolist() == ["", ""]
    assert table.attrs["metric"] == "gap" and table.attrs["alpha"] == 0.05


def test_verdict_uses_the_holm_adjusted_p_not_the_raw_one():
    t_30, t_33 = 3.0, 3.3  # differences m + SPREAD have t = m * sqrt(2) / (1/1000)
    frame = pd.concat(
        [
            runs("fc", 0.03 + SPREAD),  # p ~ 1e-5
            runs("moe", t_30 / math.sqrt(2) / 1000 + SPREAD),  # p = 0.040
            runs("bilstm", t_33 / math.sqrt(2) / 1000 + SPREAD),  # p = 0.030
        ]
    )
    table = compare_frameworks(frame, metric="gap").set_index("model")
    assert table.loc["moe", "p_value"] == pytest.approx(t4_two_sided_p(t_30), rel=1e-6)
    assert table.loc["bilstm", "p_value"] == pytest.approx(t4_two_sided_p(t_33), rel=1e-6)
    assert (table["p_value"] < 0.05).all()
    assert table.loc["bilstm", "p_holm"] == pytest.approx(2 * t4_two_sided_p(t_33), rel=1e-6)
    assert table["verdict"].tolist() == [
        "keras ahead",
        "no detectable difference",
        "no detectable difference",
    ]
    lenient = compare_frameworks(frame, metric="gap", alpha=0.1)
    assert lenient["verdict"].tolist() == ["keras ahead"] * 3


def test_lower_is_better_flips_who_is_ahead():
    frame = runs("fc", 0.03 + SPREAD).rename(columns={"gap": "seconds"})
    assert compare_frameworks(frame, metric="seconds")["verdict"].item() == "keras ahead"
    slower = compare_frameworks(frame, metric="seconds", higher_is_better=False)
    assert slower["verdict"].item() == "torch ahead"
    swapped = compare_frameworks(frame, metric="seconds", a="torch", b="keras")
    assert swapped["mean_diff"].item() == pytest.approx(-0.03)
    assert swapped["verdict"].item() == "keras ahead"
    assert "mean_torch" in swapped.columns[2]


def test_unmatched_seeds_are_dropped_with_a_warning():
    frame = runs("fc", 0.03 + SPREAD)
    frame = pd.concat(
        [
            frame[~((frame["framework"] == "torch") & (frame["seed"] == 4))],
            pd.DataFrame(
                [
                    {"model": "fc", "framework": "torch", "seed": 9, "gap": 0.5},
                    {"model": "fc", "framework": "jax", "seed": 0, "gap": 0.1},
                ]
            ),
        ]
    )
    with pytest.warns(
        UserWarning,
        match=r"model=fc: dropped keras seed\(s\) \[4\].*torch "
        r"seed\(s\) \[9\]",
    ):
        table = compare_frameworks(frame, metric="gap")
    assert table["n"].item() == 4
    assert table["mean_diff"].item() == pytest.approx(np.mean(0.03 + SPREAD[:4]))
    assert "dropped keras seed(s) [4]" in table["note"].item()


def test_fewer_than_two_pairs_give_nan_p_and_no_detectable_difference():
    one_pair = runs("moe", [0.5], seeds=[0])
    keras_only = runs("hybrid", [0.5, 0.5])
    keras_only = keras_only[keras_only["framework"] == "keras"]
    frame = pd.concat([runs("fc", 0.03 + SPREAD), one_pair, keras_only])
    with pytest.warns(UserWarning, match="model=hybrid: dropped keras"):
        table = compare_frameworks(frame, metric="gap").set_index("model")
    assert table.loc["moe", "n"] == 1 and table.loc["hybrid", "n"] == 0
    assert table.loc["moe", "mean_diff"] == pytest.approx(0.5)
    for model in ("moe", "hybrid"):
        assert math.isnan(table.loc[model, "p_value"])
        assert math.isnan(table.loc[model, "p_holm"])
        assert table.loc[model, "verdict"] == "no detectable difference"
        assert "fewer than 2 paired seeds" in table.loc[model, "note"]
    # the untested rows do not count in the family: fc keeps its raw p
    assert table.loc["fc", "p_holm"] == pytest.approx(table.loc["fc", "p_value"])
    assert table.loc["fc", "verdict"] == "keras ahead"


def test_compare_frameworks_groups_by_several_columns_and_passes_the_test_on():
    frame = pd.concat(
        [
            runs("fc", 0.03 + SPREAD).assign(features="rgb"),
            runs("fc", SPREAD).assign(features="audio"),
        ]
    )
    table = compare_frameworks(frame, metric="gap", by=["model", "features"], test="wilcoxon")
    assert table[["model", "features"]].values.tolist() == [["fc", "rgb"], ["fc", "audio"]]
    assert table["p_value"].tolist() == pytest.approx([2 / 32, 1.0])  # 5 pairs: p >= 1/16
    assert table["verdict"].tolist() == ["no detectable difference"] * 2
    assert table.attrs["test"] == "wilcoxon"


def test_identical_frameworks_are_no_difference_with_a_note():
    table = compare_frameworks(runs("fc", [0.0] * 5), metric="gap")
    assert table["p_value"].item() == 1.0
    assert table["verdict"].item() == "no detectable difference"
    assert "all differences equal" in table["note"].item()


@pytest.mark.parametrize(
    "change, kwargs, message",
    [
        (lambda f: f.drop(columns="seed"), {}, r"no column\(s\) \['seed'\]"),
        (lambda f: f, {"metric": "hit_at_1"}, r"no column\(s\) \['hit_at_1'\]"),
        (
            lambda f: pd.concat([f, f.iloc[:1]]),
            {},
            r"model=fc: more than one torch run for seed \[0\]",
        ),
        (lambda f: f.assign(gap=f["gap"].where(f.index != 3)), {}, "model=fc: a has NaN"),
        (lambda f: f, {"alpha": 5}, "alpha must lie strictly between 0 and 1"),
    ],
)
def test_compare_frameworks_refuses_bad_tables_with_a_clear_message(change, kwargs, message):
    frame = change(runs("fc", 0.03 + SPREAD).reset_index(drop=True))
    with pytest.raises(ValueError, match=message):
        compare_frameworks(frame, **{"metric": "gap", **kwargs})


def test_module_states_the_rule_and_why_paired():
    doc = stats.__doc__
    assert "One rule" in doc and "same batches" in doc and "Holm" in doc


def test_compare_models_pairs_seeds_and_corrects_over_the_family_of_pairs():
    """fc is steadily 0.02 above logistic on every seed (detected); moe differs from
    logistic only by noise (not detected); a pair with an absent model is left out; the
    Holm adjustment counts the two pairs that were compared."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(5):
        base = rng.normal(0.6, 0.01)
        rows += [
            {"model": "logistic", "seed": seed, "gap": base},
            {"model": "fc", "seed": seed, "gap": base + 0.02 + rng.normal(0, 0.002)},
            {"model": "moe", "seed": seed, "gap": base + rng.normal(0, 0.01)},
        ]
    table = stats.compare_models(
        pd.DataFrame(rows), [("fc", "logistic"), ("moe", "logistic"), ("gated_moe", "fc")]
    )
    assert table[["a", "b"]].values.tolist() == [["fc", "logistic"], ["moe", "logistic"]]
    assert table.loc[0, "verdict"] == "fc ahead" and table.loc[0, "ci_low"] > 0
    assert table.loc[1, "verdict"] == stats.NO_DIFFERENCE
    assert table["p_holm"].tolist() == pytest.approx(
        stats.holm(table["p_value"].tolist()), rel=1e-12
    )


def _ranked_set(seed, n=240, c=40):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, c)) < 0.06).astype(float)
    return rng.random((n, c)) * 0.6 + labels * rng.random((n, c)) * 0.5, labels


def test_the_fast_gap_bootstrap_equals_the_general_one_resample_for_resample():
    scores, labels = _ranked_set(0)
    other, _ = _ranked_set(1)
    fast = stats.gap_bootstrap_ci(scores, labels, n_boot=40, seed=7)
    slow = stats.bootstrap_ci(gap, scores, labels, n_boot=40, seed=7)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    assert fast.estimate == pytest.approx(gap(scores, labels), abs=1e-12)
    paired_fast = stats.gap_bootstrap_ci(scores, labels, scores_b=other, n_boot=40, seed=7)
    paired_slow = stats.paired_bootstrap_ci(gap, scores, other, labels, n_boot=40, seed=7)
    np.testing.assert_allclose(paired_fast, paired_slow, rtol=0, atol=1e-12)


def test_the_gap_bootstrap_of_seeds_is_the_mean_gap_on_the_same_resampled_videos():
    runs = [_ranked_set(s)[0] for s in (2, 3)]
    _, labels = _ranked_set(2)
    both = stats.gap_bootstrap_ci(runs, labels, n_boot=30, seed=1)
    assert both.estimate == pytest.approx(np.mean([gap(r, labels) for r in runs]), abs=1e-12)
    # a model against itself differs by exactly 0 on every resample
    same = stats.gap_bootstrap_ci(runs, labels, scores_b=runs, n_boot=30, seed=1)
    assert same == (0.0, 0.0, 0.0)
    # and a better model's difference interval lies above 0
    better = [labels * 2.0 + r for r in runs]
    assert stats.gap_bootstrap_ci(better, labels, scores_b=runs, n_boot=30, seed=1).ci_low > 0


def test_the_gap_bootstrap_refuses_scores_of_another_shape():
    scores, labels = _ranked_set(0)
    with pytest.raises(ValueError, match="must be equal"):
        stats.gap_bootstrap_ci(scores[:, :-1], labels, n_boot=10)


def _power(d_z: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired t-test with n pairs at effect d_z (noncentral t)."""
    from scipy import stats as st

    df, nc = n - 1, d_z * math.sqrt(n)
    critical = st.t.ppf(1 - alpha / 2, df)
    # the lower tail is negligible here and scipy returns nan for it at large nc
    return st.nct.sf(critical, df, nc) + np.nan_to_num(st.nct.cdf(-critical, df, nc))


def _smallest_d_z(n: int, alpha: float, power: float = 0.8, largest: float = 10.0) -> str:
    from scipy.optimize import brentq

    if _power(largest, n, alpha) < power:
        return "(none useful)"
    return f"{brentq(lambda d: _power(d, n, alpha) - power, 0.01, largest):.1f}"


def test_the_seed_table_in_the_statistics_docs_is_what_the_t_distribution_gives():
    """docs/statistics.md argues for 5 seeds with a table typed there; recompute every cell."""
    from scipy import stats as st

    text = (CHECKOUT / "docs" / "statistics.md").read_text()
    header = "| seeds n | t(0.975, n-1) |"
    lines = text[text.index(header) :].splitlines()[2:]
    rows = [line.strip("|").split("|") for line in lines[: lines.index("")]]
    assert len(rows) >= 4
    for cells in rows:
        n, t, half, d_005, d_holm = (c.strip() for c in cells)
        n = int(n)
        t_expected = st.t.ppf(0.975, n - 1)
        assert t == f"{t_expected:.2f}", n
        assert half == f"{t_expected / math.sqrt(n):.2f}", n
        assert d_005 == _smallest_d_z(n, 0.05), n
        assert d_holm == _smallest_d_z(n, 0.05 / 6), n  # Holm's first step over 6 models
