"""Chapter 4's experiments: pure module-level functions ``config (dict) -> result (dict)``, cacheable with
:class:`lib.cache.ResultsCache` and picklable by reference.

* :func:`sequence_run` — one network trained on one task sequence for a fixed number of epochs per task;
* :func:`kernel_run` — the kernel baseline (analytic infinite-width NTK) on the same tasks, over training times,
  and the cross-task kernel overlaps.
"""

from __future__ import annotations

import math

import torch

from lib.continual import (
    Budget,
    cross_task_overlap,
    make_sequence,
    pair_forgetting,
    run_sequence,
    sequential_kernel_regression,
)
from lib.continual.metrics import ContinualMetrics
from lib.experiments import config_device, single_threaded
from lib.experiments.forgetting.configs import ANGLES, BATCH, MUP_BASE_WIDTH, RUNS, WRN_DEPTH
from lib.models import MLP, WideResNet
from lib.models.cnn import WRN_RECIPE, random_crop_flip
from lib.ntk import linearize, relu_ntk

__all__ = ["load_sequence", "build_model", "sequence_run", "kernel_run", "ntk_diagonal", "mup_factor",
           "effective_learning_rate"]


def load_sequence(run: str, data_seed: int, n_train: int | None, n_test: int | None, held_out: str = "test"):
    """The task sequence of ``run`` (a key of :data:`RUNS`) for data draw ``data_seed``; sizes are per task for
    RotatedMNIST and per-class caps for the Split benchmarks; ``held_out`` is ``"test"`` or (RotatedMNIST,
    tuning) ``"validation"``."""
    if run not in RUNS:
        raise ValueError(f"Unknown run {run!r}; valid: {', '.join(RUNS)}.")
    benchmark = RUNS[run][0]
    return make_sequence(benchmark, seed=data_seed, n_train=n_train, n_test=n_test,
                         angles=list(ANGLES) if benchmark == "rotated_mnist" else None, held_out=held_out)


def mup_factor(width: int) -> float:
    """``m / MUP_BASE_WIDTH``: the μP arm's learning rate is the base rate times this, and its readout is scaled
    by this to the power −1/2 relative to the NTK parametrization."""
    return width / MUP_BASE_WIDTH


def effective_learning_rate(config: dict) -> float:
    """The SGD step size a run uses: the config's ``learning_rate``, times :func:`mup_factor` for μP."""
    lr = float(config["learning_rate"])
    return lr * mup_factor(config["width"]) if config.get("parametrization") == "mup" else lr


def build_model(architecture: str, width: int, depth: int, num_classes: int, input_shape: tuple[int, ...],
                seed: int, parametrization: str = "standard") -> torch.nn.Module:
    """An MLP (``depth`` hidden layers of ``width``, He initialisation, ``parametrization``) or a
    WRN-16-``width``, initialised from ``seed``. ``input_shape`` is one image's ``(C, H, W)``.

    ``parametrization="mup"`` (MLP only): the NTK-parametrized MLP with its readout multiplier ``√2/√m`` scaled by
    ``√(MUP_BASE_WIDTH/m)``, i.e. ``∝ 1/m`` — with the learning rate ``∝ m`` (:func:`effective_learning_rate`)
    this is μP (Yang & Hu 2021: the NTK parametrization is the abc-symmetry image of μP's hidden layers; only the
    readout and the step differ). At ``m = MUP_BASE_WIDTH`` it is the NTK-parametrized network, same weights."""
    if architecture == "mlp":
        mup = parametrization == "mup"
        model = MLP(math.prod(input_shape), width, depth, num_classes,
                    parametrization="ntk" if mup else parametrization, generator=torch.Generator().manual_seed(seed))
        if mup:
            model[-1].weight_scale = model[-1].weight_scale / math.sqrt(mup_factor(width))
        return model
    if architecture == "wrn":
        if parametrization != "standard":
            raise ValueError("The WRN exists in the standard parametrization only; use parametrization='standard'.")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)   # nn.Conv2d / nn.Linear draw from the global generator
            return WideResNet(WRN_DEPTH, width, num_classes, in_channels=input_shape[0])
    raise ValueError(f"Unknown architecture {architecture!r}; use 'mlp' or 'wrn'.")


