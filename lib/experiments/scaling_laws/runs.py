"""Chapter 5 — NTK and generalization: data-scaling laws of networks and their kernels (Vyas et al. 2022).

Every experiment is a function of a JSON-like config returning plain numbers and lists, cacheable
with :class:`lib.cache.ResultsCache`; :func:`sweeps` lists each experiment's configs for a profile,
so the notebook and a command line run the same sweeps.

Conventions shared by all experiments:

* **Task** (:data:`TASKS`): real images posed as regression on centred one-hot targets
  (:func:`lib.data.tasks.image_regression_task`). A *data draw* ``d`` selects the training pool
  and the test set; training sets of the sizes ``n`` are **nested** prefixes of the pool. The
  hyperparameters are tuned on a separate *tuning draw* (:data:`TUNING_DRAW`), on a validation
  split cut from its training pool — never on an evaluation draw or on test data.
* **Network**: a standard-parametrized ReLU MLP (``depth`` hidden layers of ``width``), trained on
  the mean squared loss with Adam (batch :data:`BATCH`) for a number of optimizer steps chosen, with the
  learning rate, by early stopping on the tuning draw's validation split (a step budget, the same grid at
  every ``n``).
  Two recipes (:class:`Recipe`): ``uncentred`` — the network as initialised, carrying a random
  ``f₀``; ``centred`` — ``g = f − f₀`` (trained as ``f`` on targets ``y + f₀(x)``, which has the same
  gradients, and evaluated as ``f − f₀``), the function the kernel predictors describe.
* **Kernels**: kernel ridge regression (:func:`lib.kernel_regression.kernel_regression`, ridge
  relative to the mean diagonal) with (i) the network's empirical NTK at initialization,
  averaged over outputs (``tr Θ̂ / K``), and (ii) the infinite-width NTK of the **same
  parametrization and width** (:func:`lib.ntk.relu_ntk` with ``parametrization="standard"``).
* **Errors**: the mean 0/1 classification error and the mean squared error (summed over outputs)
  on the evaluation set, and the same on the training set.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch

from lib.data.tasks import RegressionTask, image_regression_task
from lib.experiments import config_device
from lib.experiments.scaling_laws.configs import BATCH, TASKS, Kernel, Parametrization, Recipe, Split
from lib.kernel_alignment import (
    centered_alignment,
    eigenspace_overlap,
    scale_and_shape,
    scale_ratio,
    target_alignment,
)
from lib.kernel_regression import kernel_regression
from lib.learning_curves import spectrum_of
from lib.models import MLP
from lib.models.mean_field import mean_field_mlp
from lib.ntk import empirical_ntk, relu_ntk
from lib.ntk.compare import kernel_distance
from lib.training import train

# --------------------------------------------------------------------------------------------- data


def load_task(name: str, n_train: int, n_test: int, data_seed: int, device: torch.device) -> RegressionTask:
    """Task ``name`` with a training pool of ``n_train`` (nested prefixes are the training sets) and ``n_test``
    test samples, drawn by ``data_seed``."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; valid: {', '.join(TASKS)}.")
    dataset, classes, _ = TASKS[name]
    return image_regression_task(dataset, n_train, n_test, seed=data_seed, classes=classes).to(device)


def _evaluation_split(config: dict, device: torch.device) -> tuple[RegressionTask, torch.Tensor, torch.Tensor,
                                                                     torch.Tensor]:
    """The task and the evaluation inputs, targets and labels of ``config["split"]``.

    For ``"validation"`` the task's pool has ``max(sizes) + validation`` samples and the validation set is the
    pool's tail (disjoint from every nested training set); the test set is not loaded for use.
    """
    split = Split(config["split"])
    n_max = max(config["sizes"])
    if split is Split.VALIDATION:
        task = load_task(config["task"], n_max + config["validation"], 1, config["data_seed"], device)
        return task, task.x_train[n_max:], task.y_train[n_max:], task.labels_train[n_max:]
    task = load_task(config["task"], n_max, config["test"], config["data_seed"], device)
    return task, task.x_test, task.y_test, task.labels_test


