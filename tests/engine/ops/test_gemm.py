"""Gemm, MatMul and Einsum against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op

RNG = np.random.default_rng(0)


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [None, (), (5,), (1, 5), (3, 1), (3, 5)])
@pytest.mark.parametrize("const_b", [True, False])
def test_gemm(trans_a, trans_b, c_shape, const_b):
    a = _f(4, 3) if trans_a else _f(3, 4)
    b = _f(5, 4) if trans_b else _f(4, 5)
    inputs, consts = {"a": a}, {}
    (consts if const_b else inputs)["b"] = b
    if c_shape is not None:
        consts["c"] = _f(*c_shape)
    order = ["a", "b", "c"] if c_shape is not None else ["a", "b"]
    check_op(
        "Gemm",
        inputs,
        consts,
        input_order=order,
        transA=trans_a,
        transB=trans_b,
        alpha=0.75,
        beta=1.5,
    )


def test_gemm_defaults_runtime_c_and_zero_beta():
    check_op("Gemm", {"a": _f(2, 6), "b": _f(6, 3), "c": _f(3)})
    check_op("Gemm", {"a": _f(2, 6)}, {"b": _f(6, 3), "c": _f(2, 3)}, beta=0.0)
    check_op("Gemm", {"a": _f(1, 64)}, {"b": _f(10, 64), "c": _f(10)}, transB=1, atol=1e-4)


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 6)),
        ((4,), (4, 5)),
        ((2, 3, 4), (4,)),
        ((4,), (4,)),
        ((1, 4), (3, 4, 2)),
    ],
)
@pytest.mark.parametrize("const_b", [True, False])
def test_matmul(a_shape, b_shape, const_b):
    a, b = _f(*a_shape), _f(*b_shape)
    if const_b:
        check_op("MatMul", {"a": a}, {"b": b})
    else:
        check_op("MatMul", {"a": a, "b": b})


def test_matmul_transformer_projection_is_one_gemm_and_contiguous():
    (y,) = check_op("MatMul", {"a": _f(2, 16, 64)}, {"b": _f(64, 32)}, atol=1e-4)
    assert y.flags.c_contiguous and y.shape == (2, 16, 32)


@pytest.mark.parametrize(
    ("equation", "shapes"),
    [
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("bhid,bhjd->bhij", [(1, 2, 5, 8), (1, 2, 6, 8)]),
        ("bij,jk,kl->bil", [(2, 3, 4), (4, 5), (5, 6)]),
        ("ij->ji", [(3, 4)]),
        ("ii", [(3, 3)]),
        ("ii->i", [(4, 4)]),
        ("...ij->...ji", [(2, 3, 4, 5)]),
        ("ij, jk", [(2, 3), (3, 4)]),
        ("ij,jk->", [(2, 3), (3, 4)]),
        ("i,j->ij", [(3,), (4,)]),
    ],
)
def test_einsum(equation, shapes):
    inputs = {f"x{i}": _f(*s) for i, s in enumerate(shapes)}
    (y,) = check_op("Einsum", inputs, equation=equation)
    assert y.flags.c_contiguous


def test_einsum_constant_operand():
    check_op("Einsum", {"x": _f(2, 3, 4)}, {"w": _f(4, 5)}, equation="bij,jk->bik")
