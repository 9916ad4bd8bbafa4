"""Integer kernels: one small prepare function per operator, over quantized tensors.

The integer twin of ``workbench.engine.ops``. A quantized tensor at run time is a plain
uint8 / uint16 array; its ``Encoding`` is static, so a prepare function reads the node's
encodings from the ``IntContext`` and returns a kernel that closes over multipliers,
lookup tables and weight layouts, with the float registry's calling convention (every
input positionally, a tuple of outputs).

A prepare function raises ``NotInteger`` when a node's form has no integer kernel
(dynamic weights, a per-channel activation, a float input without encoding...); the
integer plan then runs that node as a float fallback and records it.

Modules: ``linear`` (Conv, Gemm, MatMul: exact accumulation), ``elementwise`` (Add, Sub,
Mul, Sum; Relu and Clip; lookup tables for every other one-input function),
``movement`` (data movement on the codes themselves, Pad, Concat), ``pool``
(AveragePool, GlobalAveragePool).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext
from workbench.engine.quant.encoding import (
    AnyEncoding,
    ChannelEncoding,
    Encoding,
)
from workbench.vocabulary import DEFAULT_ROUNDING


class NotInteger(Exception):
    """This node, in this form, has no integer kernel: run it as a float fallback."""


@dataclass(frozen=True)
class IntContext:
    """What an integer prepare function may know about a node before running it.

    ``op`` carries the constants as stored (quantized parameters as integers, shapes as
    int64); ``float_op`` the same node with every quantized constant dequantized, ready
    for a float kernel. ``in_encs`` / ``out_encs`` hold the encoding of each input (an
    activation's, or a parameter's) and output, ``None`` where a tensor is not quantized.
    ``rounding`` is the container's rounding mode: every quantization and requantization
    the kernel does rounds ties by it.
    """

    op: OpContext
    float_op: OpContext
    in_encs: tuple[AnyEncoding | None, ...]
    out_encs: tuple[Encoding | None, ...]
    rounding: str = DEFAULT_ROUNDING

    @property
    def node(self):
        return self.op.node

    def attr(self, name: str, default: Any = None) -> Any:
        return self.op.attr(name, default)

    def has_input(self, i: int) -> bool:
        return self.op.has_input(i)

    def const(self, i: int) -> np.ndarray | None:
        """Input ``i`` as stored, if it is a plan-time constant."""
        return self.op.const(i) if self.op.has_input(i) else None

    def in_enc(self, i: int) -> AnyEncoding | None:
        return self.in_encs[i] if i < len(self.in_encs) else None

    def act(self, i: int) -> Encoding:
        """The per-tensor encoding of input ``i``; ``NotInteger`` if it has none."""
        enc = self.in_enc(i)
        if not isinstance(enc, Encoding) or enc.bitwidth > 16:
            raise NotInteger(f"input {i} is not a per-tensor quantized tensor")
        return enc

    def out(self, i: int = 0) -> Encoding:
        enc = self.out_encs[i] if i < len(self.out_encs) else None
        if enc is None:
            raise NotInteger(f"output {i} has no encoding")
        return enc

    def weight(self, i: int) -> tuple[np.ndarray, AnyEncoding]:
        """A quantized constant input: stored integers and encoding."""
        q, enc = self.const(i), self.in_enc(i)
        if q is None or enc is None:
            raise NotInteger(f"input {i} is not a quantized constant")
        return q, enc


Prepare = Callable[[IntContext], Kernel]

_REGISTRY: dict[str, Prepare] = {}


def register_int(*op_types: str) -> Callable[[Prepare], Prepare]:
    """Register an integer ``prepare`` for each ONNX op type."""

    def wrap(fn: Prepare) -> Prepare:
        for op in op_types:
            if op in _REGISTRY:
                raise RuntimeError(f"integer operator {op} registered twice")
            _REGISTRY[op] = fn
        return fn

    return wrap


def integer_ops() -> frozenset[str]:
    """Op types with an integer kernel (some forms of them may still fall back)."""
    return frozenset(_REGISTRY)


def prepare_int(ictx: IntContext) -> Kernel:
    """The integer kernel for ``ictx.node``; ``NotInteger`` when there is none."""
    node = ictx.node
    fn = _REGISTRY.get(node.op_type)
    if fn is None or node.domain not in ("", "ai.onnx"):
        raise NotInteger(f"no integer kernel for {node.op_type}")
    return fn(ictx)


# -- helpers shared by the kernels ------------------------------------------------------


def zero_point(enc: Encoding) -> int:
    return -enc.offset


def reach(enc: Encoding) -> int:
    """The largest ``|q - zp|`` a code of ``enc`` can have."""
    zp = zero_point(enc)
    return max(zp - enc.qmin, enc.qmax - zp)


def centered(q: np.ndarray, enc: Encoding, dtype: type = np.float32) -> np.ndarray:
    """``q - zp`` as ``dtype`` (exact: codes and zero points are small integers)."""
    x = q.astype(dtype)
    zp = zero_point(enc)
    if zp:
        x -= dtype(zp)
    return x


def centered_param(q: np.ndarray, enc: AnyEncoding) -> np.ndarray:
    """A stored parameter as signed integers ``q + offset`` (int64), so ``x = that * delta``."""
    q = np.asarray(q, dtype=np.int64)
    if isinstance(enc, ChannelEncoding):
        shape = [1] * q.ndim
        shape[enc.axis] = len(enc)
        return q + enc.offset.reshape(shape)
    return q + enc.offset


def channel_deltas(enc: AnyEncoding, n: int) -> np.ndarray:
    """One delta per channel (float64, length ``n``) for a per-tensor or per-channel encoding."""
    if isinstance(enc, ChannelEncoding):
        if len(enc) != n:
            raise NotInteger(f"per-channel encoding has {len(enc)} channels, expected {n}")
        return np.asarray(enc.delta, dtype=np.float64)
    return np.full(n, enc.delta, dtype=np.float64)


def table_kernel(table: np.ndarray) -> Kernel:
    """A kernel looking every code up in ``table`` (one entry per code of the storage type)."""
    return lambda q, *_: (np.take(table, q),)


def code_range(enc: Encoding) -> np.ndarray:
    """Every storable code of ``enc`` (0..255 for uint8 storage, 0..65535 for uint16)."""
    return np.arange(np.iinfo(enc.dtype).max + 1, dtype=np.int64)


def _load() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


_load()

__all__ = [
    "IntContext",
    "NotInteger",
    "integer_ops",
    "prepare_int",
    "register_int",
]
