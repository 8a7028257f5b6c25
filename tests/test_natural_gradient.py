"""Natural-gradient training, warm-started spectral norms, step measurements and Chapter 2's
experiments (conditions and the teaching race), against dense float64 references (torch.func Jacobians,
closed forms)."""

from __future__ import annotations

import copy
import math
import time

import pytest
import torch

from lib.experiments.natural_gradient import DAMPING, runs
from lib.kernel_change import flat_parameters
from lib.measure import heap_in_use, measure, peak_memory
from lib.models import MLP
from lib.ntk import empirical_ntk, jacobian_difference_norm, linearize, relu_ntk
from lib.training import natural_gradient_step, train, train_natural_gradient, training_loss
from tests.test_ntk_kernels import reference_jacobian
from tests.tolerances import assert_close


def _problem(generator, width=16, n=6, k=3, d=5):
    model = MLP(d, width, 2, k, parametrization="ntk", generator=generator).double()
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    y = torch.randn(n, k, generator=generator, dtype=torch.float64)
    return model, x, y


def _dense_ngd_update(model, x, y, damping_relative):
    """θ − Jᵀ(JJᵀ + λI)⁻¹(u − y) with J dense from torch.func and λ relative to tr(JJᵀ)/(NK)."""
    j = reference_jacobian(model, x)
    j = j.reshape(-1, j.shape[-1])
    gram = j @ j.T
    lam = damping_relative * gram.diagonal().mean()
    with torch.no_grad():
        residual = (model(x) - y).reshape(-1)
    return flat_parameters(model) - j.T @ torch.linalg.solve(gram + lam * torch.eye(gram.shape[0],
                                                                                      dtype=gram.dtype), residual)


def test_natural_gradient_step_matches_dense_formula(generator):
    model, x, y = _problem(generator)
    expected = _dense_ngd_update(model, x, y, 1e-3)
    eta, loss = natural_gradient_step(model, x, y, learning_rate=1.0, damping=1e-3, max_halvings=0)
    assert eta == 1.0
    assert_close(flat_parameters(model), expected, kind="solver")
    with torch.no_grad():
        assert loss == pytest.approx(training_loss(model(x), y, "mse").item(), rel=1e-12)


def test_linearized_ngd_interpolates_in_one_step(generator):
    """For the linearized model the undamped NGD step solves the interpolation problem exactly (NK <= P)."""
    model, x, y = _problem(generator, width=32)
    lin = linearize(model)
    kernel = empirical_ntk(model, x)
    log = train_natural_gradient(lin, x, y, max_steps=1, damping=0.0, fixed_kernel=kernel)
    assert log.losses[0] > 0.1
    assert log.losses[1] < 1e-18 * max(1.0, log.losses[0])


def test_ngd_halves_the_step_when_the_loss_would_rise(generator):
    model, x, y = _problem(generator)
    with torch.no_grad():
        before = training_loss(model(x), y, "mse").item()
    eta, after = natural_gradient_step(model, x, y, learning_rate=1e4, damping=1e-6, max_halvings=30)
    assert eta < 1e4 and after <= before


def test_ngd_converges_fast_on_a_wide_net(generator):
    model = MLP(5, 512, 1, 2, parametrization="ntk", generator=generator).double()
    x = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    y = torch.randn(8, 2, generator=generator, dtype=torch.float64)
    log = train_natural_gradient(model, x, y, max_steps=4, damping=1e-9)
    assert log.losses[-1] < 1e-8 * log.losses[0]
    assert len(log.losses) == len(log.times) == len(log.logged_steps) == 5 and len(log.step_sizes) == 4


def test_ngd_rejects_bad_input(generator):
    model, x, y = _problem(generator)
    with pytest.raises(ValueError, match="learning_rate"):
        natural_gradient_step(model, x, y, learning_rate=0.0)
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        train_natural_gradient(model, x, y[:, 0], max_steps=1)


@pytest.mark.parametrize("which", ["gd", "ngd"])
def test_training_times_exclude_callbacks(generator, which):
    model, x, y = _problem(generator)

    def slow(step):
        time.sleep(0.05)

    if which == "gd":
        log = train(model, x, y, optimizer="sgd", learning_rate=0.01, max_steps=4, callback=slow)
    else:
        log = train_natural_gradient(model, x, y, max_steps=4, callback=slow)
    assert len(log.times) == len(log.losses)
    assert all(b >= a for a, b in zip(log.times, log.times[1:], strict=False))
    assert log.seconds >= 0.2 and log.times[-1] < log.seconds - 0.2


