"""The in-memory dataset type every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.validation import check_tensor


@dataclass(frozen=True)
class TensorData:
    """A labelled dataset held in memory.

    Attributes:
        name: e.g. ``"mnist/train"``.
        x: images ``[N, C, H, W]`` as ``uint8`` (0–255), or tabular features ``[N, D]`` as float32.
        y: integer labels ``[N]`` (``int64``, ``0 .. num_classes - 1``).
        classes: the class names, index = label.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        check_tensor(f"{self.name}: x", self.x)
        check_tensor(f"{self.name}: y", self.y, ndim=1, floating=False)
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"{self.name}: {self.x.shape[0]} inputs but {self.y.shape[0]} labels.")
        k = len(self.classes)
        if k and self.y.numel() and (int(self.y.min()) < 0 or int(self.y.max()) >= k):
            raise ValueError(f"{self.name}: labels must lie in 0..{k - 1} ({k} classes), found "
                             f"{int(self.y.min())}..{int(self.y.max())}; the labels or the class list are wrong.")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def features(self, dtype: torch.dtype = torch.float32, *, flatten: bool = False) -> torch.Tensor:
        """Inputs as floating point: images scaled to ``[0, 1]``; optionally flattened to ``[N, D]``."""
        x = self.x.to(dtype) / 255.0 if self.x.dtype == torch.uint8 else self.x.to(dtype)
        return x.reshape(len(self), -1) if flatten else x

    def subset(self, index: torch.Tensor, name: str | None = None) -> TensorData:
        """The samples at ``index`` (a 1-D index or boolean mask)."""
        return TensorData(name or self.name, self.x[index], self.y[index], self.classes)
