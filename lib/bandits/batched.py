"""Neural bandit agents trained as one batched computation: ``B`` independent one-hidden-layer networks.

Every model ``b`` of a batch plays its own bandit (row ``b`` of a :class:`lib.bandits.problems.BanditBatch`)
with its own initialisation and random numbers (a generator seeded by ``seeds[b]``) and its own ``λ`` and
exploration scale ``γ``. All models take their steps together — one ``torch.bmm`` per layer over the
stacked parameters ``W₁ [B, m, D]``, ``b₁ [B, m]``, ``w₂ [B, m]``, ``b₂ [B]`` — so ``B`` agents cost
little more than one on a CPU. A model's results do not depend on which other models share its batch
(``tests/test_bandits_batched.py`` checks batched == one-by-one in float64).

**Network** (the official NeuralUCB code's): ``f(x) = w₂ᵀ relu(W₁x + b₁) + b₂``, PyTorch's default
``nn.Linear`` initialisation (uniform on ``±1/√fan_in``). Gradients are written out in closed form. Model
``b``'s parameters are one flat row ``theta[b]`` (``W₁ᵀ``, ``b₁``, ``w₂``, ``b₂``; ``W1`` etc. are views), so one
SGD step of all models is 16-19 batched tensor operations (``benchmarks/batched_bandits.py`` times it).

**Training** (the official code's schedule, :class:`BatchSpec`): after every round for the first
``every_round_until`` rounds, then every ``train_every`` rounds, warm-started SGD (learning rate ``lr``,
weight decay ``λ`` — the official code passes its λ as the weight decay) on the squared error over all
past rounds, in mini-batches of ``batch_size`` drawn as shuffled epochs, until an epoch's mean loss is at
most ``tolerance`` or ``max_steps`` steps were taken. ``batch_size=1, max_steps=1000, tolerance=1e-3,
lr=1e-2, every_round_until=2000, train_every=100`` is the official code's recipe.

**Exploration** (:class:`Rule`): greedy ``argmax f``; UCB ``argmax f + γ·s``; TS ``argmax f + γ·s·ξ``,
``ξ ~ N(0, 1)`` per arm; random. ``s`` comes from the posterior (:class:`Posterior`):

* ``neural`` — NeuralUCB/NeuralTS as in the official code: ``s² = λ Σ_p g_p²/U_p`` with the diagonal
  ``U = λ + Σ_i g_i²`` over the played arms' gradients, each taken at the θ of the round it was played
  (never refreshed). With ``scale="theory"`` the paper's normalisation is used instead
  (``s² = gᵀZ⁻¹g/m``, ``Z = λ + Σ g g/m``, diagonal) with Zhou et al.'s ``γ_t`` (:mod:`lib.bandits.theory`).
* ``laplace-diagonal`` — linearized Laplace with prior ``N(0, α⁻¹I)`` (the weight decay's centre) and noise
  ``σ²``: ``s² = Σ_p g_p²/(α + G_p/σ²)`` with ``G = Σ_i g_i(θ*)²`` recomputed at the trained ``θ*``.
* ``laplace-last-layer`` — the same with the full covariance of the readout ``(w₂, b₂)``, features ``(h, 1)``.
* ``laplace-full`` — the full GGN posterior over all parameters, in function space (MacKay 1992):
  ``s² = (k(x,x) − k(x,X)(K + ασ²I)⁻¹k(X,x))/α`` with ``k`` the empirical NTK at ``θ*``.

The Laplace kernels are refreshed at ``θ*`` after every ``refresh_every``-th training (in between, new
rounds are added with the kernel of the last refresh). Their ``(α, σ²)`` maximize the Laplace evidence by
MacKay's fixed point (:class:`Evidence`): after training (``after-training``; the training's weight decay
stays ``λ``), or ``online`` — the current ``(α, σ²)`` also set the next training's weight decay
``2ασ²/n``, so the network is trained for the very posterior whose evidence is maximized (Immer et al.
2021 alternate gradient steps on the evidence with training; we take fixed-point steps). ``γ = 1`` is
the evidence's own scale; other ``γ`` rescale it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from lib.bandits.problems import BanditBatch
from lib.bandits.theory import TheoryConstants, theorem_steps, theory_gamma, theory_step_size
from lib.options import Option
from lib.validation import check_nonnegative, check_positive, check_positive_int


class Rule(Option):
    """How an agent turns predictions ``f`` and widths ``γ s`` into an arm."""

    GREEDY = "greedy", "argmax_a f(x_a): no exploration"
    UCB = "ucb", "argmax_a f(x_a) + γ s(x_a) (NeuralUCB)"
    TS = "ts", "argmax_a f(x_a) + γ s(x_a) ξ_a, ξ_a ~ N(0, 1) (NeuralTS)"
    RANDOM = "random", "a uniformly random arm (no network is trained)"


class Posterior(Option):
    """Where the width ``s(x)`` comes from (module doc)."""

    NEURAL = "neural", "NeuralUCB's diagonal U = λ + Σ g_i² of the played gradients, never refreshed"
    LAPLACE_DIAGONAL = "laplace-diagonal", "diagonal GGN Laplace, G = Σ g_i(θ*)², evidence-set (α, σ²)"
    LAPLACE_LAST_LAYER = "laplace-last-layer", "full Laplace covariance of the readout layer at θ*"
    LAPLACE_FULL = "laplace-full", "full GGN Laplace over all parameters, function space, NTK at θ*"


class Scale(Option):
    """Where the exploration scale ``γ`` comes from."""

    FIXED = "fixed", "a constant γ per model (0 is greedy)"
    THEORY = "theory", "Zhou et al.'s γ_t with the theorem's J and the agent's log det(Z/λI)"


class Evidence(Option):
    """When the Laplace hyperparameters (α, σ²) are set by evidence maximization (module doc)."""

    AFTER_TRAINING = "after-training", "MacKay's fixed point at θ* after training; the weight decay stays λ"
    ONLINE = "online", "the same, and (α, σ²) set the next training's weight decay 2ασ²/n"


@dataclass(frozen=True)
class BatchSpec:
    """What all models of a batch share (module doc). A JSON-able config (:meth:`as_dict`)."""

    rule: str = "ucb"
    posterior: str = "neural"
    scale: str = "fixed"
    evidence: str = "after-training"
    width: int = 100
    lr: float = 1e-2
    batch_size: int = 1
    max_steps: int = 1000
    tolerance: float = 1e-3
    every_round_until: int = 2000
    train_every: int = 100
    refresh_every: int = 1
    evidence_iterations: int = 10
    constants: dict = field(default_factory=lambda: TheoryConstants().as_dict())

    def __post_init__(self) -> None:
        for name, option in (("rule", Rule), ("posterior", Posterior), ("scale", Scale), ("evidence", Evidence)):
            object.__setattr__(self, name, option.parse(getattr(self, name), name=name).value)
        for name in ("width", "batch_size", "train_every", "refresh_every", "evidence_iterations"):
            check_positive_int(name, getattr(self, name))
        if not isinstance(self.max_steps, int) or self.max_steps < 0:
            raise ValueError(f"max_steps must be an int >= 0 (0: never train), got {self.max_steps!r}.")
        if not isinstance(self.every_round_until, int) or self.every_round_until < 0:
            raise ValueError(f"every_round_until must be an int >= 0, got {self.every_round_until!r}.")
        check_positive("lr", self.lr, fix="pass a learning rate such as 0.01")
        check_nonnegative("tolerance", self.tolerance, fix="pass a loss tolerance such as 1e-3 (0: always max_steps)")
        if self.scale == "theory" and (self.posterior != "neural" or self.rule == "greedy"):
            raise ValueError("scale='theory' is Zhou et al.'s γ_t for the 'neural' posterior with rule 'ucb' or 'ts'.")

    def as_dict(self) -> dict:
        return asdict(self)

    def trains_after(self, n: int) -> bool:
        """Whether the agents train after their ``n``-th observation (``n ≥ 1``)."""
        return self.rule != "random" and self.max_steps > 0 and (n <= self.every_round_until
                                                                 or n % self.train_every == 0)


#: How many input numbers a training phase gathers at once (its mini-batches of several steps, ≈ 32 MB in float64).
_GATHER_ELEMENTS = 1 << 22


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    return (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1) * bound


class BatchedAgents:
    """``B`` agents of one :class:`BatchSpec` on the ``B`` rows of a bandit batch (module doc).

    Args:
        spec: what the agents share.
        bandit: the problems; row ``b`` is agent ``b``'s.
        lams: ``[B]`` λ (weight decay, and ``U``'s start for the ``neural`` posterior).
        gammas: ``[B]`` exploration scales (ignored by greedy, random and ``scale="theory"``).
        seeds: ``[B]`` initialisation/exploration seeds.

    Attributes:
        theta: ``[B, D·m + 2m + 1]`` the parameters, row ``b`` = ``(W₁ᵀ [D, m] row-major, b₁, w₂, b₂)`` of model
            ``b``; ``W1`` ``[B, m, D]``, ``b1``, ``w2`` ``[B, m]`` and ``b2`` ``[B]`` are views of it (training
            updates it in place).
    """

    def __init__(self, spec: BatchSpec, bandit: BanditBatch, lams: list[float], gammas: list[float],
                 seeds: list[int], *, device: torch.device | str = "cpu") -> None:
        b = bandit.features.shape[0]
        if not (len(lams) == len(gammas) == len(seeds) == b):
            raise ValueError(f"Need one λ, γ and seed per bandit row ({b}); got {len(lams)}, {len(gammas)}, "
                             f"{len(seeds)}.")
        if any(not (isinstance(v, (int, float)) and v > 0) for v in lams):
            raise ValueError(f"Every λ must be > 0, got {lams}.")
        if any(not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)) for v in gammas):
            raise ValueError(f"Every γ must be a finite number >= 0, got {gammas}.")
        self.spec, self.bandit, self.device = spec, bandit, torch.device(device)
        self.B, self.K, self.D, self.m = b, bandit.num_arms, bandit.context_dim, spec.width
        self.T = bandit.horizon
        kw = {"dtype": torch.float64, "device": self.device}
        self.lam = torch.tensor(lams, **kw)
        self.gamma = torch.tensor(gammas, **kw)
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        w1, b1, w2, b2 = [], [], [], []
        for g in self.generators:  # PyTorch's default nn.Linear initialisation, per model
            w1.append(_uniform((self.m, self.D), 1 / math.sqrt(self.D), g))
            b1.append(_uniform((self.m,), 1 / math.sqrt(self.D), g))
            w2.append(_uniform((self.m,), 1 / math.sqrt(self.m), g))
            b2.append(_uniform((), 1 / math.sqrt(self.m), g))
        # All parameters of model b live in one row theta[b] (layout: W₁ᵀ [D, m], b₁, w₂, b₂) so that a training
        # step updates them with a few whole-tensor operations; W1 [B, m, D], b1, w2, b2 are views of it.
        d, m = self.D, self.m
        self.theta = torch.empty(b, d * m + 2 * m + 1, **kw)
        self.W1 = self.theta[:, :d * m].view(b, d, m).transpose(1, 2)
        self.b1 = self.theta[:, d * m:d * m + m]
        self.w2 = self.theta[:, d * m + m:d * m + 2 * m]
        self.b2 = self.theta[:, -1]
        self.W1.copy_(torch.stack(w1))
        self.b1.copy_(torch.stack(b1))
        self.w2.copy_(torch.stack(w2))
        self.b2.copy_(torch.stack(b2))
        self.X = torch.zeros(b, self.T, self.D, **kw)
        self.R = torch.zeros(b, self.T, **kw)
        self.n = 0
        self.rows = torch.arange(b, device=self.device)
        self.alpha = torch.ones(b, **kw)   # Laplace prior precision and noise variance
        self.noise = torch.ones(b, **kw)
        self.weight_decay = self.lam.clone()
        self.trainings = 0
        self.paper_features = spec.scale == "theory"
        if spec.posterior == "neural":
            # official: U = λ + Σ g², s² = λ Σ g²/U; paper (scale="theory"): diag Z = λ + Σ g²/m and
            # s² = Σ (g²/m)/diag Z = Σ g²/U with U = m·diag Z = mλ + Σ g²
            start = self.lam * (self.m if self.paper_features else 1.0)
            self.U = [start[:, None, None].expand(b, self.m, self.D).clone(), start[:, None].expand(b, self.m).clone(),
                      start[:, None].expand(b, self.m).clone(), start.clone()]
        if spec.posterior == "laplace-diagonal":
            self.G = [torch.zeros(b, self.m, self.D, **kw), torch.zeros(b, self.m, **kw),
                      torch.zeros(b, self.m, **kw), torch.zeros(b, **kw)]
        if spec.posterior == "laplace-last-layer":
            self.S = torch.zeros(b, self.m + 1, self.m + 1, **kw)
        if spec.posterior == "laplace-full":
            self.L = torch.zeros(b, self.T, self.T, **kw)
            self.ref = (self.W1.clone(), self.b1.clone(), self.w2.clone())
            self.Aref = torch.zeros(b, self.T, self.m, **kw)   # activation pattern of past contexts at θ_ref
            self.Href = torch.zeros(b, self.T, self.m, **kw)   # hidden features of past contexts at θ_ref
        if self.paper_features:
            c = TheoryConstants(**spec.constants)
            self.theory = c
            self.theory_J = [theorem_steps(self.T, layers=2, lam=float(v), constants=c) for v in lams]
            self.theory_eta = [theory_step_size(self.T, self.m, 2, float(v), c) for v in lams]

    # --- the network --------------------------------------------------------------------------------
    def _hidden(self, x: torch.Tensor, params=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-activations' sign pattern and hidden features ``[B, N, m]`` for inputs ``x`` ``[B, N, D]``."""
        W1, b1 = (self.W1, self.b1) if params is None else params[:2]
        pre = torch.baddbmm(b1[:, None, :], x, W1.transpose(1, 2))
        active = (pre > 0).to(pre.dtype)
        return active, pre * active

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``f`` ``[B, N]`` for inputs ``[B, N, D]``."""
        return torch.bmm(self._hidden(x)[1], self.w2[:, :, None])[..., 0] + self.b2[:, None]

    def _squared_gradients(self, x: torch.Tensor, active: torch.Tensor, hidden: torch.Tensor, w2=None):
        """Per-input squared gradients ``g²`` by parameter block: ``[B, N, m, D]``-free factors.

        Returns ``(u, x²)`` with ``g²_{W1} = u_j x²_k`` (``u = (w₂ a)²`` ``[B, N, m]``), plus ``g²_{b1} = u``,
        ``g²_{w2} = h²``, ``g²_{b2} = 1``."""
        w2 = self.w2 if w2 is None else w2
        return (w2[:, None, :] * active) ** 2, x ** 2, hidden ** 2

    # --- widths -------------------------------------------------------------------------------------
    def _diagonal_quadratic(self, x, active, hidden, blocks) -> torch.Tensor:
        """``Σ_p g_p² / blocks_p`` ``[B, N]`` for a diagonal stored by parameter block."""
        u, x2, h2 = self._squared_gradients(x, active, hidden)
        inv = [1.0 / blk for blk in blocks]
        return ((u * torch.bmm(x2, inv[0].transpose(1, 2))).sum(-1) + (u * inv[1][:, None, :]).sum(-1)
                + (h2 * inv[2][:, None, :]).sum(-1) + inv[3][:, None])

    def _add_diagonal(self, blocks, x, active, hidden) -> None:
        """``blocks += g²`` of one input per model (``x`` ``[B, 1, D]``)."""
        u, x2, h2 = self._squared_gradients(x, active, hidden)
        blocks[0] += u[:, 0, :, None] * x2[:, 0, None, :]
        blocks[1] += u[:, 0]
        blocks[2] += h2[:, 0]
        blocks[3] += 1.0

    def _kernel(self, xa, aa, ha, xb, ab, hb, w2) -> torch.Tensor:
        """Empirical NTK ``[B, N, M]`` between inputs a and b given their patterns/features at one θ."""
        return (torch.bmm(aa * w2[:, None, :] ** 2, ab.transpose(1, 2)) * (torch.bmm(xa, xb.transpose(1, 2)) + 1)
                + torch.bmm(ha, hb.transpose(1, 2)) + 1)

    def variances(self, x: torch.Tensor, active: torch.Tensor, hidden: torch.Tensor):
        """``s²`` ``[B, K]`` of the arms (``x`` ``[B, K, D]``) and what :meth:`observe` needs."""
        post = self.spec.posterior
        if post == "neural":
            quad = self._diagonal_quadratic(x, active, hidden, self.U)
            return (quad if self.paper_features else self.lam[:, None] * quad), None
        if post == "laplace-diagonal":
            precision = [self.alpha.view(-1, *[1] * (g.dim() - 1)) + g / self.noise.view(-1, *[1] * (g.dim() - 1))
                         for g in self.G]
            return self._diagonal_quadratic(x, active, hidden, precision), None
        if post == "laplace-last-layer":
            psi = torch.cat([hidden, torch.ones_like(hidden[..., :1])], dim=-1)          # [B, K, m+1]
            eye = torch.eye(self.m + 1, dtype=psi.dtype, device=psi.device)
            precision = self.alpha[:, None, None] * eye + self.S / self.noise[:, None, None]
            chol = torch.linalg.cholesky(precision)
            v = torch.linalg.solve_triangular(chol, psi.transpose(1, 2), upper=False)
            return (v * v).sum(1), psi
        # laplace-full: features of the arms at θ_ref
        W1r, b1r, w2r = self.ref
        ar, hr = self._hidden(x, (W1r, b1r))
        diag = ((ar * w2r[:, None, :]) ** 2).sum(-1) * ((x * x).sum(-1) + 1) + (hr * hr).sum(-1) + 1  # [B, K]
        n = self.n
        if n == 0:
            return diag / self.alpha[:, None], (ar, hr, diag, None)
        cross = self._kernel(self.X[:, :n], self.Aref[:, :n], self.Href[:, :n], x, ar, hr, w2r)   # [B, n, K]
        v = torch.linalg.solve_triangular(self.L[:, :n, :n], cross, upper=False)
        return (diag - (v * v).sum(1)).clamp_min(0.0) / self.alpha[:, None], (ar, hr, diag, v)

    def _append_full(self, arm, pending) -> None:
        ar, hr, diag, v = pending
        n, rows = self.n, self.rows
        c = self.alpha * self.noise
        self.Aref[:, n] = ar[rows, arm]
        self.Href[:, n] = hr[rows, arm]
        if v is not None:
            row = v[rows, :, arm]                                             # [B, n]
            self.L[:, n, :n] = row
            pivot = diag[rows, arm] + c - (row * row).sum(-1)
        else:
            pivot = diag[rows, arm] + c
        self.L[:, n, n] = pivot.clamp_min(c * 1e-12).sqrt()

    # --- one round ----------------------------------------------------------------------------------
    def gammas(self, t: int) -> torch.Tensor:
        """``[B]`` exploration scales of round ``t`` (0-based)."""
        if self.spec.scale == "fixed":
            return self.gamma
        out = []
        for b in range(self.B):
            logdet = float(sum(torch.log(u[b] / (self.m * self.lam[b])).sum() for u in self.U))
            out.append(theory_gamma(t + 1, width=self.m, layers=2, lam=float(self.lam[b]), logdet_ratio=logdet,
                                    steps=self.theory_J[b], step_size=self.theory_eta[b], constants=self.theory))
        return torch.tensor(out, dtype=torch.float64, device=self.device)

    def play(self, t: int) -> dict:
        """Play round ``t`` for every model: choose, observe, update, maybe train. Returns per-model ``[B]``
        regret, reward, prediction error of the pulled arm, predictive variance (``γ²s² + σ²``; NaN without a
        posterior) and the γ used."""
        spec, rows, bandit = self.spec, self.rows, self.bandit
        x = bandit.contexts(t).to(self.device)                                      # [B, K, D]
        nan = torch.full((self.B,), float("nan"), dtype=torch.float64, device=self.device)
        if spec.rule == "random":
            arm = torch.tensor([int(torch.randint(self.K, (1,), generator=g)) for g in self.generators],
                               device=self.device)
            mean, var, gamma, pending = torch.zeros(self.B, self.K, dtype=torch.float64), None, nan, None
        else:
            active, hidden = self._hidden(x)
            mean = torch.bmm(hidden, self.w2[:, :, None])[..., 0] + self.b2[:, None]          # [B, K]
            if not bool(torch.isfinite(mean).all()):
                raise FloatingPointError(f"Round {t}: predictions are not finite (training diverged at lr = "
                                         f"{spec.lr:g}); lower the learning rate.")
            gamma, var, pending = nan, None, None
            score = mean
            if spec.rule in ("ucb", "ts"):
                var, pending = self.variances(x, active, hidden)
                gamma = self.gammas(t)
                width = gamma[:, None] * var.sqrt()
                if spec.rule == "ucb":
                    score = mean + width
                else:
                    xi = torch.stack([torch.randn(self.K, generator=g, dtype=torch.float64) for g in self.generators])
                    score = mean + width * xi.to(self.device)
            arm = score.argmax(1)
            if spec.posterior == "neural" and spec.rule in ("ucb", "ts"):
                # U += g² of the pulled arm (for the paper's form U = m·diag(Z) = mλ + Σ g², see __init__)
                a1, h1, x1 = active[rows, arm][:, None], hidden[rows, arm][:, None], x[rows, arm][:, None]
                self._add_diagonal(self.U, x1, a1, h1)
        reward = bandit.rewards[:, t].to(self.device)[rows, arm]
        best = bandit.means[:, t].to(self.device)
        regret = best.max(1).values - best[rows, arm]
        error = reward - mean[rows, arm]
        if var is not None:
            predictive = gamma ** 2 * var[rows, arm] + (self.noise if spec.posterior != "neural" else 0.0)
        else:
            predictive = nan
        if spec.rule in ("ucb", "ts") and spec.posterior != "neural":
            self._observe_laplace(x, arm, pending)
        self.X[:, self.n] = x[rows, arm]
        self.R[:, self.n] = reward
        self.n += 1
        steps = torch.zeros(self.B, dtype=torch.float64, device=self.device)
        if spec.trains_after(self.n):
            steps = self.train()
            self.trainings += 1
            if spec.rule in ("ucb", "ts") and spec.posterior != "neural" and \
                    (self.trainings - 1) % spec.refresh_every == 0:
                self.refresh()
        return {"regret": regret, "reward": reward, "error": error, "predictive": predictive, "gamma": gamma,
                "steps": steps, "arm": arm}

    def _observe_laplace(self, x, arm, pending) -> None:
        rows = self.rows
        post = self.spec.posterior
        if post == "laplace-diagonal":
            x1 = x[rows, arm][:, None]
            a1, h1 = self._hidden(x1)
            self._add_diagonal(self.G, x1, a1, h1)
        elif post == "laplace-last-layer":
            psi = pending[rows, arm]
            self.S += psi[:, :, None] * psi[:, None, :]
        else:
            self._append_full(arm, pending)

    # --- training -----------------------------------------------------------------------------------
    def train(self) -> torch.Tensor:
        """One training phase on the ``n`` rounds so far (module doc). Returns the steps each model took ``[B]``.

        One SGD step of all models is a handful of batched tensor operations with closed-form gradients (for a
        mini-batch ``x`` ``[B, bs, D]``: ``pre = xW₁ᵀ + b₁``, ``f = relu(pre)·w₂ + b₂``, ``δ = 2(f − r)/bs``,
        ``∂W₁ᵀ = xᵀ(δw₂ᵀ ⊙ 1[pre > 0])``, …); all parameters are updated at once through their flat rows
        :attr:`theta`. A model whose epoch loss reached the tolerance leaves the batch (its parameters stay), so
        the others' steps cost only what they need; epoch losses are accumulated only while a tolerance check can
        still come within ``max_steps``."""
        spec, n, B = self.spec, self.n, self.B
        bs = min(spec.batch_size, n)
        epoch = math.ceil(n / bs)
        total = spec.max_steps * bs
        order = []
        for g in self.generators:  # shuffled epochs, per model
            reps = math.ceil(total / n)
            order.append(torch.cat([torch.randperm(n, generator=g) for _ in range(reps)])[:total])
        index = torch.stack(order).view(B, spec.max_steps, bs).to(self.device)
        if spec.evidence == "online" and spec.posterior != "neural" and spec.rule in ("ucb", "ts") and self.trainings:
            self.weight_decay = 2 * self.alpha * self.noise / n
        D, m, lr = self.D, self.m, spec.lr
        steps = torch.zeros(B, dtype=torch.float64, device=self.device)
        live = self.rows                            # the models still training, and their parameters [b, P]
        theta, wd = self.theta, self.weight_decay[:, None]
        checked = (spec.max_steps // epoch) * epoch  # steps up to the last tolerance check
        block = max(1, _GATHER_ELEMENTS // (B * bs * D))   # mini-batches gathered at once
        threshold_backward = torch.ops.aten.threshold_backward
        since, s = 0, 0                              # steps since the last change of `live`
        while s < spec.max_steps:
            b = len(live)
            W1t = theta[:, :(D + 1) * m].view(b, D + 1, m)     # [W₁ᵀ; b₁] [b, D + 1, m]
            w2 = theta[:, None, (D + 1) * m:-1]                # [b, 1, m]
            b2 = theta[:, -1:]                      # [b, 1]
            running = torch.zeros(b, dtype=torch.float64, device=self.device)
            changed = False
            while s < spec.max_steps and not changed:
                if s % block == 0 or since == 0:     # the next mini-batches, inputs with a 1 appended (for b₁)
                    first, rows = s, live[:, None, None]
                    batch = index[live, s:s - s % block + block]
                    xs, rs = self.X[rows, batch], self.R[rows, batch]                    # [b, k, bs, D], [b, k, bs]
                    ones = torch.ones(*xs.shape[:3], 1, dtype=xs.dtype, device=xs.device)
                    xts = torch.cat([xs, ones], dim=3).transpose(2, 3).contiguous()     # [b, k, D + 1, bs]
                    xs = torch.cat([xs, ones], dim=3)                                   # [b, k, bs, D + 1]
                x, xt, r = xs[:, s - first], xts[:, s - first], rs[:, s - first]
                pre = torch.bmm(x, W1t)                                                  # [b, bs, m]
                hid = torch.relu(pre)
                err = torch.linalg.vecdot(hid, w2) + b2 - r                              # [b, bs]
                if s < checked:
                    running += (err * err).mean(1)
                delta = (2.0 / bs) * err
                dh = threshold_backward(delta[:, :, None] * w2, pre, 0)                  # ∂loss/∂pre
                grad = torch.cat([torch.bmm(xt, dh).view(b, -1), torch.bmm(delta[:, None, :], hid)[:, 0],
                                  delta.sum(1, keepdim=True)], dim=1)                    # [∂W₁ᵀ; ∂b₁], ∂w₂, ∂b₂
                theta.sub_(lr * (grad + wd * theta))
                s, since = s + 1, since + 1
                if s % epoch == 0 and s <= checked:
                    keep = running / epoch > spec.tolerance
                    running.zero_()
                    changed = not bool(keep.all())
            steps[live] += since
            since = 0
            if not changed:
                break
            if theta is not self.theta:
                self.theta[live] = theta
            live, theta, wd = live[keep], theta[keep], wd[keep]
            if len(live) == 0:
                break
        if theta is not self.theta:
            self.theta[live] = theta
        bad = [name for name, p in (("W1", self.W1), ("b1", self.b1), ("w2", self.w2), ("b2", self.b2))
               if not bool(torch.isfinite(p).all())]
        if bad:
            raise FloatingPointError(f"Round {n - 1}: training made {bad} non-finite (diverged at lr = {spec.lr:g}); "
                                     "lower the learning rate.")
        return steps

    # --- Laplace refresh and evidence ---------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute the Laplace kernel at the trained θ* and update (α, σ²) by MacKay's fixed point."""
        n, post = self.n, self.spec.posterior
        x = self.X[:, :n]
        active, hidden = self._hidden(x)
        residual = torch.bmm(hidden, self.w2[:, :, None])[..., 0] + self.b2[:, None] - self.R[:, :n]
        rss = (residual * residual).sum(1)
        if post == "laplace-diagonal":
            u, x2, h2 = self._squared_gradients(x, active, hidden)
            self.G = [torch.bmm(u.transpose(1, 2), x2), u.sum(1), h2.sum(1),
                      torch.full((self.B,), float(n), dtype=torch.float64, device=self.device)]
            eig = torch.cat([g.reshape(self.B, -1) for g in self.G], dim=1)
            norm = sum((p * p).reshape(self.B, -1).sum(1) for p in (self.W1, self.b1, self.w2, self.b2))
            self._mackay(eig, rss, norm, n)
        elif post == "laplace-last-layer":
            psi = torch.cat([hidden, torch.ones_like(hidden[..., :1])], dim=-1)
            self.S = torch.bmm(psi.transpose(1, 2), psi)
            eig = torch.linalg.eigvalsh(self.S).clamp_min(0.0)
            norm = (self.w2 * self.w2).sum(1) + self.b2 * self.b2
            self._mackay(eig, rss, norm, n)
        else:
            self.ref = (self.W1.clone(), self.b1.clone(), self.w2.clone())
            self.Aref[:, :n], self.Href[:, :n] = active, hidden
            kernel = self._kernel(x, active, hidden, x, active, hidden, self.w2)
            norm = sum((p * p).reshape(self.B, -1).sum(1) for p in (self.W1, self.b1, self.w2, self.b2))
            eye = torch.eye(n, dtype=torch.float64, device=self.device)
            for _ in range(self.spec.evidence_iterations if n <= 64 else 1):
                c = self.alpha * self.noise
                chol = torch.linalg.cholesky(kernel + c[:, None, None] * eye)
                inverse = torch.linalg.solve_triangular(chol, eye.expand(self.B, n, n), upper=False)
                effective = n - c * (inverse * inverse).sum((1, 2))
                self._set_hyper(effective, rss, norm, n)
            c = self.alpha * self.noise
            self.L[:, :n, :n] = torch.linalg.cholesky(kernel + c[:, None, None] * eye)

    def _set_hyper(self, effective, rss, norm, n) -> None:
        # A diagonal GGN counts up to P effective parameters although the Jacobian has rank <= n: cap at n - 1/2.
        effective = effective.clamp(max=n - 0.5)
        lo, hi = 1e-8, 1e8
        self.alpha = (effective / norm.clamp_min(1e-300)).clamp(lo, hi)
        self.noise = (rss / (n - effective).clamp_min(1e-12)).clamp(lo, hi)

    def _mackay(self, eig: torch.Tensor, rss: torch.Tensor, norm: torch.Tensor, n: int) -> None:
        """MacKay's fixed point ``α = γ/‖θ‖²``, ``σ² = RSS/(n − γ)``, ``γ = Σ_j (e_j/σ²)/(α + e_j/σ²)``."""
        for _ in range(self.spec.evidence_iterations):
            ratio = eig / self.noise[:, None]
            effective = (ratio / (self.alpha[:, None] + ratio)).sum(1)
            self._set_hyper(effective, rss, norm, n)


def run_batch(spec: BatchSpec, bandit: BanditBatch, lams: list[float], gammas: list[float], seeds: list[int], *,
              device: torch.device | str = "cpu") -> dict:
    """Play all ``B`` agents for the bandit's horizon. Returns tensors per model:

    ``regret`` ``[B, T]`` per-round (expected) regret; ``arms`` ``[B, T]``; ``z`` ``[B, T]`` z-scores
    ``(r − f)/√(γ²s² + σ²)`` of the pulled arm's prediction error before training on it (NaN without a
    posterior); ``steps`` ``[B]`` mean training steps per round; ``gamma_T`` ``[B]`` the last γ;
    ``alpha``, ``noise`` ``[B]`` the last Laplace hyperparameters.
    """
    agents = BatchedAgents(spec, bandit, lams, gammas, seeds, device=device)
    regret, arms, z, steps, gamma = [], [], [], 0.0, None
    for t in range(bandit.horizon):
        out = agents.play(t)
        regret.append(out["regret"])
        arms.append(out["arm"])
        z.append(out["error"] / out["predictive"].sqrt())
        steps = steps + out["steps"]
        gamma = out["gamma"]
    return {"regret": torch.stack(regret, 1).cpu(), "arms": torch.stack(arms, 1).cpu(), "z": torch.stack(z, 1).cpu(),
            "steps": (steps / bandit.horizon).cpu() if torch.is_tensor(steps) else torch.zeros(len(seeds)),
            "gamma_T": gamma.cpu(), "alpha": agents.alpha.cpu(), "noise": agents.noise.cpu(),
            "weight_decay": agents.weight_decay.cpu()}
