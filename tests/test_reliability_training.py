"""Bad inputs and faults against lib.training: clear errors, divergence flagged, inputs never modified."""

from __future__ import annotations

import pytest
import torch

from lib.models import MLP
from lib.training import train, train_natural_gradient


def _setup():
    g = torch.Generator().manual_seed(0)
    model = MLP(3, 8, 1, 2, generator=g).double()
    x = torch.randn(6, 3, dtype=torch.float64, generator=g)
    return model, x, torch.randn(6, 2, dtype=torch.float64, generator=g)


def _call(**kwargs):
    model, x, y = _setup()
    args = dict(learning_rate=0.1, max_steps=2)
    args.update(kwargs)
    return train(model, args.pop("x", x), args.pop("y", y), **args)


BAD = [
    ("nan lr", dict(learning_rate=float("nan")), ValueError, "learning_rate"),
    ("float batch", dict(batch_size=2.5, generator=torch.Generator()), TypeError, "batch_size.*int such as 2"),
    ("float max_steps", dict(max_steps=2.0), TypeError, "max_steps.*config"),
    ("zero log_every", dict(log_every=0), ValueError, "log_every"),
    ("nan target_loss", dict(target_loss=float("nan")), ValueError, "target_loss"),
    ("nan momentum", dict(momentum=float("nan")), ValueError, "momentum"),
    ("divergence factor", dict(divergence_factor=0.5), ValueError, "divergence_factor"),
    ("uint8 x", dict(x=torch.zeros(6, 3, dtype=torch.uint8)), TypeError, "uint8"),
    ("nan x", dict(x=torch.full((6, 3), float("nan"), dtype=torch.float64)), ValueError, "NaN"),
    ("nan targets", dict(y=torch.full((6, 2), float("nan"), dtype=torch.float64)), ValueError, "targets contains"),
    ("length mismatch", dict(y=torch.zeros(5, 2, dtype=torch.float64)), ValueError, "6 inputs but 5 targets"),
    ("labels for mse", dict(y=torch.zeros(6, dtype=torch.long)), TypeError, "floating"),
    ("float labels for ce", dict(y=torch.zeros(6, dtype=torch.float64), loss="cross_entropy"), TypeError,
     "targets must have dtype torch.int64"),
    ("bad loss", dict(loss="hinge"), ValueError, "valid: mse, cross_entropy"),
]


@pytest.mark.parametrize("probe", BAD, ids=[b[0] for b in BAD])
def test_train_rejects_bad_arguments(probe):
    _, kwargs, error, match = probe
    with pytest.raises(error, match=match):
        _call(**kwargs)


def test_all_frozen_model_is_a_clear_error():
    model, x, y = _setup()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        train(model, x, y, learning_rate=0.1, max_steps=1)


def test_train_keeps_inputs_and_frozen_parameters():
    model, x, y = _setup()
    model[0].weight.requires_grad_(False)
    frozen, x0, y0 = model[0].weight.detach().clone(), x.clone(), y.clone()
    train(model, x, y, learning_rate=0.1, max_steps=3)
    assert torch.equal(x, x0) and torch.equal(y, y0)
    assert torch.equal(model[0].weight, frozen) and not model[0].weight.requires_grad


def test_natural_gradient_rejects_nan_settings_and_keeps_inputs():
    model, x, y = _setup()
    for kwargs in (dict(learning_rate=float("nan")), dict(damping=float("nan")), dict(max_steps=1.5)):
        with pytest.raises((ValueError, TypeError), match="learning_rate|damping|max_steps"):
            train_natural_gradient(model, x, y, **{"max_steps": 1, **kwargs})
    x0, y0 = x.clone(), y.clone()
    log = train_natural_gradient(model, x, y, max_steps=2)
    assert torch.equal(x, x0) and torch.equal(y, y0) and log.losses[-1] < log.losses[0]


def test_huge_learning_rate_is_flagged_as_divergence():
    model, x, y = _setup()
    log = train(model, x, y, learning_rate=1e3, max_steps=50)
    assert log.diverged and log.steps < 50


def test_minibatch_natural_gradient_and_kfac_reject_bad_settings_and_keep_inputs():
    from torch import nn

    from lib.kfac import KFAC
    from lib.training import kernel_from_signals, minibatch_natural_gradient_step

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    x0, l0 = x.clone(), labels.clone()
    for bad in (dict(learning_rate=float("nan"), damping=0.1), dict(learning_rate=0.1, damping=-1.0)):
        with pytest.raises(ValueError):
            minibatch_natural_gradient_step(model, x, labels, **bad)
    with pytest.raises(ValueError, match="cross_entropy labels"):
        minibatch_natural_gradient_step(model, x, -labels - 1, learning_rate=0.1, damping=0.1)
    minibatch_natural_gradient_step(model, x, labels, learning_rate=0.1, damping=0.1, kernel_fn=kernel_from_signals)
    KFAC(model, learning_rate=0.1, damping=0.1).step(x, labels)
    assert torch.equal(x, x0) and torch.equal(labels, l0)
    with pytest.raises(TypeError, match="update_every"):
        KFAC(model, learning_rate=0.1, damping=0.1, update_every=2.5)
