"""Timing statistics on synthetic samples: median, IQR, robust CV, noise flag, least-noisy choice."""

import math

import numpy as np
import pytest

from latency_models.stats import (IQR_PER_SIGMA, NOISE_CV_THRESHOLD, Timing, least_noisy, repeat_noise, robust_cv,
                                  summarize)


def test_summarize_quiet_samples():
    t = summarize([10.0, 10.1, 9.9, 10.0, 10.05, 9.95, 50.0])  # one slow outlier run
    assert t.latency_ms == pytest.approx(10.0)
    assert t.min_ms == 9.9
    assert t.samples == 7
    q25, q75 = np.percentile([10.0, 10.1, 9.9, 10.0, 10.05, 9.95, 50.0], [25, 75])
    assert t.iqr_ms == pytest.approx(q75 - q25)
    assert t.cv == pytest.approx((q75 - q25) / IQR_PER_SIGMA / 10.0)
    assert not t.noisy  # the outlier does not make the run noisy: the CV is robust
    assert t.samples_ms is None


def test_summarize_spread_samples_are_noisy():
    t = summarize([5.0, 8.0, 11.0, 14.0, 6.0, 13.0], keep_samples=True)
    assert t.noisy and t.cv > NOISE_CV_THRESHOLD
    assert t.samples_ms == (5.0, 8.0, 11.0, 14.0, 6.0, 13.0)


def test_threshold_is_respected():
    samples = [9.0, 10.0, 11.0, 10.0]
    cv = summarize(samples).cv
    assert summarize(samples, threshold=cv * 1.01).noisy is False
    assert summarize(samples, threshold=cv * 0.99).noisy is True


def test_single_sample():
    t = summarize([3.0])
    assert (t.latency_ms, t.iqr_ms, t.cv, t.min_ms, t.samples, t.noisy) == (3.0, 0.0, 0.0, 3.0, 1, False)


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [1.0, -2.0], [math.nan], [math.inf]])
def test_summarize_rejects_bad_samples(bad):
    with pytest.raises(ValueError):
        summarize(bad)


def test_robust_cv_of_a_normal_distribution_is_its_cv():
    rng = np.random.default_rng(0)
    samples = rng.normal(100.0, 3.0, 20000)
    assert summarize(samples).cv == pytest.approx(0.03, rel=0.05)
    assert robust_cv(0.0, 1.0) == math.inf


def test_least_noisy_keeps_lowest_cv_and_counts_attempts():
    a = Timing(10.0, 2.0, 0.15, 8.0, 10, True)
    b = Timing(11.0, 0.2, 0.01, 10.5, 10, False)
    c = Timing(9.0, 1.0, 0.07, 8.5, 10, True)
    best = least_noisy([a, b, c])
    assert best.latency_ms == 11.0 and best.attempts == 3 and not best.noisy
    with pytest.raises(ValueError):
        least_noisy([])


def test_timing_to_dict():
    t = summarize([1.0, 2.0, 3.0], keep_samples=True)
    assert "samples_ms" not in t.to_dict()
    assert t.to_dict(with_samples=True)["samples_ms"] == [1.0, 2.0, 3.0]


def test_repeat_noise():
    med, p90 = repeat_noise([1.0, 2.0, 3.0, 4.0], [1.0, 2.2, 3.0, 5.0])
    rel = np.abs(np.array([1.0, 2.0, 3.0, 4.0]) / np.array([1.0, 2.2, 3.0, 5.0]) - 1)
    assert med == pytest.approx(np.median(rel)) and p90 == pytest.approx(np.percentile(rel, 90))
    with pytest.raises(ValueError):
        repeat_noise([1.0], [1.0, 2.0])
