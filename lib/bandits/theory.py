"""NeuralUCB's exploration parameter γ_t from kernel-regime theory (Zhou et al. 2020, Algorithm 1).

With width ``m``, ``L`` layers (``L = depth + 1``), regularization ``λ``, noise scale ``ν``,
confidence ``δ``, norm bound ``S``, step size ``η`` and ``J`` gradient steps,

    γ_t = √(1 + C₁ m^{−1/6} √(log m) L⁴ t^{7/6} λ^{−7/6})
          · ( ν √( log(det Z_t / det λI) + C₂ m^{−1/6} √(log m) L⁴ t^{5/3} λ^{−1/6} − 2 log δ ) + √λ S )
          + (λ + C₃ t L) [ (1 − ηmλ)^{J/2} √(t/λ) + m^{−1/6} √(log m) L^{7/2} t^{5/3} λ^{−5/3} (1 + √(t/λ)) ].

``C₁, C₂, C₃`` are absolute constants the analysis does not specify; the theory also asks for
``η ≤ C₄ (T m L + m λ)⁻¹``. :class:`TheoryConstants` holds the values we use (all stated in the
chapter). Nothing here depends on the data except ``log det Z_t/det λI``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TheoryConstants:
    """The constants of γ_t. ``C4`` fixes ``η = C4 / (T m L + m λ)``, the theory's step size."""

    C1: float = 1.0
    C2: float = 1.0
    C3: float = 1.0
    C4: float = 1.0
    nu: float = 1.0
    delta: float = 0.1
    S: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def theory_step_size(horizon: int, width: int, layers: int, lam: float, constants: TheoryConstants) -> float:
    """``η = C4 / (T m L + m λ)``, the largest step size Zhou et al.'s analysis allows (up to C4)."""
    return constants.C4 / (horizon * width * layers + width * lam)


def theory_gamma(t: int, *, width: int, layers: int, lam: float, logdet_ratio: float, steps: int,
                 step_size: float, constants: TheoryConstants = TheoryConstants()) -> float:
    """γ_t of the module doc for round ``t ≥ 1``.

    Args:
        width: ``m``; layers: ``L`` (hidden layers + 1); lam: ``λ``.
        logdet_ratio: ``log(det Z_t / det λI)`` of the agent's current ``Z``.
        steps: ``J``, gradient steps per training; step_size: ``η`` (needs ``0 < ηmλ < 1``).
    """
    if t < 1 or width < 2 or layers < 2 or lam <= 0:
        raise ValueError(f"Need t >= 1, m >= 2, L >= 2 and λ > 0; got t={t}, m={width}, L={layers}, λ={lam}.")
    contraction = 1.0 - step_size * width * lam
    if not 0.0 <= contraction < 1.0:
        raise ValueError(f"γ_t needs 0 < η m λ <= 1 (η = {step_size:g}, m = {width}, λ = {lam:g}); use "
                         "theory_step_size() for the step size the analysis prescribes.")
    c = constants
    m, L = float(width), float(layers)
    small = m ** (-1.0 / 6.0) * math.sqrt(math.log(m))
    first = math.sqrt(1.0 + c.C1 * small * L ** 4 * t ** (7 / 6) * lam ** (-7 / 6))
    inner = logdet_ratio + c.C2 * small * L ** 4 * t ** (5 / 3) * lam ** (-1 / 6) - 2.0 * math.log(c.delta)
    confidence = c.nu * math.sqrt(max(inner, 0.0)) + math.sqrt(lam) * c.S
    optimisation = (contraction ** (steps / 2) * math.sqrt(t / lam)
                    + small * L ** 3.5 * t ** (5 / 3) * lam ** (-5 / 3) * (1.0 + math.sqrt(t / lam)))
    return first * confidence + (lam + c.C3 * t * L) * optimisation


def theorem_steps(horizon: int, *, layers: int, lam: float, constants: TheoryConstants = TheoryConstants()) -> int:
    """``J`` of Zhou et al.'s Theorem 4.5: ``J = (2TL/(C₄λ))·log((√T λ + C₃T^{3/2}L)/(λS))``, rounded up.

    With the theory's step size, ``(1 − ηmλ)^{J/2} ≈ exp(−C₄λJ/(2TL))`` equals ``λS/(√Tλ + C₃T^{3/2}L)``,
    so the optimisation term ``(λ + C₃TL)(1 − ηmλ)^{J/2}√(T/λ)`` of γ_T shrinks to about ``√λ S``. (The
    theorem prints the logarithm of the reciprocal ratio with the opposite sign; this is the positive ``J``.)
    """
    if horizon < 1 or layers < 2 or lam <= 0:
        raise ValueError(f"Need T >= 1, L >= 2 and λ > 0; got T={horizon}, L={layers}, λ={lam}.")
    c = constants
    ratio = (math.sqrt(horizon) * lam + c.C3 * horizon ** 1.5 * layers) / (lam * c.S)
    return max(1, math.ceil(2 * horizon * layers / (c.C4 * lam) * math.log(max(ratio, 1.0 + 1e-12))))
