"""Chapter 1's experiments at toy sizes: they run, and they show what theory says they must."""

from __future__ import annotations

import pytest

from lib.experiments import kernel_regime as ch1


def test_every_profile_has_sizes_and_unknown_profiles_are_rejected():
    for profile in ("quick", "book", "paper"):
        sizes = ch1.sizes_for(profile)
        assert sizes.convergence_widths == tuple(sorted(sizes.convergence_widths))
    with pytest.raises(ValueError, match="valid profiles"):
        ch1.sizes_for("huge")


def test_empirical_ntk_approaches_the_analytic_kernel_with_width():
    errors = {w: ch1.empirical_vs_infinite(dict(dataset="mnist", points=12, width=w, depth=1, seed=0, data_seed=0))
              ["relative_error"] for w in (32, 2048)}
    # theory: error ∝ width^(-1/2), a factor 8 between these widths; require at least 3
    assert errors[2048] < errors[32] / 3


def test_lazy_training_in_ntk_parametrization_moves_less_when_wider():
    base = dict(dataset="mnist", train=32, test=40, probe=4, depth=1, setting="ntk-gd", target_loss=0.02,
                max_steps=3000, seed=0, data_seed=0)
    narrow, wide = (ch1.lazy_training({**base, "width": w}) for w in (32, 1024))
    assert narrow["reached_target"] and wide["reached_target"]
    for key in ("parameters", "kernel", "net_vs_linearized"):
        assert wide[key] < narrow[key], key
    assert 0.0 <= wide["prediction_agreement"] <= 1.0 and wide["prediction_agreement"] > 0.8
    with pytest.raises(ValueError, match="valid: ntk-gd, standard-sgd, standard-adam"):
        ch1.lazy_training({**base, "width": 8, "setting": "sgd"})


def test_ntk_gp_picture_and_practical_cnn_return_consistent_records():
    pic = ch1.ntk_gp_picture(dict(train=8, widths=[16], nets=1, steps=200, depth=1, sigma_b=0.5, seed=0))
    assert len(pic["gp_mean"]) == len(pic["grid"]) == len(pic["centred"]["16"][0]) == len(pic["plain"]["16"][0])
    assert all(s >= 0 for s in pic["gp_std"]) and pic["train_loss"]["16"][0] < 0.5
    cnn = ch1.practical_cnn(dict(dataset="fashion_mnist", widen_factor=1, train=64, test=32, epochs=1, probe=2,
                                 seed=0, data_seed=0))
    assert cnn["steps"] == 1 and cnn["parameters_count"] > 100_000
    assert cnn["parameters"] > 0 and cnn["kernel"] > 0 and 0 <= cnn["kernel_distance"] <= 2
