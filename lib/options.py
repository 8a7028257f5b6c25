"""Named options as documented string enums.

Every option of ``lib`` that used to be a bare string from a tuple (``MODES``, ``METHODS``,
``EXPLORATIONS``, ``BUDGETS``, ...) is a subclass of :class:`Option`, a ``str`` enum:

* a member **is** its string (``Mode.TRACE == "trace"``, ``f"{Mode.TRACE}" == "trace"``, same hash),
  so functions keep accepting plain strings and JSON configs and cache keys keep plain strings;
* each member carries a one-line meaning in ``member.__doc__`` (``Mode.TRACE.__doc__``), defined
  next to the value: ``TRACE = "trace", "the sum over outputs ..."``;
* :meth:`Option.parse` (or simply ``Mode(value)``) converts a string and raises ``ValueError``
  listing the valid values otherwise, e.g. ``Unknown mode 'x'; use one of 'full', 'trace',
  'diagonal' (valid: full, trace, diagonal).``

The old tuple names stay as aliases (``MODES == ("full", "trace", "diagonal")``, from
:meth:`Option.values`). Options shared by several subpackages live here (:class:`Loss`).
"""

from __future__ import annotations

import enum
import re
from typing import Any, TypeVar

__all__ = ["Option", "Loss"]

O = TypeVar("O", bound="Option")


class Option(str, enum.Enum):
    """Base class of the book's option enums (module docstring). Members are ``VALUE = "value", "meaning"``."""

    def __new__(cls, value: str, doc: str = "") -> Option:
        member = str.__new__(cls, value)
        member._value_ = value
        member.__doc__ = doc
        return member

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def label(cls) -> str:
        """What one value is called in error messages: the class name in words (``TaskBudget`` → ``task budget``)."""
        return re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The valid strings, in definition order."""
        return tuple(str(member.value) for member in cls)

    @classmethod
    def parse(cls: type[O], value: Any, *, name: str | None = None) -> O:
        """``value`` as a member of this enum.

        Args:
            value: a member or its string.
            name: what the argument is called in the error message (default :meth:`label`).

        Raises:
            ValueError: ``value`` is not one of :meth:`values`; the message lists them.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls._value2member_map_[value]  # type: ignore[return-value]
        valid = cls.values()
        raise ValueError(f"Unknown {name or cls.label()} {value!r}; use one of {', '.join(map(repr, valid))} "
                         f"(valid: {', '.join(valid)}).")

    @classmethod
    def _missing_(cls, value: object) -> Option:
        return cls.parse(value)  # raises ValueError listing the valid values


class Loss(Option):
    """Training losses, as means over samples (:func:`lib.training.training_loss`)."""

    MSE = "mse", "squared error ½‖f(x) − y‖² summed over outputs; targets are float [N, K]"
    CROSS_ENTROPY = "cross_entropy", "softmax cross-entropy of the logits [N, K]; targets are int64 labels [N]"