def test_power_iteration_warm_start(generator):
    model, x, _ = _problem(generator)
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    p_total = sum(p.numel() for p in model.parameters())
    d = (reference_jacobian(model, x) - reference_jacobian(reference, x)).reshape(-1, p_total)
    expected = torch.linalg.matrix_norm(d, ord=2).item()
    cold = jacobian_difference_norm(model, reference, x, iterations=1000, tol=1e-12, generator=generator)
    warm = jacobian_difference_norm(model, reference, x, iterations=1000, tol=1e-12, start=cold.vector)
    assert cold.value == pytest.approx(expected, rel=1e-6) and warm.value == pytest.approx(expected, rel=1e-6)
    assert warm.iterations < cold.iterations
    with pytest.raises(ValueError, match="flat"):
        jacobian_difference_norm(model, reference, x, start=torch.ones(3, dtype=torch.float64))


def test_peak_memory_sees_a_known_allocation():
    if heap_in_use() is None:
        pytest.skip("glibc mallinfo2 is not available here")
    size = 64 * 2**20

    def hold_allocation() -> float:
        # The CPU peak is sampled every millisecond by a thread (lib.measure.peak_memory), so an allocation must
        # live longer than that to be seen; under load a bare torch.ones(...).sum() could come and go unseen.
        x = torch.ones(size // 8, dtype=torch.float64)
        time.sleep(0.05)
        return x.sum().item()

    peak, result = peak_memory(hold_allocation, "cpu")
    assert result == size // 8
    assert 0.9 * size <= peak <= 4 * size
    m = measure(lambda: torch.ones(10).sum(), "cpu", repeats=2)
    assert m.seconds > 0 and m.result.item() == 10


# ------------------------------------------------------------------ Chapter 2 experiments

BASE = dict(task="mnist10", n_train=6, data_seed=0, seed=0, depth=1)


def test_gram_spectrum_matches_the_dense_gram():
    config = {**BASE, "architecture": "mlp", "width": 16}
    result = runs.gram_spectrum(config)
    task = runs.load_task(config)
    model = runs.build_model(config, task)
    j = reference_jacobian(model, task.x_train).reshape(60, -1)
    eig = torch.linalg.eigvalsh(j @ j.T)
    assert result["lambda_min"] == pytest.approx(eig[0].item(), rel=1e-6, abs=1e-9)
    assert result["lambda_max"] == pytest.approx(eig[-1].item(), rel=1e-9)
    assert result["parameters"] == j.shape[1] and result["size"] == 60


def test_cnn_gram_spectrum_runs_on_images():
    result = runs.gram_spectrum({**BASE, "architecture": "cnn", "width": 4, "depth": 2})
    assert result["lambda_max"] > 0 and result["size"] == 60


def test_infinite_gram_spectrum_is_the_analytic_kernel():
    result = runs.infinite_gram_spectrum(BASE)
    task = runs.load_task(BASE)
    _, ntk = relu_ntk(task.x_train, depth=1)
    eig = torch.linalg.eigvalsh(ntk)
    assert result["lambda_min"] == pytest.approx(eig[0].item(), rel=1e-10)
    assert result["lambda_max"] == pytest.approx(eig[-1].item(), rel=1e-10)
    # the empirical Gram of a very wide net approaches it
    wide = runs.gram_spectrum({**BASE, "architecture": "mlp", "width": 8192})
    assert wide["lambda_max"] == pytest.approx(result["lambda_max"], rel=0.05)


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_stability_run_against_dense_jacobians(activation):
    """Replay the NGD trajectory with the dense formula and dense float64 Jacobians; compare every number."""
    config = {**BASE, "width": 32, "steps": 3, "activation": activation}
    result = runs.stability_run(config)
    task = runs.load_task(config)
    x, y = task.x_train, task.y_train
    model = runs.build_model(config, task)
    initial = copy.deepcopy(model)
    j0 = reference_jacobian(initial, x).reshape(60, -1)
    lambda0 = torch.linalg.eigvalsh(j0 @ j0.T)[0].item()
    with torch.no_grad():
        r0 = torch.linalg.vector_norm(y - model(x)).item()
    assert result["lambda0"] == pytest.approx(lambda0, rel=1e-6)
    assert result["rho"] == pytest.approx(3 * r0 / math.sqrt(lambda0), rel=1e-6)
    changes = [0.0]
    for _ in range(3):
        with torch.no_grad():
            before = training_loss(model(x), y, "mse").item()
        natural_gradient_step(model, x, y, damping=DAMPING, loss_before=before)
        jk = reference_jacobian(model, x).reshape(60, -1)
        changes.append(torch.linalg.matrix_norm(jk - j0, ord=2).item())
    assert result["total"] == pytest.approx(changes, rel=1e-5, abs=1e-12)
    assert result["c_prime"] == pytest.approx(3 * max(changes) / math.sqrt(lambda0), rel=1e-5)
    assert result["distance"][-1] == pytest.approx(
        torch.linalg.vector_norm(flat_parameters(model) - flat_parameters(initial)).item(), rel=1e-8)
    assert result["losses"][-1] < result["losses"][0]
    # the parts bound the total (triangle inequality) and each is finite
    for t, a, s in zip(result["total"], result["activation"], result["smooth"], strict=False):
        assert t <= a + s + 1e-10


def test_stability_run_flags_rank_deficiency():
    """N K > P: the Gram matrix is singular, C' is infinite and the run says why."""
    result = runs.stability_run({**BASE, "n_train": 20, "width": 2, "steps": 1})
    assert result["rank_deficient"] and math.isinf(result["c_prime"]) and math.isinf(result["rho"])


def test_cnn_stability_run_against_the_power_iteration():
    config = {**BASE, "width": 4, "steps": 2, "depth": 2}
    result = runs.cnn_stability_run(config)
    assert len(result["total"]) == 2 and result["total"][-1] > 0
    # an independent estimate of the last change: power iteration on JVPs from lib.ntk
    cfg = dict(config, architecture="cnn")
    task = runs.load_task(cfg)
    model = runs.build_model(cfg, task)
    x, y = runs.model_inputs(cfg, task), task.y_train
    initial = copy.deepcopy(model)
    train_natural_gradient(model, x, y, max_steps=2, damping=DAMPING)
    estimate = jacobian_difference_norm(model, initial, x, iterations=2000, tol=1e-12,
                                        generator=torch.Generator().manual_seed(0))
    assert result["total"][-1] == pytest.approx(estimate.value, rel=1e-4)


def test_race_runs_and_the_linearized_reference():
    config = {**BASE, "width": 64, "steps": 2}
    lin = runs.race_run({**config, "optimizer": "linearized-ngd"})
    assert lin["losses"][1] < 1e-6 * lin["losses"][0]
    ngd = runs.race_run({**config, "optimizer": "ngd", "steps": 4})
    assert ngd["losses"][-1] < 1e-10 * ngd["losses"][0]
    gd = runs.race_run({**config, "optimizer": "gd", "learning_rate": 0.1, "steps": 10})
    assert gd["steps"][-1] == 10 and gd["losses"][-1] < gd["losses"][0] and gd["n"] == 6
    stable = runs.race_run({**config, "optimizer": "gd-stable", "steps": 3})
    assert stable["learning_rate"] == pytest.approx(1.9 * 6 / stable["lambda_max"])
    assert stable["losses"][-1] < stable["losses"][0]
    with pytest.raises(ValueError, match="optimizer"):
        runs.race_run({**config, "optimizer": "lbfgs"})


def test_size_tables_and_optional_tasks():
    from lib.experiments.natural_gradient import sizes_for, tasks_to_run

    book = sizes_for("book")
    assert book.train >= 10_000 and book.seeds >= 3 and book.stability_widths[-1] >= 8192
    assert all(a in ("relu", "softplus", "gelu") for a in book.activations) and "relu" in book.activations
    tasks, messages = tasks_to_run(book, profile="book", device=torch.device("cpu"))
    assert tasks == ["mnist10"] and len(messages) == 1 and "CIFAR-10" in messages[0]
    with pytest.raises(ValueError, match="Unknown profile"):
        sizes_for("huge")


def test_the_notebook_shows_every_prose_template_of_the_text_module():
    """The chapter's computed prose lives in ``text.py``: every template is shown once, none is inline."""
    import json
    import re
    from pathlib import Path

    from lib.experiments.natural_gradient import text

    notebook = json.loads((Path(__file__).resolve().parents[1] / "chapters" / "02_natural_gradient.ipynb").read_text())
    source = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    used = re.findall(r"say\(text\.([A-Z_]+)\b", source)
    assert sorted(used) == sorted(text.TEMPLATES) and len(set(used)) == len(used)
    assert 'say(r"""' not in source
