"""lib.stats against scipy and closed forms, and interval coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lib.stats import Interval, Verdict, describe, holm, mean_interval, paired_difference, trend, verdict_of


def test_mean_interval_matches_scipy_t():
    x = np.array([0.3, 1.2, -0.4, 0.8, 1.9, 0.1])
    got = mean_interval(x, confidence=0.9)
    low, high = scipy_stats.t.interval(0.9, df=len(x) - 1, loc=x.mean(), scale=scipy_stats.sem(x))
    assert got.low == pytest.approx(low, rel=1e-12) and got.high == pytest.approx(high, rel=1e-12)
    assert got.p_value == pytest.approx(scipy_stats.ttest_1samp(x, 0.0).pvalue, rel=1e-10)


def test_paired_t_matches_scipy_ttest_rel():
    rng = np.random.default_rng(1)
    a = rng.normal(size=10)
    b = a + rng.normal(0.3, 0.2, size=10)
    got = paired_difference(a, b)
    ref = scipy_stats.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert got.estimate == pytest.approx((a - b).mean())
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert got.verdict is Verdict.SMALLER and got.n == 10


def test_pairing_matters_unpaired_noise_would_hide_the_effect():
    rng = np.random.default_rng(2)
    seed_effect = rng.normal(0, 5, size=8)  # large shared-seed variation
    a, b = seed_effect + 1.0, seed_effect + rng.normal(0, 0.1, size=8)
    assert paired_difference(a, b).verdict is Verdict.LARGER
    unpaired = scipy_stats.ttest_ind(a, b)
    assert unpaired.pvalue > 0.05  # what an unpaired test would have said


@pytest.mark.parametrize("method", ["t", "bootstrap"])
def test_paired_interval_coverage(method):
    rng = np.random.default_rng(3)
    hits = 0
    trials = 300
    for i in range(trials):
        d = rng.normal(0.5, 1.0, size=15)
        iv = paired_difference(d, np.zeros(15), method=method, resamples=1000, seed=i)
        hits += iv.low <= 0.5 <= iv.high
    assert 0.89 <= hits / trials <= 0.99, hits / trials  # nominal 0.95 (bootstrap a little under at n = 15)


def test_trend_slope_matches_linregress_on_the_mean_curve():
    x = np.array([32, 64, 128, 256, 512, 1024])
    rng = np.random.default_rng(4)
    runs = 2.0 - 0.3 * np.log10(x) + rng.normal(0, 0.05, size=(6, len(x)))
    got = trend(x, runs, resamples=2000)
    ref = scipy_stats.linregress(np.log10(x), runs.mean(axis=0))
    assert got.estimate == pytest.approx(ref.slope, rel=1e-12)
    assert got.low < -0.3 < got.high and got.verdict is Verdict.SMALLER
    linear = trend(x, runs, method="linear", resamples=200)
    assert linear.estimate == pytest.approx(scipy_stats.linregress(x, runs.mean(axis=0)).slope, rel=1e-12)


def test_trend_interval_coverage_with_independent_rows():
    rng = np.random.default_rng(5)
    x = np.array([1.0, 2.0, 4.0, 8.0])
    hits = 0
    for i in range(200):
        runs = 1.0 + 0.2 * np.log10(x) + rng.normal(0, 0.1, size=(12, 4))
        iv = trend(x, runs, resamples=800, seed=i)
        hits += iv.low <= 0.2 <= iv.high
    assert 0.88 <= hits / 200 <= 0.99


def test_trend_with_few_seeds_uses_t_and_keeps_its_coverage_where_the_bootstrap_does_not():
    rng = np.random.default_rng(7)
    x = np.array([32.0, 64.0, 128.0, 256.0, 512.0])
    hits = {"auto": 0, "bootstrap": 0}
    for i in range(300):
        runs = 0.5 - 0.25 * np.log10(x) + rng.normal(0, 0.1, size=(5, 5))  # 5 seeds
        for name in hits:
            iv = trend(x, runs, interval=name, resamples=400, seed=i)
            hits[name] += iv.low <= -0.25 <= iv.high
    auto = trend(x, runs)
    assert auto.n == 5 and "t over 5 repetitions" in auto.method
    per_seed = [scipy_stats.linregress(np.log10(x), row).slope for row in runs]
    ref = scipy_stats.ttest_1samp(per_seed, 0.0)
    assert auto.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert auto.estimate == pytest.approx(np.mean(per_seed), rel=1e-12)
    assert 0.91 <= hits["auto"] / 300 <= 0.99, hits
    assert hits["bootstrap"] / 300 < 0.9, "the percentile bootstrap over 5 seeds under-covers (why auto uses t)"


def test_cluster_bootstrap_is_wider_when_seeds_share_a_data_draw():
    rng = np.random.default_rng(6)
    x = np.array([10.0, 100.0, 1000.0])
    draws = np.repeat(np.arange(4), 5)  # 4 data draws x 5 seeds
    draw_slope = rng.normal(0, 0.3, size=4)[draws]  # the slope depends on the data draw
    runs = (0.1 + draw_slope)[:, None] * np.log10(x) + rng.normal(0, 0.01, size=(20, 3))
    naive = trend(x, runs, resamples=2000)
    clustered = trend(x, runs, groups=draws, resamples=2000)
    assert (clustered.high - clustered.low) > 2 * (naive.high - naive.low)
    assert "cluster" in clustered.method


def test_holm_against_a_hand_computed_example():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    assert holm([0.9, 0.8])[0] == 1.0


def test_verdicts_and_words():
    up = Interval(0.12, 0.05, 0.19, 0.95, 10, 0.003, "paired t")
    flat = Interval(0.02, -0.03, 0.07, 0.95, 10, 0.4, "paired t")
    assert verdict_of(up) is Verdict.LARGER and verdict_of(flat) is Verdict.INDISTINGUISHABLE
    assert verdict_of(up, null=0.2) is Verdict.SMALLER
    words = dict(larger="higher than", smaller="lower than", same="not distinguishable from", fmt=".2f")
    assert describe(up, **words) == "higher than (0.12 [0.05, 0.19], paired t, n = 10)"
    assert describe(flat, **words).startswith("not distinguishable from (0.02")
    assert "Holm" in describe(up, adjusted_p=0.2, **words) and describe(up, adjusted_p=0.2, **words).startswith("not")


@pytest.mark.parametrize("call, message", [
    (lambda: paired_difference([1, 2, 3], [1, 2]), "same repetitions"),
    (lambda: paired_difference([1.0], [2.0]), "at least 2"),
    (lambda: paired_difference([1, np.nan], [1, 2]), "NaN"),
    (lambda: paired_difference([1, 2], [1, 2], method="welch"), "welch"),
    (lambda: trend([1, 2], [[1, 2, 3]]), "shape"),
    (lambda: trend([0, 1], [[1, 2], [2, 3]]), "positive x"),
    (lambda: trend([1, 1], [[1, 2], [2, 3]]), "distinct"),
    (lambda: trend([1, 2], [[1, 2], [2, 3]], groups=[0, 0]), "single cluster"),
    (lambda: mean_interval([1, 2], confidence=95), "confidence"),
    (lambda: holm([0.1, 1.5]), "p_values"),
])
def test_bad_inputs_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
