"""Small validators shared by the public entry points of ``lib``.

Every error names the argument, shows the value received (and its type) and says how to fix
it, e.g. ``width must be a positive integer, got 12.5 (float); pass an int such as 12.``
Each validator returns the value (converted where that is lossless: a NumPy integer to ``int``,
a real number to ``float``) so a caller can write ``width = check_positive_int("width", width)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch


def describe(value: object) -> str:
    """``value`` with its type, for error messages: ``12.5 (float)``, ``tensor of shape (3,) float32``."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype} on {value.device}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None,
              example: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]``; ``TypeError`` for floats, strings and bools."""
    if maximum is not None:
        what = f"an integer in [{minimum if minimum is not None else '-inf'}, {maximum}]"
    else:
        what = {1: "a positive integer", 0: "a non-negative integer"}.get(
            minimum, "an integer" if minimum is None else f"an integer >= {minimum}")
    sample = example if example is not None else (max(minimum, 1) if minimum is not None else 1)
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point() \
            and value.dtype != torch.bool:
        value = int(value)
    if not _is_int(value):
        hint = ""
        if isinstance(value, float) and math.isfinite(value):
            if minimum is None or int(value) >= minimum:
                sample = int(value)
            if value == int(value):
                hint = " (a config file may have stored it as a float)"
        raise TypeError(f"{name} must be {what}, got {describe(value)}{hint}; pass an int such as {sample}.")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {what}, got {value}; pass an int such as {sample}.")
    return value


def check_positive_int(name: str, value: object, *, example: int | None = None) -> int:
    """``value`` as an ``int >= 1``."""
    return check_int(name, value, minimum=1, example=example)


def check_nonnegative_int(name: str, value: object, *, example: int | None = None) -> int:
    """``value`` as an ``int >= 0``."""
    return check_int(name, value, minimum=0, example=example)


def check_optional_positive_int(name: str, value: object, *, example: int | None = None) -> int | None:
    """``None`` or an ``int >= 1``."""
    return None if value is None else check_int(name, value, minimum=1, example=example)


def check_real(name: str, value: object) -> float:
    """``value`` as a ``float`` (a Python/NumPy real or a one-element tensor); ``TypeError`` otherwise."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}; pass a float such as 0.1.")
    return float(value)


def check_finite(name: str, value: object, *, minimum: float | None = None, strict: bool = False,
                 maximum: float | None = None, allow_inf: bool = False, fix: str | None = None) -> float:
    """``value`` as a finite ``float`` (``allow_inf``: ``+inf`` allowed too) with optional bounds.

    ``strict=True`` makes ``minimum`` exclusive (``value > minimum``)."""
    x = check_real(name, value)
    if minimum == 0 and maximum is None:
        desc = "a positive number (> 0)" if strict else "a non-negative number (>= 0)"
    else:
        parts = []
        if minimum is not None:
            parts.append(f"{'>' if strict else '>='} {minimum:g}")
        if maximum is not None:
            parts.append(f"<= {maximum:g}")
        desc = "a number" + (" " + " and ".join(parts) if parts else "")
    advice = f"; {fix}" if fix else ""
    if math.isnan(x) or (math.isinf(x) and not (allow_inf and x > 0)):
        raise ValueError(f"{name} must be a finite {desc[2:]}, got {x!r}{advice or '; check how it was computed'}.")
    if (minimum is not None and (x <= minimum if strict else x < minimum)) or (maximum is not None and x > maximum):
        raise ValueError(f"{name} must be {desc}, got {x!r}{advice}.")
    return x


def check_positive(name: str, value: object, *, fix: str | None = None) -> float:
    """A finite ``float > 0``."""
    return check_finite(name, value, minimum=0.0, strict=True, fix=fix)


def check_nonnegative(name: str, value: object, *, fix: str | None = None) -> float:
    """A finite ``float >= 0``."""
    return check_finite(name, value, minimum=0.0, fix=fix)


def check_probability(name: str, value: object) -> float:
    """A ``float`` in ``[0, 1]``."""
    return check_finite(name, value, minimum=0.0, maximum=1.0, fix="pass a fraction such as 0.05 (not a percentage)")


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Unknown {name} {describe(value)}; use one of {', '.join(map(repr, choices))} "
                         f"(valid: {', '.join(choices)}).")
    return value


def check_tensor(name: str, t: object, *, ndim: int | Sequence[int] | None = None,
                 dtype: torch.dtype | None = None, floating: bool | None = None,
                 device: torch.device | str | None = None, finite: bool = False,
                 nonempty: bool = False, shape: Sequence[int | None] | None = None) -> torch.Tensor:
    """Check a tensor argument; every failure names ``name``, what was received and the fix.

    Args:
        ndim: required number of dimensions (or a tuple of allowed ones).
        dtype: required dtype; floating: require a floating-point (``True``) or integer (``False``) dtype.
        device: required device; finite: no NaN or infinity (floating tensors only);
        nonempty: at least one element along the first axis;
        shape: required shape, ``None`` entries match any size.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {describe(t)}; convert it with torch.as_tensor(...).")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.dim() not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape "
                             f"{tuple(t.shape)}; reshape it (e.g. unsqueeze/flatten).")
    if shape is not None:
        if t.dim() != len(shape) or any(s is not None and s != a for s, a in zip(shape, t.shape)):
            want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
            raise ValueError(f"{name} must have shape {want}, got {tuple(t.shape)}.")
    if nonempty and (t.dim() == 0 or t.shape[0] == 0):
        raise ValueError(f"{name} must hold at least one sample, got shape {tuple(t.shape)}.")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {t.dtype}; use {name}.to({dtype}).")
    if floating is True and not t.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {t.dtype}; convert it with {name}.float() "
                        "(images stored as uint8: .float() / 255).")
    if floating is False and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
        raise TypeError(f"{name} must hold integers (e.g. class labels), got dtype {t.dtype}; use {name}.long().")
    if device is not None and t.device != torch.device(device):
        raise ValueError(f"{name} is on {t.device} but must be on {torch.device(device)}; use {name}.to(...).")
    if finite and t.is_floating_point():
        check_all_finite(name, t)
    return t


def check_all_finite(name: str, t: torch.Tensor, *, fix: str = "") -> torch.Tensor:
    """Raise ``ValueError`` if the floating tensor ``t`` holds NaN or infinite entries (says how many and where)."""
    if t.is_floating_point() or t.is_complex():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            count = int(bad.sum())
            first = tuple(int(i) for i in bad.nonzero()[0].tolist())
            raise ValueError(f"{name} contains {count} NaN or infinite value(s) (first at index {first}); "
                             f"{fix or 'clean or impute them before calling'}.")
    return t