def _errors(predictions: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """``(0/1 error, mean squared error summed over outputs)``."""
    predictions = predictions.to(torch.float64)
    wrong = (predictions.argmax(dim=1) != labels.to(predictions.device)).double().mean().item()
    mse = (predictions - targets.to(predictions)).pow(2).sum(dim=1).mean().item()
    return wrong, mse


# ------------------------------------------------------------------------------------------ networks


def make_network(task: RegressionTask, config: dict) -> torch.nn.Module:
    """The network of ``config`` (``width``, ``depth``, ``seed``, optional ``parametrization``) on the task's device."""
    g = torch.Generator().manual_seed(config["seed"])
    d, k = task.x_train.shape[1], task.num_classes
    parametrization = Parametrization(config.get("parametrization", "standard"))
    if parametrization is Parametrization.MEAN_FIELD:
        if config["depth"] != 1:
            raise ValueError("The mean-field parametrization is defined here for one hidden layer (depth=1).")
        model = mean_field_mlp(d, config["width"], k, generator=g)
    else:
        model = MLP(d, config["width"], config["depth"], k, parametrization=parametrization.value, generator=g)
    return model.to(task.x_train.device)


def fit_network(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, recipe: Recipe | str, learning_rate: float,
                steps: int, seed: int,
                callback: Callable[[int], None] | None = None) -> tuple[torch.Tensor | None, int, bool]:
    """Train ``model`` in place on ``(x, y)`` by the Adam recipe for ``steps`` steps; returns
    ``(f₀(x) or None, steps done, diverged)``.

    For the centred recipe the model is trained on ``y + f₀(x)`` (the same gradients, hence the same Adam
    updates, as training ``f − f₀`` on ``y``); subtract ``f₀`` at evaluation (:func:`centred_outputs`).
    ``callback(step)`` runs before the first step and after every step.
    """
    recipe = Recipe(recipe)
    n = x.shape[0]
    f0 = None
    targets = y
    if recipe is Recipe.CENTRED:
        with torch.no_grad():
            f0 = model(x)
        targets = y + f0
    log = train(model, x, targets, loss="mse", optimizer="adam", learning_rate=learning_rate, max_steps=steps,
                batch_size=min(BATCH, n), generator=torch.Generator().manual_seed(seed + n),
                log_every=max(1, steps // 10), callback=callback)
    return f0, log.steps, bool(log.diverged)


def centred_outputs(model: torch.nn.Module, initial: torch.nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """``model(x) − initial(x)`` (or ``model(x)`` when ``initial`` is ``None``), without gradients."""
    with torch.no_grad():
        out = model(x)
        return out - initial(x) if initial is not None else out


def network_run(config: dict) -> dict:
    """Train the network at every size of a schedule and measure its errors.

    Config: ``task``, ``sizes``, ``split`` (``"validation"`` on the tuning draw or ``"test"``), ``validation``,
    ``test``, ``width``, ``depth``, ``recipe``, ``schedule`` (list of ``[n, learning_rate, steps]``, one per
    size), optional ``checkpoints`` (steps at which to also measure the evaluation error, for early stopping),
    ``seed``, ``data_seed``, optional ``device``.

    Returns per size (lists in the order of ``sizes``): ``eval_error``, ``eval_mse``, ``train_error``,
    ``train_mse`` at the end, ``steps``, ``diverged``; with ``checkpoints`` also ``checkpoint_error``
    (``[size][checkpoint]`` evaluation errors; ``nan`` after a divergence).
    """
    device = config_device(config)
    task, x_eval, y_eval, l_eval = _evaluation_split(config, device)
    schedule = {int(n): (float(lr), int(steps)) for n, lr, steps in config["schedule"]}
    sizes = sorted(config["sizes"])
    if set(schedule) != set(sizes):
        raise ValueError(f"schedule must give [n, lr, steps] for every size {sizes}; got {sorted(schedule)}.")
    checkpoints = sorted(int(c) for c in config.get("checkpoints", []))
    initial = make_network(task, config)
    keys = ("eval_error", "eval_mse", "train_error", "train_mse", "steps", "diverged")
    out: dict[str, list] = {k: [] for k in keys}
    out["checkpoint_error"] = []
    recipe = Recipe(config["recipe"])
    reference = initial if recipe is Recipe.CENTRED else None
    for n in sizes:
        lr, steps = schedule[n]
        if checkpoints and checkpoints[-1] > steps:
            raise ValueError(f"checkpoints go to step {checkpoints[-1]} but the schedule stops at {steps} (n = {n}).")
        model = make_network(task, config)
        model.load_state_dict(initial.state_dict())
        x, y = task.x_train[:n], task.y_train[:n]
        seen: dict[int, float] = {}

        def checkpoint(step: int, model=model, seen=seen) -> None:
            if step in checkpoints:
                seen[step] = _errors(centred_outputs(model, reference, x_eval), y_eval, l_eval)[0]

        _, done, diverged = fit_network(model, x, y, recipe=recipe, learning_rate=lr, steps=steps,
                                        seed=config["seed"], callback=checkpoint if checkpoints else None)
        eval_error, eval_mse = _errors(centred_outputs(model, reference, x_eval), y_eval, l_eval)
        train_error, train_mse = _errors(centred_outputs(model, reference, x), y, task.labels_train[:n])
        for key, value in zip(keys, (eval_error, eval_mse, train_error, train_mse, done, diverged)):
            out[key].append(value if not diverged or key in ("steps", "diverged") else float("nan"))
        if checkpoints:
            out["checkpoint_error"].append([seen.get(c, float("nan")) if not diverged else float("nan")
                                            for c in checkpoints])
    out["sizes"] = sizes
    out["checkpoints"] = checkpoints
    return out


# ------------------------------------------------------------------------------------------- kernels


def output_averaged_ntk(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``tr Θ̂(x, x) / K`` as ``[N, N]``, computed in float64 on a copy of ``model`` (the scalar kernel used for
    all outputs; float64 so that small relative ridges see a positive semi-definite matrix)."""
    copy64 = copy.deepcopy(model).to(torch.float64)
    return empirical_ntk(copy64, x.to(torch.float64), mode="trace", batch_size=2048) / model.out_features


def infinite_ntk(x: torch.Tensor, *, depth: int, width: int, parametrization: str = "standard",
                 tile: int = 2048) -> torch.Tensor:
    """The infinite-width NTK ``[N, N]`` float64 of the MLP of :func:`make_network` (biases on, ``σ_w² = 2``),
    in ``tile × tile`` blocks."""
    out = torch.empty(x.shape[0], x.shape[0], dtype=torch.float64, device=x.device)
    for i in range(0, x.shape[0], tile):
        for j in range(i, x.shape[0], tile):
            block = relu_ntk(x[i:i + tile], None if i == j else x[j:j + tile], depth=depth,
                             parametrization=parametrization, width=width if parametrization == "standard" else None,
                             bias=True)[1]
            out[i:i + tile, j:j + tile] = block
            if i != j:
                out[j:j + tile, i:i + tile] = block.T
    return out


def _kernel_errors(kernel: torch.Tensor, task: RegressionTask, n_pool: int, y_eval: torch.Tensor,
                   l_eval: torch.Tensor, sizes: list[int], ridges: list[float]) -> dict:
    """Errors of kernel regression for each size and ridge; ``kernel`` is over ``[pool[:n_pool]; eval]``."""
    result = {"eval_error": [], "eval_mse": [], "train_error": []}
    evaluation = slice(n_pool, kernel.shape[0])
    for ridge in ridges:
        rows = {key: [] for key in result}
        for n in sizes:
            k_train = kernel[:n, :n]
            try:
                pred = kernel_regression(k_train, task.y_train[:n], kernel[evaluation, :n], ridge=ridge)
                fitted = kernel_regression(k_train, task.y_train[:n], k_train, ridge=ridge)
            except ValueError:  # not positive definite at this ridge: no result, never picked
                for key in rows:
                    rows[key].append(float("nan"))
                continue
            rows["eval_error"].append(_errors(pred, y_eval, l_eval)[0])
            rows["eval_mse"].append(_errors(pred, y_eval, l_eval)[1])
            rows["train_error"].append(_errors(fitted, task.y_train[:n], task.labels_train[:n])[0])
        for key in result:
            result[key].append(rows[key])
    return result  # each [len(ridges)][len(sizes)]


def kernel_run(config: dict) -> dict:
    """Errors of kernel regression with one kernel at every size and every ridge.

    Config: as :func:`network_run` (``schedule`` and ``recipe`` unused) plus ``kernel`` (:class:`Kernel`) and
    ``ridges``. The empirical NTK depends on ``seed``; the infinite one does not.

    Returns ``eval_error``, ``eval_mse``, ``train_error`` as ``[ridge][size]`` lists, and ``sizes``, ``ridges``.
    """
    device = config_device(config)
    task, x_eval, y_eval, l_eval = _evaluation_split(config, device)
    sizes = sorted(config["sizes"])
    n_max = sizes[-1]
    x_all = torch.cat([task.x_train[:n_max], x_eval])
    if Kernel(config["kernel"]) is Kernel.EMPIRICAL:
        kernel = output_averaged_ntk(make_network(task, config), x_all)
    else:
        kernel = infinite_ntk(x_all, depth=config["depth"], width=config["width"])
    result = _kernel_errors(kernel, task, n_max, y_eval, l_eval, sizes, list(config["ridges"]))
    return dict(result, sizes=sizes, ridges=list(config["ridges"]))


def spectrum_run(config: dict) -> dict:
    """Eigenvalues and target power per mode (:func:`lib.learning_curves.spectrum_of`) of one kernel on the first
    ``points`` samples of a draw's training pool, and the *pool control*: kernel regression trained on random
    subsets of the pool, its squared error averaged over the whole pool — the error over the empirical
    distribution of the pool, which is what the learning-curve equations predict from the pool's spectrum.

    Config: ``task``, ``points``, ``kernel``, ``width``, ``depth``, ``seed``, ``data_seed``, ``control_sizes``,
    ``control_ridges`` (one per size), ``control_repeats``, optional ``device``.
    Returns ``eigenvalues``, ``power`` (``[points]`` descending), ``ridge_scale``, and ``control_mse``
    (``[size][repeat]`` squared error over all pool points, training points included).
    """
    device = config_device(config)
    task = load_task(config["task"], config["points"], 1, config["data_seed"], device)
    if Kernel(config["kernel"]) is Kernel.EMPIRICAL:
        kernel = output_averaged_ntk(make_network(task, config), task.x_train)
    else:
        kernel = infinite_ntk(task.x_train, depth=config["depth"], width=config["width"])
    spectrum = spectrum_of(kernel, task.y_train)
    generator = torch.Generator().manual_seed(config["data_seed"] + 7)
    control = []
    m = config["points"]
    y = task.y_train.to(torch.float64)
    for n, ridge in zip(config["control_sizes"], config["control_ridges"]):
        row = []
        for _ in range(config["control_repeats"]):
            train = torch.randperm(m, generator=generator)[:n].to(kernel.device)
            pred = kernel_regression(kernel[train][:, train], y[train], kernel[:, train], ridge=ridge)
            row.append(float((pred - y).pow(2).sum(dim=1).mean()))  # over the whole pool, as in the equations
        control.append(row)
    return {"eigenvalues": spectrum.eigenvalues.tolist(), "power": spectrum.power.tolist(),
            "ridge_scale": spectrum.ridge_scale, "control_mse": control, "control_sizes": config["control_sizes"]}


# ------------------------------------------------------------------------------------ width experiment


def _top_eigenvalue(matrix: torch.Tensor, iterations: int = 200) -> float:
    """Largest eigenvalue of a symmetric PSD matrix by power iteration (float64)."""
    v = torch.ones(matrix.shape[0], dtype=torch.float64, device=matrix.device) / matrix.shape[0] ** 0.5
    value = 0.0
    for _ in range(iterations):
        w = matrix @ v
        new = float(w.norm())
        v = w / new
        if abs(new - value) <= 1e-10 * new:
            break
        value = new
    return new


def _full_kernel(model: torch.nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
    """``Θ̂`` as an ``[N1·K, N2·K]`` float64 matrix (row index ``n·K + a``)."""
    k = empirical_ntk(model, x1, x2, mode="full", batch_size=1024).to(torch.float64)
    n1, n2, c, _ = k.shape
    return k.permute(0, 2, 1, 3).reshape(n1 * c, n2 * c)


def _linearized_gd(k_train: torch.Tensor, k_test: torch.Tensor, y: torch.Tensor, step: float,
                   steps: int) -> torch.Tensor:
    """Test outputs ``[M·K]`` of ``steps`` GD steps of a centred linear model with kernel matrices ``k_train
    [NK, NK]`` and ``k_test [MK, NK]`` on the sum loss ``½‖f − y‖²`` with step ``step`` (f starts at 0)."""
    f_train = torch.zeros_like(y)
    f_test = torch.zeros(k_test.shape[0], dtype=torch.float64, device=y.device)
    for _ in range(steps):
        residual = f_train - y
        f_train = f_train - step * (k_train @ residual)
        f_test = f_test - step * (k_test @ residual)
    return f_test


def width_run(config: dict) -> dict:
    """One width and parametrization: a centred one-hidden-layer net trained by full-batch GD at
    ``η = c · N / λ_max(Θ̂₀)`` (mean loss) for ``steps`` steps, against its own linearization and, for the
    standard and NTK parametrizations, the infinite-width NTK at the same ``c``.

    Config: ``task``, ``sizes``, ``test``, ``width``, ``parametrization``, ``steps``, ``c``, ``seed``,
    ``data_seed``, optional ``device``.

    Returns per size: the network's test ``error``/``mse``; ``linearized_error``/``linearized_mse`` and
    ``distance_to_linearized`` (``‖f − f_lin‖ / ‖f_lin‖`` on the test inputs); for standard/NTK also
    ``infinite_error``/``infinite_mse`` and ``distance_to_infinite``; and ``learning_rate``, ``lambda_max``.
    """
    device = config_device(config)
    sizes = sorted(config["sizes"])
    task = load_task(config["task"], sizes[-1], config["test"], config["data_seed"], device)
    parametrization = Parametrization(config["parametrization"])
    spec = dict(config, depth=1)
    initial = make_network(task, spec).to(torch.float64)
    x_test = task.x_test.to(torch.float64)
    k = task.num_classes
    keys = ("error", "mse", "linearized_error", "linearized_mse", "distance_to_linearized", "infinite_error",
            "infinite_mse", "distance_to_infinite", "learning_rate", "lambda_max")
    out: dict[str, list] = {key: [] for key in keys}
    for n in sizes:
        x, y = task.x_train[:n].to(torch.float64), task.y_train[:n].to(torch.float64)
        k_train = _full_kernel(initial, x)
        lam = _top_eigenvalue(k_train)
        step = config["c"] / lam                    # on the sum loss; the mean loss takes lr = step · N
        model = make_network(task, spec).to(torch.float64)
        model.load_state_dict(initial.state_dict())
        with torch.no_grad():
            f0_train = model(x)
        log = train(model, x, y + f0_train, loss="mse", optimizer="sgd", learning_rate=step * n,
                    max_steps=config["steps"], log_every=config["steps"])
        if log.diverged:
            raise FloatingPointError(f"GD diverged at width {config['width']}, n = {n}, c = {config['c']}.")
        f_net = centred_outputs(model, initial, x_test)
        f_lin = _linearized_gd(k_train, _full_kernel(initial, x_test, x), y.reshape(-1), step,
                               config["steps"]).reshape(-1, k)
        row = {"learning_rate": step * n, "lambda_max": lam}
        row["error"], row["mse"] = _errors(f_net, task.y_test, task.labels_test)
        row["linearized_error"], row["linearized_mse"] = _errors(f_lin, task.y_test, task.labels_test)
        row["distance_to_linearized"] = float((f_net - f_lin).norm() / f_lin.norm())
        row["infinite_error"] = row["infinite_mse"] = row["distance_to_infinite"] = float("nan")
        if parametrization is not Parametrization.MEAN_FIELD:
            scalar_all = relu_ntk(torch.cat([x, x_test]), depth=1, parametrization=parametrization.value,
                                  width=config["width"] if parametrization is Parametrization.STANDARD else None,
                                  bias=parametrization is Parametrization.STANDARD)[1]
            eye = torch.eye(k, dtype=torch.float64, device=x.device)
            k_inf = torch.kron(scalar_all[:n, :n], eye)
            f_inf = _linearized_gd(k_inf, torch.kron(scalar_all[n:, :n], eye), y.reshape(-1),
                                   config["c"] / _top_eigenvalue(k_inf), config["steps"]).reshape(-1, k)
            row["infinite_error"], row["infinite_mse"] = _errors(f_inf, task.y_test, task.labels_test)
            row["distance_to_infinite"] = float((f_net - f_inf).norm() / f_inf.norm())
        for key in keys:
            out[key].append(row[key])
    out["sizes"] = sizes
    return out


# ---------------------------------------------------------------------------------- kernel evolution


def evolution_run(config: dict) -> dict:
    """How the empirical NTK of the centred network moves during training, in shape and in scale.

    Config: ``task``, ``train`` (n₀), ``test``, ``width``, ``depth``, ``learning_rate``, ``steps``,
    ``checkpoints``, ``ridge``, ``seed``, ``data_seed``, ``after_sizes`` and ``after_ridges`` (the sizes, and the
    tuned ridge at each, at which the after kernel is used), ``block_points`` (inputs for the multi-output check),
    optional ``device``.

    The network trains on ``n₀`` samples drawn *after* the pool of the after-kernel experiment, so the after
    kernel is always evaluated on training sets it has not seen.

    Returns the checkpoint ``steps`` and, per checkpoint (kernels on the network's training and test inputs):
    ``fort_to_init``/``fort_to_final`` (Fort et al.'s distance), ``cka_to_init``, ``target_alignment`` (on the
    training inputs), ``overlap_to_init`` (top-K eigenspace), ``scale_to_init`` (``‖Θ_t‖/‖Θ₀‖``),
    ``centred_scale``/``shape_change`` (:func:`lib.kernel_alignment.scale_and_shape`), ``kernel_error`` (test
    error of kernel regression with ``Θ_t``) and ``network_error``; the after kernel's and the initial kernel's
    test errors at ``after_sizes`` (``after_error``, ``initial_error``); ``block_deviation`` at init and at the
    end (``‖Θ̂ − (tr Θ̂/K) ⊗ I‖/‖Θ̂‖``) and ``full_kernel_error``/``trace_kernel_error`` (kernel regression with
    the full multi-output kernel and with the output-averaged one on ``block_points`` training inputs).
    """
    device = config_device(config)
    n = config["train"]
    after_sizes = sorted(config["after_sizes"])
    pool = max(after_sizes)
    task = load_task(config["task"], pool + n, config["test"], config["data_seed"], device)
    model = make_network(task, config)
    initial = make_network(task, config)
    initial.load_state_dict(model.state_dict())
    x, y = task.x_train[pool:pool + n], task.y_train[pool:pool + n]
    total = int(config["steps"])
    marks = sorted({0, total} | {int(round(v)) for v in torch.logspace(0, math.log10(total),
                                                                         config["checkpoints"] - 1).tolist()})
    x_all = torch.cat([x, task.x_test])
    kernels: list[torch.Tensor] = []
    network_error: list[float] = []

    def checkpoint(step: int) -> None:
        if step in marks:
            kernels.append(output_averaged_ntk(model, x_all).cpu())
            network_error.append(_errors(centred_outputs(model, initial, task.x_test), task.y_test,
                                         task.labels_test)[0])

    _, _, diverged = fit_network(model, x, y, recipe=Recipe.CENTRED, learning_rate=config["learning_rate"],
                                 steps=total, seed=config["seed"], callback=checkpoint)
    if diverged:
        raise FloatingPointError(f"Training diverged at lr {config['learning_rate']}; lower it.")
    cpu = task.to("cpu")
    y_cpu = y.cpu()
    first, final = kernels[0], kernels[-1]
    kernel_error = []
    for kt in kernels:
        pred = kernel_regression(kt[:n, :n], y_cpu, kt[n:, :n], ridge=config["ridge"])
        kernel_error.append(_errors(pred, cpu.y_test, cpu.labels_test)[0])
    changes = [scale_and_shape(first, kt) for kt in kernels]
    result = dict(
        steps=marks,
        fort_to_init=[kernel_distance(kt, first) for kt in kernels],
        fort_to_final=[kernel_distance(kt, final) for kt in kernels],
        cka_to_init=[centered_alignment(kt, first) for kt in kernels],
        target_alignment=[target_alignment(kt[:n, :n], y_cpu) for kt in kernels],
        overlap_to_init=[eigenspace_overlap(kt[:n, :n], first[:n, :n], task.num_classes) for kt in kernels],
        scale_to_init=[scale_ratio(first, kt) for kt in kernels],
        centred_scale=[c[0] for c in changes], shape_change=[c[1] for c in changes],
        kernel_error=kernel_error, network_error=network_error,
    )
    # the after kernel on fresh nested training sets, against the initial kernel, each at the tuned ridge
    x_pool = torch.cat([task.x_train[:pool], task.x_test])
    ridges = dict(zip(after_sizes, config["after_ridges"]))
    for name, net in (("after_error", model), ("initial_error", initial)):
        kernel = output_averaged_ntk(net, x_pool)
        result[name] = [_kernel_errors(kernel, task, pool, task.y_test, task.labels_test, [m], [ridges[m]])
                        ["eval_error"][0][0] for m in after_sizes]
    result["after_sizes"] = after_sizes
    b = config["block_points"]
    xb, yb = x[:b], y[:b]
    result["block_deviation"] = [_block_deviation(initial, xb), _block_deviation(model, xb)]
    full_trace = [_full_vs_trace(net, xb, yb, task.x_test[:500], task.y_test[:500], task.labels_test[:500],
                                 config["ridge"]) for net in (initial, model)]
    result["full_kernel_error"] = [f for f, _ in full_trace]
    result["trace_kernel_error"] = [t for _, t in full_trace]
    return result


def _full_vs_trace(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor,
                   y_test: torch.Tensor, labels: torch.Tensor, ridge: float) -> tuple[float, float]:
    """Test errors of kernel regression with the full ``[NK, NK]`` empirical NTK and with ``tr Θ̂ / K``."""
    copy64 = copy.deepcopy(model).to(torch.float64)
    n, k = y.shape
    x_all = torch.cat([x, x_test]).to(torch.float64)
    full = empirical_ntk(copy64, x_all, x[:n].to(torch.float64), mode="full")  # [N + M, N, K, K]
    matrix = full.permute(0, 2, 1, 3).reshape(-1, n * k)
    train, test = matrix[:n * k], matrix[n * k:]
    pred_full = kernel_regression(train, y.reshape(-1, 1).to(torch.float64), test, ridge=ridge).reshape(-1, k)
    trace = torch.einsum("nmaa->nm", full) / k
    pred_trace = kernel_regression(trace[:n], y.to(torch.float64), trace[n:], ridge=ridge)
    return _errors(pred_full, y_test, labels)[0], _errors(pred_trace, y_test, labels)[0]


def _block_deviation(model: torch.nn.Module, x: torch.Tensor) -> float:
    full = empirical_ntk(model, x, mode="full").to(torch.float64)  # [N, N, K, K]
    k = full.shape[-1]
    scalar = torch.einsum("nmaa->nm", full) / k
    isotropic = scalar[:, :, None, None] * torch.eye(k, dtype=torch.float64, device=full.device)
    return float((full - isotropic).norm() / full.norm())