@single_threaded
def sequence_run(config: dict) -> dict:
    """Train one network on one task sequence, ``epochs`` epochs per task, and measure it.

    Config: ``run`` (a key of :data:`RUNS`), ``width``, ``depth``, ``parametrization`` (``"standard"``, ``"ntk"``
    or ``"mup"``: see :func:`build_model`; its step is :func:`effective_learning_rate`), ``learning_rate``,
    ``epochs``, optional ``held_out`` (``"test"``, or ``"validation"`` for tuning runs), ``seed`` (network and
    batch order), ``data_seed``, ``n_train``/``n_test``, ``probe_per_task`` (0: no kernel probe), optional
    ``linearize`` (train the network's linearization at initialization instead, :func:`lib.ntk.linearize`) and
    ``device``. MLPs: plain SGD, batch :data:`BATCH`; WRNs: the recipe of
    :data:`lib.models.cnn.WRN_RECIPE` (momentum, weight decay, crops and flips, per-task BatchNorm statistics).

    Returns: ``accuracy [T][T]``, per task ``steps``, ``steps_per_epoch``, ``train_curve`` (training accuracy
    after every epoch), ``parameter_change`` and the centred kernel measures of
    :class:`lib.continual.SequenceResult` (task 1 included), the summaries of
    :class:`lib.continual.ContinualMetrics`, ``pair_forgetting [T][T]`` (``nan`` off the upper triangle), and
    ``diverged`` (then the accuracies are ``nan``); for MLP runs with a probe also ``probe_kernels [T+1][M][M]`` and
    ``output_drift [T][T]`` (see :class:`lib.continual.SequenceResult`; both cost time, so only runs with a probe
    record them).
    """
    _, setting, architecture, _ = RUNS[config["run"]] if config["run"] in RUNS else (None, None, None, None)
    if architecture is None:
        raise ValueError(f"Unknown run {config['run']!r}; valid: {', '.join(RUNS)}.")
    device = config_device(config)
    sequence = load_sequence(config["run"], config["data_seed"], config["n_train"], config["n_test"],
                             config.get("held_out", "test"))
    model = build_model(architecture, config["width"], config["depth"], sequence.num_classes,
                        tuple(sequence.tasks[0].x_train.shape[1:]), config["seed"],
                        config.get("parametrization", "standard")).to(device)
    if config.get("linearize"):
        model = linearize(model)      # f(θ₀) + J(θ₀)(θ − θ₀): exactly lazy at every width, same f₀ and kernel
    probe = None
    if config["probe_per_task"] and architecture == "mlp":
        probe = torch.cat([t.x_test[:config["probe_per_task"]] for t in sequence.tasks])
    recipe = {}
    if architecture == "wrn":
        recipe = dict(momentum=WRN_RECIPE.momentum, weight_decay=WRN_RECIPE.weight_decay,
                      batchnorm=WRN_RECIPE.batchnorm,
                      augment=lambda x, g: random_crop_flip(x, g, padding=WRN_RECIPE.crop_padding,
                                                            flip=WRN_RECIPE.flip))
    batch = WRN_RECIPE.batch_size if architecture == "wrn" else BATCH
    try:
        result = run_sequence(model, sequence, setting, Budget(epochs=config["epochs"]),
                              learning_rate=effective_learning_rate(config), batch_size=batch,
                              generator=torch.Generator().manual_seed(config["seed"] + 1), probe=probe,
                              track_accuracy=True, track_drift=probe is not None, **recipe)
    except FloatingPointError as error:
        t = sequence.num_tasks
        return {"diverged": True, "message": str(error), "accuracy": [[math.nan] * t for _ in range(t)]}
    metrics = ContinualMetrics.from_matrix(result.accuracy)
    out = {key: value for key, value in vars(result).items()}
    out.update(metrics.as_dict())
    out.update(diverged=False, pair_forgetting=pair_forgetting(result.accuracy).tolist(),
               steps_per_epoch=math.ceil(sequence.tasks[0].x_train.shape[0] / batch),
               task_names=[t.name for t in sequence.tasks])
    return out


def _ntk(depth: int):
    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return relu_ntk(a, b, depth=depth)[1]
    return kernel


@single_threaded
def kernel_run(config: dict) -> dict:
    """The kernel baseline on data draw ``data_seed``: sequential kernel regression with the analytic NTK of a
    ReLU MLP with ``depth`` hidden layers (NTK parametrization, ``σ_w² = 2``, no bias — the infinite-width limit
    of the chapter's NTK-parametrized MLP), for every gradient-flow time in ``times`` (``inf`` = interpolation),
    and the cross-task overlaps on the first ``overlap_points`` training inputs of each task.

    Returns: ``times``, ``accuracy [M][T][T]``, ``train_accuracy [M][T]``, ``train_loss [M][T]``,
    ``learning_accuracy``/``average_forgetting``/``learned_minus_final``/``average_accuracy`` ``[M]``,
    ``pair_forgetting [M][T][T]``, ``output_drift [M][T][T]`` (see :class:`lib.continual.KernelSequence`),
    ``overlap_centred``/``overlap_uncentred [T][T]``.
    """
    run = config["run"]
    if run not in RUNS or RUNS[run][2] != "mlp":
        raise ValueError(f"The kernel baseline needs an MLP run; got {run!r}.")
    sequence = load_sequence(run, config["data_seed"], config["n_train"], config["n_test"])
    kernel = _ntk(config["depth"])
    result = sequential_kernel_regression(kernel, sequence, RUNS[run][1], config["times"])
    metrics = [ContinualMetrics.from_matrix(a) for a in result.accuracy]
    inputs = [t.x_train[:config["overlap_points"]] for t in sequence.tasks]
    return dict(times=result.times.tolist(), accuracy=result.accuracy.tolist(),
                train_accuracy=result.train_accuracy.tolist(), train_loss=result.train_loss.tolist(),
                learning_accuracy=[m.learning_accuracy for m in metrics],
                average_forgetting=[m.average_forgetting for m in metrics],
                learned_minus_final=[m.learned_minus_final for m in metrics],
                average_accuracy=[m.average_accuracy for m in metrics],
                pair_forgetting=[pair_forgetting(a).tolist() for a in result.accuracy],
                output_drift=result.output_drift.tolist(),
                overlap_centred=cross_task_overlap(kernel, inputs, centred=True).tolist(),
                overlap_uncentred=cross_task_overlap(kernel, inputs, centred=False).tolist())


def ntk_diagonal(config: dict) -> dict:
    """Mean ``Θ(x, x)`` of the analytic NTK on ``points`` training inputs of the first task of ``run``, in the
    standard parametrization at every width of ``widths`` and in the NTK parametrization: how the kernel's
    scale — and with it how far one SGD step at a fixed learning rate moves the function — grows with width."""
    sequence = load_sequence(config["run"], config["data_seed"], config["points"], 1)
    x = sequence.tasks[0].x_train.reshape(config["points"], -1).double()
    standard = [float(relu_ntk(x, depth=config["depth"], parametrization="standard", width=w)[1].diagonal().mean())
                for w in config["widths"]]
    ntk = float(relu_ntk(x, depth=config["depth"])[1].diagonal().mean())
    return dict(widths=list(config["widths"]), standard=standard, ntk=ntk)
