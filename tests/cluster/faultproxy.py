"""The fault proxy of the cluster tests; it lives in `samples.faultproxy`, where the
chaos run (`samples.chaos`) uses it too."""

from __future__ import annotations

from samples.faultproxy import Direction as Direction
from samples.faultproxy import FaultProxy as FaultProxy

__all__ = ("Direction", "FaultProxy")
