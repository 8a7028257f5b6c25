"""Bandit agents sharing one interface: ``select(contexts, t) -> arm`` and ``update(context, reward, t)``.

* :class:`RandomAgent` — uniform over arms.
* :class:`NeuralAgent` — a reward network ``f(x; θ)`` (:mod:`lib.bandits.networks`) plus an
  exploration rule (:data:`EXPLORATIONS`):

  - ``"greedy"``: ``argmax_a f(x_a)`` (γ = 0);
  - ``"epsilon"``: a uniform arm with probability ε, else greedy;
  - ``"ucb"``: ``argmax_a f(x_a) + γ_t s(x_a)`` (NeuralUCB, Zhou et al. 2020);
  - ``"ts"``: ``argmax_a r̃_a`` with ``r̃_a ~ N(f(x_a), γ_t² s_TS(x_a)²)`` (NeuralTS, Zhang et al. 2021);

  and an uncertainty model (:data:`UNCERTAINTIES`) that gives ``s``:

  - ``"ntk"``: NeuralUCB's ``s(x)² = φ(x)ᵀ Z⁻¹ φ(x)`` with ``φ = g(x; θ_t)/√m`` and
    ``Z = λI + Σ_i φ_i φ_iᵀ`` over the played contexts; NeuralTS uses ``s_TS² = λ s²``.
    ``covariance="full"`` keeps ``Z`` exactly (function space, :class:`FeaturePrecision`),
    ``"diagonal"`` keeps its diagonal (the official code).
  - ``"laplace"``: the linearized-Laplace predictive standard deviation of ``f(x)`` at the
    current network, kernel = empirical NTK over all parameters (function space, exact);
    ``"laplace-last-layer"``: the same restricted to the readout layer. Prior precision ``α``
    and noise ``σ²`` maximize the Laplace evidence after every training
    (:func:`lib.bandits.posterior.maximize_evidence`). For TS, ``s_TS = s``.

  ``gamma`` is a number or ``"theory"`` (:func:`lib.bandits.theory.theory_gamma`).

Two training recipes (:data:`VARIANTS`), each labelled in the book:

* ``"paper"`` — Zhou et al.'s Algorithm 1: the symmetric network with ``f(x; θ₀) = 0`` and the √m
  output factor; after each training round, ``J = train_steps`` full-batch gradient-descent steps
  from ``θ₀`` on ``Σ_i (f(x_i; θ) − r_i)²/2 + mλ‖θ − θ₀‖²/2`` with step ``η`` (``lr``, default
  the theory's ``η = 1/(TmL + mλ)``); ``Z`` built from ``g/√m``; the Laplace prior is centred at ``θ₀``.
* ``"code"`` — the official code's practice: a plain MLP with biases, warm start (training
  continues from the current θ), ``train_steps`` mini-batch SGD steps (batch ``batch_size``,
  ``lr``, weight decay ``weight_decay``) on the mean squared error over past rounds; ``Z`` from
  ``g`` (no 1/m) and diagonal by default; the Laplace prior is centred at 0 (the weight decay's).

Both retrain every round for the first ``warmup_rounds`` rounds and then every ``train_every``
rounds (Zhou et al.'s Algorithm 1 retrains every round; the official code every round for its first
1000 rounds and then every 100). All randomness comes from the agent's own generator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from lib.bandits.networks import num_parameters, plain_network, symmetric_network
from lib.bandits.posterior import DiagonalPrecision, FeaturePrecision, KernelPosterior, maximize_evidence
from lib.bandits.theory import TheoryConstants, theory_gamma, theory_step_size
from lib.models.layers import Parametrization
from lib.ntk.structured import LayerFactors, append_sample, jacobian_from_factors, kernel_from_factors, layer_factors
from lib.options import Option
from lib.validation import (
    check_all_finite,
    check_finite,
    check_int,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_probability,
    check_tensor,
)


class Exploration(Option):
    """How a :class:`NeuralAgent` turns predictions ``f`` and uncertainties ``s`` into an arm (module doc)."""

    RANDOM = "random", "a uniformly random arm (RandomAgent)"
    GREEDY = "greedy", "argmax_a f(x_a): no exploration (γ = 0)"
    EPSILON = "epsilon", "a uniform arm with probability ε, else greedy"
    UCB = "ucb", "argmax_a f(x_a) + γ_t s(x_a) (NeuralUCB)"
    TS = "ts", "argmax_a of a sample r̃_a ~ N(f(x_a), γ_t² s_TS(x_a)²) (NeuralTS)"


class Uncertainty(Option):
    """Where the uncertainty ``s(x)`` of an arm comes from (module doc)."""

    NTK = "ntk", "NeuralUCB's s(x)² = φ(x)ᵀ Z⁻¹ φ(x), φ = g(x; θ_t)/√m over the played contexts"
    LAPLACE = "laplace", "linearized-Laplace predictive standard deviation, kernel = empirical NTK of all parameters"
    LAPLACE_LAST_LAYER = "laplace-last-layer", "linearized Laplace restricted to the readout layer"


class Variant(Option):
    """Which training recipe a :class:`NeuralAgent` follows (module doc)."""

    PAPER = "paper", "Zhou et al.'s Algorithm 1: symmetric network, GD from θ₀ with the mλ‖θ − θ₀‖² penalty"
    CODE = "code", "the official code: plain MLP, warm-started mini-batch SGD with weight decay on past rounds"


class Covariance(Option):
    """How the ``ntk`` uncertainty keeps its precision matrix ``Z`` (module doc)."""

    FULL = "full", "Z exactly, in function space (FeaturePrecision)"
    DIAGONAL = "diagonal", "the diagonal of Z only, as the official code does"


#: The valid strings of each option (aliases of the enums' ``values()``).
EXPLORATIONS: tuple[str, ...] = Exploration.values()
UNCERTAINTIES: tuple[str, ...] = Uncertainty.values()
VARIANTS: tuple[str, ...] = Variant.values()
COVARIANCES: tuple[str, ...] = Covariance.values()


@dataclass(frozen=True)
class AgentSpec:
    """Everything that defines an agent (a JSON-able config; see the module doc for the fields)."""

    exploration: str | Exploration
    uncertainty: str | Uncertainty = "ntk"
    gamma: float | str = 1.0
    epsilon: float = 0.05
    variant: str | Variant = "code"
    parametrization: str | Parametrization = "standard"
    covariance: str | Covariance = "diagonal"
    width: int = 100
    depth: int = 1
    lam: float = 1.0
    lr: float | None = 0.05
    train_steps: int = 50
    batch_size: int = 64
    weight_decay: float = 1e-4
    warmup_rounds: int = 20
    train_every: int = 50
    constants: TheoryConstants = field(default_factory=TheoryConstants)

    def __post_init__(self) -> None:
        # Stored as plain strings, so that as_dict() (a cache key) does not depend on how they were passed.
        for what, option in (("exploration", Exploration), ("uncertainty", Uncertainty), ("variant", Variant),
                             ("covariance", Covariance), ("parametrization", Parametrization)):
            object.__setattr__(self, what, option.parse(getattr(self, what)).value)
        if not (self.gamma == "theory" or (isinstance(self.gamma, (int, float)) and not isinstance(self.gamma, bool)
                                           and math.isfinite(self.gamma) and self.gamma >= 0)):
            raise ValueError(f"gamma must be a finite number >= 0 or 'theory', got {self.gamma!r}.")
        check_probability("epsilon", self.epsilon)
        if self.train_every < 1 or self.warmup_rounds < 0 or self.train_steps < 0:
            raise ValueError("Need train_every >= 1, warmup_rounds >= 0 and train_steps >= 0.")
        check_positive_int("width", self.width, example=100)
        check_positive_int("depth", self.depth, example=1)
        check_positive_int("batch_size", self.batch_size, example=64)
        check_nonnegative_int("train_steps", self.train_steps, example=50)
        check_nonnegative_int("warmup_rounds", self.warmup_rounds, example=20)
        check_positive_int("train_every", self.train_every, example=50)
        check_positive("lam", self.lam, fix="pass a regularisation λ > 0 such as 1.0")
        if self.lr is not None:
            check_positive("lr", self.lr, fix="pass a step size such as 0.05, or None for the theory's")
        check_nonnegative("weight_decay", self.weight_decay, fix="pass weight_decay >= 0 such as 1e-4")
        if not isinstance(self.constants, TheoryConstants):
            raise TypeError(f"constants must be a TheoryConstants, got {type(self.constants).__name__}.")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> AgentSpec:
        config = dict(config)
        if isinstance(config.get("constants"), dict):
            config["constants"] = TheoryConstants(**config["constants"])
        return cls(**config)


#: Named agents: name -> spec of the (code-variant) defaults; override fields with :func:`agent_spec`.
AGENTS: dict[str, AgentSpec] = {
    "random": AgentSpec("random"),
    "greedy": AgentSpec("greedy"),
    "epsilon-greedy": AgentSpec("epsilon"),
    "neural-ucb": AgentSpec("ucb", "ntk"),
    "neural-ts": AgentSpec("ts", "ntk"),
    "laplace-ucb": AgentSpec("ucb", "laplace"),
    "laplace-ts": AgentSpec("ts", "laplace"),
    "laplace-ll-ucb": AgentSpec("ucb", "laplace-last-layer"),
    "laplace-ll-ts": AgentSpec("ts", "laplace-last-layer"),
}


def agent_spec(name: str, **overrides) -> AgentSpec:
    """The spec of agent ``name`` (one of :data:`AGENTS`) with fields replaced by ``overrides``."""
    if name not in AGENTS:
        raise ValueError(f"Unknown agent {name!r}; valid: {', '.join(AGENTS)}.")
    return replace(AGENTS[name], **overrides)


def _argmax(scores: torch.Tensor, generator: torch.Generator) -> int:
    """Index of the largest score, ties broken uniformly at random."""
    best = torch.nonzero(scores >= scores.max()).flatten()
    if len(best) == 1:
        return int(best[0])
    return int(best[torch.randint(len(best), (1,), generator=generator)])


class RandomAgent:
    """Pulls a uniformly random arm."""

    def __init__(self, num_arms: int, seed: int) -> None:
        num_arms = check_positive_int("num_arms", num_arms, example=2)
        seed = check_int("seed", seed, example=0)
        self.num_arms = num_arms
        self.generator = torch.Generator().manual_seed(seed)
        self.last_gamma = 0.0
        self.last_bonus = 0.0

    def select(self, contexts: torch.Tensor, t: int) -> int:
        """A uniformly random arm (the contexts are ignored)."""
        return int(torch.randint(self.num_arms, (1,), generator=self.generator))

    def update(self, context: torch.Tensor, reward: float, t: int) -> None:
        pass


class NeuralAgent:
    """A neural bandit agent (module doc).

    Args:
        spec: the agent's configuration.
        context_dim: ``D = K·d`` of the disjoint encoding.
        num_arms: ``K``.
        horizon: ``T`` (sizes buffers; enters the theory's step size).
        seed: initialisation and exploration randomness.
    """

    def __init__(self, spec: AgentSpec, context_dim: int, num_arms: int, horizon: int, seed: int, *,
                 dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> None:
        if not isinstance(spec, AgentSpec):
            raise TypeError(f"spec must be an AgentSpec (see agent_spec()), got {type(spec).__name__}.")
        if spec.exploration == "random":
            raise ValueError("Use RandomAgent (make_agent) for exploration='random'.")
        context_dim = check_positive_int("context_dim", context_dim, example=20)
        num_arms = check_positive_int("num_arms", num_arms, example=2)
        horizon = check_positive_int("horizon", horizon, example=1000)
        seed = check_int("seed", seed, example=0)
        self.spec, self.num_arms, self.horizon = spec, num_arms, horizon
        self.dtype, self.device = dtype, torch.device(device)
        build = symmetric_network if spec.variant == "paper" else plain_network
        self.model: nn.Module = build(context_dim, spec.width, spec.depth, parametrization=spec.parametrization,
                                      seed=seed, dtype=dtype).to(self.device)
        self.initial = [p.detach().clone() for p in self.model.parameters()]
        self.num_parameters = num_parameters(self.model)
        self.layers = spec.depth + 1
        self.generator = torch.Generator().manual_seed(seed + 1_000_003)
        self.contexts = torch.zeros(horizon, context_dim, dtype=dtype, device=self.device)
        self.rewards = torch.zeros(horizon, dtype=dtype, device=self.device)
        self.n = 0
        self.theory_eta = theory_step_size(horizon, spec.width, self.layers, spec.lam, spec.constants)
        self.eta = self.theory_eta if spec.lr is None else spec.lr
        self.needs_uncertainty = spec.exploration in ("ucb", "ts")
        self.feature_scale = 1.0 / math.sqrt(spec.width) if spec.variant == "paper" else 1.0
        self.precision: FeaturePrecision | DiagonalPrecision | None = None   # built on first use (its size
        # is the number of parameters that move f, e.g. without biases whose scale is 0)
        self.posterior: KernelPosterior | None = None
        self._past_factors: LayerFactors | None = None
        self.hyperparameters = (1.0, 1.0)  # (α, σ²) before the first evidence fit
        self.fits: list[dict] = []
        self._pending = None  # what select() computed for the arm it chose
        self.last_gamma = 0.0
        self.last_bonus = 0.0

    # --- uncertainty -------------------------------------------------------------------------
    def _layer_subset(self, factors):
        return factors[-1:] if self.spec.uncertainty == "laplace-last-layer" else factors

    def _scales(self, contexts: torch.Tensor) -> tuple[torch.Tensor, object]:
        """``s(x_a)`` for the ``K`` arms ``[K]`` and what ``update`` needs for the chosen arm."""
        spec = self.spec
        if spec.uncertainty == "ntk":
            phi = jacobian_from_factors(layer_factors(self.model, contexts)[0])[0] * self.feature_scale   # [K, P]
            if self.precision is None:
                cls = FeaturePrecision if spec.covariance == "full" else DiagonalPrecision
                self.precision = cls(phi.shape[1], spec.lam, dtype=self.dtype, device=self.device)
            quad = self.precision.quadratic(phi)
            if spec.exploration == "ts":
                quad = spec.lam * quad
            return quad.clamp_min(0.0).sqrt(), phi
        factors = self._layer_subset(layer_factors(self.model, contexts)[0])
        diagonal = kernel_from_factors(factors, factors, "trace").diagonal()
        if self.posterior is None:
            self._refit_posterior()
        if self._past_factors is None:
            cross = diagonal.new_zeros(0, len(diagonal))
        else:
            cross = kernel_from_factors(self._past_factors, factors, "trace")             # [n, K]
        variance = self.posterior.variance(cross, diagonal)
        return variance.sqrt(), (cross, diagonal, factors)

    def _refit_posterior(self) -> None:
        """Rebuild the Laplace posterior at the current θ and maximize the evidence over (α, σ²)."""
        n = self.n
        if n:
            with torch.no_grad():
                residual = self.rewards[:n] - self.model(self.contexts[:n])[:, 0]
            self._past_factors = self._layer_subset(layer_factors(self.model, self.contexts[:n])[0])
            kernel = kernel_from_factors(self._past_factors, self._past_factors, "trace")
            params = list(self.model.parameters())
            initial = self.initial
            if self.spec.uncertainty == "laplace-last-layer":
                count = len(list(self._last_layer().parameters()))
                params, initial = params[-count:], initial[-count:]
            centre = initial if self.spec.variant == "paper" else [torch.zeros_like(p) for p in params]
            distance = float(sum(((p.detach() - c) ** 2).sum() for p, c in zip(params, centre, strict=False)))
            alpha, noise, evidence = maximize_evidence(torch.linalg.eigvalsh(kernel), float(residual @ residual),
                                                       distance, n, prior_precision=self.hyperparameters[0],
                                                       noise=self.hyperparameters[1])
            self.hyperparameters = (alpha, noise)
            self.fits.append({"round": n, "prior_precision": alpha, "noise": noise, "log_evidence": evidence})
            self.posterior = KernelPosterior.from_kernel(kernel, alpha, noise)
        else:
            self._past_factors = None
            self.posterior = KernelPosterior(*self.hyperparameters, dtype=self.dtype, device=self.device)

    def _last_layer(self) -> nn.Module:
        return [m for m in self.model.modules() if any(True for _ in m.parameters(recurse=False))][-1]

    def logdet_ratio(self) -> float:
        """``log det(Z_t / λI)`` of the NTK uncertainty (0 for other models)."""
        return self.precision.logdet_ratio() if self.precision is not None else 0.0

    def gamma(self, t: int) -> float:
        """The exploration scale used in round ``t`` (0-based)."""
        if self.spec.gamma != "theory":
            return float(self.spec.gamma)
        return theory_gamma(t + 1, width=self.spec.width, layers=self.layers, lam=self.spec.lam,
                            logdet_ratio=self.logdet_ratio(), steps=self.spec.train_steps,
                            step_size=self.theory_eta, constants=self.spec.constants)

    # --- the interface --------------------------------------------------------------------------
    def select(self, contexts: torch.Tensor, t: int) -> int:
        """The arm to pull given the ``[K, D]`` arm contexts of round ``t`` (not modified).

        Raises ``ValueError`` for contexts of the wrong shape or with NaN/inf entries, and
        ``FloatingPointError`` when the network's scores are not finite (a diverged agent), naming round ``t``."""
        check_tensor(f"contexts (round {t})", contexts, floating=True,
                     shape=(self.num_arms, self.contexts.shape[1]))
        check_all_finite(f"contexts (round {t})", contexts, fix="clean the data (the bandit's features)")
        contexts = contexts.to(self.contexts)
        with torch.no_grad():
            mean = self.model(contexts)[:, 0]
        self._check_scores(mean, t, "predicted rewards")
        spec = self.spec
        self._pending, self.last_gamma, self.last_bonus = None, 0.0, 0.0
        if spec.exploration == "greedy":
            return _argmax(mean, self.generator)
        if spec.exploration == "epsilon":
            if float(torch.rand((), generator=self.generator)) < spec.epsilon:
                return int(torch.randint(self.num_arms, (1,), generator=self.generator))
            return _argmax(mean, self.generator)
        scale, pending = self._scales(contexts)
        gamma = self.gamma(t)
        if spec.exploration == "ucb":
            scores = mean + gamma * scale
        else:
            noise = torch.randn(len(mean), generator=self.generator, dtype=mean.dtype).to(mean.device)
            scores = mean + gamma * scale * noise
        self._check_scores(scores, t, "exploration scores")
        arm = _argmax(scores, self.generator)
        self._pending = (arm, pending)
        self.last_gamma, self.last_bonus = gamma, float(gamma * scale[arm])
        return arm

    def _check_scores(self, scores: torch.Tensor, t: int, what: str) -> None:
        if not bool(torch.isfinite(scores).all()):
            raise FloatingPointError(
                f"Round {t}: the agent's {what} are not finite ({scores.tolist()[:4]}); its network diverged "
                f"(lr = {self.eta:g}) or was given non-finite data. Lower the learning rate (spec.lr).")

    def update(self, context: torch.Tensor, reward: float, t: int) -> None:
        """Observe ``reward`` for the pulled arm's ``[D]`` context; update the posterior; maybe retrain.

        Raises ``ValueError`` for a non-finite context or reward and ``FloatingPointError`` if training makes
        the network's parameters non-finite, naming round ``t``."""
        if self.n >= self.horizon:
            raise RuntimeError(f"More updates than the horizon T = {self.horizon}.")
        check_tensor(f"context (round {t})", context, floating=True, shape=(self.contexts.shape[1],))
        check_all_finite(f"context (round {t})", context, fix="clean the data (the bandit's features)")
        reward = check_finite(f"reward (round {t})", reward, fix="rewards must be finite numbers such as 0.0 or 1.0")
        self.contexts[self.n] = context.to(self.contexts)
        self.rewards[self.n] = reward
        if self._pending is not None:
            arm, pending = self._pending
            if self.spec.uncertainty == "ntk":
                self.precision.add(pending[arm])
            else:
                cross, diagonal, factors = pending
                self.posterior.add(cross[:, arm], diagonal[arm])
                self._past_factors = append_sample(self._past_factors, factors, arm)
        self.n += 1
        self._pending = None
        if self.n <= self.spec.warmup_rounds or self.n % self.spec.train_every == 0:
            self.train()
            bad = [name for name, p in self.model.named_parameters() if not bool(torch.isfinite(p).all())]
            if bad:
                raise FloatingPointError(f"Round {t}: training made the network's parameters {bad[:2]} NaN or "
                                         f"infinite (diverged; lr = {self.eta:g}); lower the learning rate (spec.lr).")
            if self.needs_uncertainty and self.spec.uncertainty != "ntk":
                self._refit_posterior()

    def train(self) -> None:
        """One training phase on the ``n`` rounds seen so far (recipe of ``spec.variant``)."""
        spec, n = self.spec, self.n
        if n == 0 or spec.train_steps == 0:
            return
        x, r = self.contexts[:n], self.rewards[:n]
        params = list(self.model.parameters())
        if spec.variant == "paper":
            with torch.no_grad():
                for p, p0 in zip(params, self.initial, strict=False):
                    p.copy_(p0)
            reg = spec.width * spec.lam
            for _ in range(spec.train_steps):
                loss = 0.5 * ((self.model(x)[:, 0] - r) ** 2).sum()
                loss = loss + 0.5 * reg * sum(((p - p0) ** 2).sum()
                                              for p, p0 in zip(params, self.initial, strict=True))
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    for p, g in zip(params, grads, strict=False):
                        p.sub_(self.eta * g)
            return
        optimizer = torch.optim.SGD(params, lr=self.eta, weight_decay=spec.weight_decay, foreach=True)
        for _ in range(spec.train_steps):
            index = torch.randint(n, (min(spec.batch_size, n),), generator=self.generator).to(self.device)
            optimizer.zero_grad(set_to_none=True)
            ((self.model(x[index])[:, 0] - r[index]) ** 2).mean().backward()
            optimizer.step()


def make_agent(spec: AgentSpec, context_dim: int, num_arms: int, horizon: int, seed: int, **kwargs):
    """A :class:`RandomAgent` or :class:`NeuralAgent` for ``spec``."""
    if spec.exploration == "random":
        return RandomAgent(num_arms, seed)
    return NeuralAgent(spec, context_dim, num_arms, horizon, seed, **kwargs)
