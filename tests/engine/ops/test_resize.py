"""Resize and Upsample against ONNX Runtime: every coordinate mode x mode, opset forms.

Sizes are chosen so no output coordinate lands within an ulp of a rounding tie:
ORT's float division there is not always correctly rounded, so exact ties are
not reproducible bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op

RNG = np.random.default_rng(0)
EMPTY = np.zeros(0, np.float32)
COORDINATE_MODES = [
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
    "tf_crop_and_resize",
    "half_pixel_symmetric",
]
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _s(*values: float) -> np.ndarray:
    return np.array(values, np.float32)


def _z(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


TARGETS = {
    "up": {"sc": _s(1, 1, 2, 1.5)},
    "down": {"sc": _s(1, 1, 0.6, 0.5)},
    "sizes": {"sc": EMPTY, "sz": _z(1, 2, 8, 3)},
}


def _resize(mode: str, coord: str, target: str, **attrs) -> None:
    roi = _s(0, 0, 0.1, 0.2, 1, 1, 0.9, 1.1) if coord == "tf_crop_and_resize" else EMPTY
    opset = 19 if coord == "half_pixel_symmetric" else 13
    check_op(
        "Resize",
        {"x": _f(1, 2, 5, 7)},
        {"roi": roi, **TARGETS[target]},
        mode=mode,
        coordinate_transformation_mode=coord,
        extrapolation_value=-3.0,
        opset=opset,
        **attrs,
    )


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("coord", COORDINATE_MODES)
@pytest.mark.parametrize("nearest_mode", NEAREST_MODES)
def test_resize_nearest(coord, nearest_mode, target):
    _resize("nearest", coord, target, nearest_mode=nearest_mode)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("coord", COORDINATE_MODES)
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_linear_and_cubic(mode, coord, target):
    _resize(mode, coord, target)


@pytest.mark.parametrize("target", ["up", "down"])
@pytest.mark.parametrize("a", [-0.75, -0.5])
def test_resize_cubic_exclude_outside_and_coefficient(target, a):
    _resize("cubic", "half_pixel", target, exclude_outside=1, cubic_coeff_a=a)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [(1, 1, 2, 3), (1, 1, 0.5, 0.6)])
def test_resize_opset10(mode, scales):
    check_op("Resize", {"x": _f(1, 2, 5, 7)}, {"sc": _s(*scales)}, mode=mode, opset=10)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_opset11_scales_and_sizes(mode):
    x = _f(1, 2, 5, 7)
    check_op("Resize", {"x": x}, {"roi": EMPTY, "sc": _s(1, 1, 2, 1.5)}, mode=mode, opset=11)
    check_op(
        "Resize", {"x": x}, {"roi": EMPTY, "sc": EMPTY, "sz": _z(1, 2, 9, 3)}, mode=mode, opset=11
    )


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_runtime_scales_and_sizes(mode):
    x = _f(1, 2, 5, 7)
    check_op(
        "Resize",
        {"x": x, "sc": _s(1, 1, 2, 1.5)},
        {"roi": EMPTY},
        input_order=["x", "roi", "sc"],
        mode=mode,
    )
    check_op("Resize", {"x": x, "sz": _z(1, 2, 9, 3)}, input_order=["x", "", "", "sz"], mode=mode)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_opset18_axes_and_aspect_policy(mode):
    x = _f(1, 2, 5, 7)
    check_op(
        "Resize",
        {"x": x},
        {"sz": _z(9, 3)},
        input_order=["x", "", "", "sz"],
        axes=[2, 3],
        mode=mode,
        opset=18,
    )
    check_op(
        "Resize",
        {"x": x},
        {"sc": _s(2.0, 1.5)},
        input_order=["x", "", "sc"],
        axes=[-2, -1],
        mode=mode,
        opset=18,
    )
    for policy in ["not_larger", "not_smaller"]:
        check_op(
            "Resize",
            {"x": x},
            {"sz": _z(9, 9)},
            input_order=["x", "", "", "sz"],
            axes=[2, 3],
            keep_aspect_ratio_policy=policy,
            mode=mode,
            opset=18,
        )


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_crop_ignores_roi_on_unscaled_axes(mode):
    check_op(
        "Resize",
        {"x": _f(1, 2, 5, 7)},
        {"roi": _s(0, 0.3, 0.1, 0.2, 1, 0.9, 0.8, 1.2), "sc": _s(1, 1, 1, 1.5)},
        mode=mode,
        coordinate_transformation_mode="tf_crop_and_resize",
    )


def test_resize_other_ranks_and_dtypes():
    check_op(
        "Resize",
        {"x": _f(2, 3, 4, 5, 6)},
        {"roi": EMPTY, "sc": _s(1, 1, 2, 1.5, 0.5)},
        mode="linear",
    )
    check_op("Resize", {"x": _f(2, 3, 4, 5, 6)}, {"roi": EMPTY, "sc": _s(1, 2, 2, 1.5, 0.5)})
    check_op("Resize", {"x": _f(3, 5)}, {"roi": EMPTY, "sc": _s(2, 1.5)}, mode="linear")
    x = np.arange(24, dtype=np.uint8).reshape(1, 1, 4, 6)
    check_op("Resize", {"x": x}, {"roi": EMPTY, "sc": _s(1, 1, 2, 2)})


@pytest.mark.parametrize("scales", [(1, 1, 2, 3), (1, 1, 2, 1), (1, 1, 1, 2), (1, 3, 2, 1)])
@pytest.mark.parametrize("coord", ["asymmetric", "half_pixel"])
def test_resize_integer_nearest_upsampling_fast_path(coord, scales):
    (y,) = check_op(
        "Resize",
        {"x": _f(1, 4, 6, 5)},
        {"roi": EMPTY, "sc": _s(*scales)},
        mode="nearest",
        nearest_mode="floor",
        coordinate_transformation_mode=coord,
    )
    assert y.flags.c_contiguous


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_opset7_and_opset9(mode):
    x = _f(1, 2, 5, 7)
    check_op("Upsample", {"x": x}, mode=mode, scales=[1.0, 1.0, 2.0, 3.0], opset=7)
    check_op("Upsample", {"x": x}, {"sc": _s(1, 1, 2, 1.5)}, mode=mode, opset=9)
    check_op("Upsample", {"x": x, "sc": _s(1, 1, 3, 2)}, mode=mode, opset=9)


def test_resize_antialias_is_refused():
    from workbench.engine.graph import Node
    from workbench.engine.ops.registry import OpContext, prepare
    from workbench.errors import ModelError

    node = Node("r", "Resize", ("x", "", "sc"), ("y",), {"antialias": 1, "mode": "linear"})
    with pytest.raises(ModelError, match="antialias"):
        prepare(OpContext(node=node, opset=18))


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_to_the_same_shape_copies_whatever_the_scales(mode):
    # 2 * 1.25 floors to 2: ORT then returns the input unchanged.
    check_op(
        "Resize",
        {"x": _f(1, 2, 2, 4)},
        {"roi": EMPTY, "sc": _s(1, 1, 1.25, 1)},
        mode=mode,
        coordinate_transformation_mode="asymmetric",
    )


def _random_resize_case(rng: np.random.Generator, modes: list[str]) -> tuple[dict, dict, dict]:
    coords = [c for c in COORDINATE_MODES if c != "tf_half_pixel_for_nn"]
    mode, coord = str(rng.choice(modes)), str(rng.choice(coords))
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    roi = EMPTY
    if coord == "tf_crop_and_resize":
        lo, hi = rng.uniform(-0.2, 0.4, 2), rng.uniform(0.6, 1.2, 2)
        roi = _s(0, 0, *lo, 1, 1, *hi)
    # Scales that are exact in binary keep nearest-mode ties reproducible.
    scales = [float(rng.choice([0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0])) for _ in range(2)]
    h, w = max(h, 2), max(w, 2)
    consts = {"roi": roi, "sc": _s(1, 1, *scales)}
    if mode != "nearest" and rng.random() < 0.5:
        consts = {
            "roi": roi,
            "sc": EMPTY,
            "sz": _z(1, 2, int(rng.integers(1, 12)), int(rng.integers(1, 12))),
        }
    attrs = {"mode": mode, "coordinate_transformation_mode": coord, "extrapolation_value": -1.5}
    if mode == "cubic" and rng.random() < 0.5:
        attrs["exclude_outside"] = 1
    if mode == "nearest":
        attrs["nearest_mode"] = str(rng.choice(NEAREST_MODES))
    return {"x": rng.standard_normal((1, 2, h, w)).astype(np.float32)}, consts, attrs


@pytest.mark.parametrize("seed", range(50))
def test_resize_random_geometry(seed):
    inputs, consts, attrs = _random_resize_case(
        np.random.default_rng(seed), ["nearest", "linear", "cubic"]
    )
    check_op("Resize", inputs, consts, opset=19, atol=1e-4, **attrs)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_resize_linear_integers_blend_in_float_and_truncate(dtype):
    # ORT truncates the blended value; its bilinear sums in another order, so a value
    # a hair under an integer can land one lower there: compare with our float path.
    from workbench.engine.executor import Plan
    from workbench.engine.graph import Graph, Node, TensorInfo

    info = np.iinfo(dtype)
    x = RNG.integers(info.min, info.max, (1, 2, 5, 7)).astype(dtype)
    graph = Graph(
        "r",
        [TensorInfo("x", x.shape, x.dtype.name)],
        [TensorInfo("y", ())],
        [Node("r", "Resize", ("x", "roi", "sc"), ("y",), {"mode": "linear"})],
        params={"roi": EMPTY, "sc": _s(1, 1, 2, 1.5)},
    )
    y = Plan(graph).run({"x": x})["y"]
    y_float = Plan(graph).run({"x": x.astype(np.float32)})["y"]
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.trunc(y_float).astype(dtype))
