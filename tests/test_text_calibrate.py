"""The dev-set prior correction of training/text/experiments/calibrate.py (NumPy only, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from emotrace.metrics import classification_report
from training.text.experiments.calibrate import choose_alpha, cross_fitted, prior_bias, weighted_f1


def test_fast_weighted_f1_matches_the_metrics_module():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    pred[:150] = y[:150]
    names = ("a", "b", "c", "d")
    assert weighted_f1(y, pred, 4) == pytest.approx(classification_report(y.tolist(), pred.tolist(), names)["weighted_f1"])


def test_prior_bias_is_zero_without_correction_and_favours_rare_classes():
    prior = np.array([0.1, 0.6, 0.3])
    assert np.allclose(prior_bias(prior, 0.0, fixed=1), 0.0)
    b = prior_bias(prior, 1.0, fixed=1)
    assert b[1] == 0.0 and b[0] > b[2] > 0.0
    assert np.allclose(b, np.log(0.6 / prior))


def _underconfident_rare_class(n=2000, seed=1):
    """Class 0 (rare, 20%) whose probability is always scaled down: a prior correction helps."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) >= 0.2).astype(int)
    p0 = np.where(y == 0, rng.uniform(0.3, 0.5, n), rng.uniform(0.0, 0.3, n))
    probs = np.stack([p0, 1 - p0], axis=1)
    return probs, y


def test_choose_alpha_corrects_an_under_predicted_rare_class():
    probs, y = _underconfident_rare_class()
    prior = np.array([0.2, 0.8])
    alpha = choose_alpha(probs, y, prior, fixed=1)
    assert alpha > 0.0
    corrected = weighted_f1(y, (np.log(probs) + prior_bias(prior, alpha, 1)).argmax(1), 2)
    assert corrected > weighted_f1(y, probs.argmax(1), 2)


def test_cross_fitted_predicts_every_item_from_the_other_half():
    probs, y = _underconfident_rare_class()
    fold = np.arange(len(y)) % 2
    pred = cross_fitted(probs, y, fold, np.array([0.2, 0.8]), fixed=1)
    assert pred.shape == y.shape and set(np.unique(pred)) <= {0, 1}
    assert weighted_f1(y, pred, 2) > weighted_f1(y, probs.argmax(1), 2)
