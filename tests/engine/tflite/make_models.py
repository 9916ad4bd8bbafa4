"""Build small Keras / tf.function models, convert them with TensorFlow's TFLiteConverter, and
record the TFLite interpreter's outputs: the reference the TFLite import tests compare with.

Run as a script (``python make_models.py OUTDIR [--samples N] [--compressed] [NAME ...]``)
so TensorFlow is imported in this process only, never in pytest's. For every model and variant it writes
``OUTDIR/<name>_<variant>.tflite`` and ``OUTDIR/<name>_<variant>.npz`` holding, per
sample ``k``, ``feed_<k>_<i>`` (the float32 value of input ``i`` as our float-interface
container takes it: the dequantized codes for an int8 input) and ``ref_<k>_<j>`` (output
``j`` as the interpreter returns it), plus ``index.json`` describing inputs and outputs
(names, dtypes, quantization). Variants: ``float``; ``int8`` (full integer, int8 input
and output); ``int8f`` (full integer inside, float input and output).

The interpreter runs TFLite's builtin kernels without the default XNNPACK delegate.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

SAMPLES = 3  # inputs compared per model
CALIBRATION = 16


def _keras():
    import keras
    from keras import layers

    return keras, layers


def _randomize_bn(model) -> None:
    """Non-trivial BatchNormalization statistics, so folding is exercised."""
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                    rng.normal(0, 0.2, beta.shape).astype(np.float32),
                    rng.normal(0, 0.2, mean.shape).astype(np.float32),
                    rng.uniform(0.5, 1.5, var.shape).astype(np.float32),
                ]
            )


def conv():
    keras, layers = _keras()
    x = keras.Input((29, 31, 3), batch_size=1)  # odd sizes: SAME pads asymmetrically
    y = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    y = layers.Conv2D(8, 3, dilation_rate=2, padding="valid")(y)
    y = layers.Conv2D(6, 1, activation="relu")(y)
    return keras.Model(x, y)


def depthwise():
    keras, layers = _keras()
    x = keras.Input((16, 16, 4), batch_size=1)
    y = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu6")(x)  # fmt: skip
    y = layers.DepthwiseConv2D(5, padding="valid")(y)
    return keras.Model(x, y)


def dense():
    keras, layers = _keras()
    x = keras.Input((8, 8, 3), batch_size=1)
    y = layers.Conv2D(4, 3, padding="same")(x)
    y = layers.Flatten()(y)  # NHWC element order: the layout change must keep it
    y = layers.Dense(16, activation="relu")(y)
    y = layers.Dense(10)(y)
    return keras.Model(x, y)


def pool():
    keras, layers = _keras()
    x = keras.Input((15, 15, 8), batch_size=1)
    a = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    m = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    y = layers.Concatenate()([layers.Add()([a, m]), m])
    y = layers.Conv2D(4, 1)(y)
    return keras.Model(x, y)


def resize():
    keras, layers = _keras()
    x = keras.Input((6, 7, 4), batch_size=1)
    u = layers.UpSampling2D(2, interpolation="bilinear")(x)
    r = layers.Resizing(12, 14, interpolation="nearest")(x)
    y = layers.Concatenate()([u, r])
    y = layers.Conv2D(4, 1)(y)
    return keras.Model(x, y)


def activations():
    keras, layers = _keras()
    x = keras.Input((5, 5, 6), batch_size=1)
    y = layers.Conv2D(6, 1)(x)
    parts = [
        layers.Activation("hard_swish")(y),
        layers.Activation("sigmoid")(y),
        layers.Activation("tanh")(y),
        layers.LeakyReLU(0.1)(y),
        layers.ReLU(6.0)(y),
    ]
    y = layers.Concatenate()(parts)
    soft = layers.Softmax(axis=-1)(y)  # over channels: axis 1 once in NCHW
    mean = layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, [soft, mean])


def mobilenet():
    keras, layers = _keras()

    def block(y, expand, out, stride):
        skip = y
        y = layers.Conv2D(expand, 1, use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU(6.0)(y)
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU(6.0)(y)
        y = layers.Conv2D(out, 1, use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if stride == 1 and skip.shape[-1] == out:
            y = layers.Add()([skip, y])
        return y

    x = keras.Input((32, 32, 3), batch_size=1)
    y = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(6.0)(y)
    y = block(y, 48, 16, 1)
    y = block(y, 48, 24, 2)
    y = layers.Conv2D(32, 1)(y)
    y = layers.Activation("hard_swish")(y)
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dense(10, activation="softmax")(y)
    model = keras.Model(x, y)
    _randomize_bn(model)
    return model


def transpose_conv():
    keras, layers = _keras()
    x = keras.Input((5, 6, 4), batch_size=1)
    y = layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")(x)
    y = layers.Conv2DTranspose(2, 2, strides=2, padding="valid")(y)
    return keras.Model(x, y)


def functions():
    """Ops Keras layers do not produce: align_corners resizes, slices, transposes, pads."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    w = tf.constant(rng.normal(0, 0.3, (1, 1, 4, 4)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 6, 7, 4), tf.float32)])
    def fn(x):
        x = tf.nn.conv2d(x, w, 1, "SAME")  # NCHW inside: everything below crosses layouts
        a = tf.compat.v1.image.resize_bilinear(x, (11, 13), align_corners=True)
        b = tf.compat.v1.image.resize_nearest_neighbor(x, (12, 14), align_corners=True)
        c = tf.image.resize(x, (9, 10), "nearest")
        d = tf.transpose(x, (0, 2, 1, 3))[:, 1:6:2, ::-1, :]
        e = tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]], constant_values=0.0)
        f = tf.nn.softmax(tf.reduce_mean(x, axis=[1], keepdims=True), axis=-1)
        g = tf.reshape(tf.squeeze(tf.reduce_mean(x, axis=[1, 2], keepdims=True), [1]), (1, 4))
        return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g}

    return fn


MODELS = {
    "conv": conv,
    "depthwise": depthwise,
    "dense": dense,
    "pool": pool,
    "resize": resize,
    "activations": activations,
    "mobilenet": mobilenet,
    "transpose_conv": transpose_conv,
    "functions": functions,
}
# Variants per model (every model gets float and int8).
EXTRA_VARIANTS = {"mobilenet": ("int8f",), "functions": ("int8f",)}


def _converter(model):
    import tensorflow as tf

    if hasattr(model, "get_concrete_function"):
        return tf.lite.TFLiteConverter.from_concrete_functions(
            [model.get_concrete_function()], model
        )
    return tf.lite.TFLiteConverter.from_keras_model(model)


def _input_shapes(model) -> list[tuple[int, ...]]:
    if hasattr(model, "get_concrete_function"):
        return [tuple(s.shape) for s in model.input_signature]
    return [tuple(i.shape) for i in model.inputs]


def convert(model, variant: str) -> bytes:
    import tensorflow as tf

    conv = _converter(model)
    if variant != "float":
        shapes = _input_shapes(model)

        def representative():
            rng = np.random.default_rng(0)
            for _ in range(CALIBRATION):
                yield [rng.standard_normal(s).astype(np.float32) for s in shapes]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if variant == "int8":
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv.convert()


def _quant(detail: dict) -> list[float]:
    scale, zp = detail["quantization"]
    return [float(scale), int(zp)]


def reference(path: Path, samples: int) -> tuple[dict, dict[str, np.ndarray]]:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(
        str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
    index = {
        "inputs": [
            {"name": d["name"], "dtype": np.dtype(d["dtype"]).name, "quant": _quant(d)} for d in ins
        ],
        "outputs": [
            {"name": d["name"], "dtype": np.dtype(d["dtype"]).name, "quant": _quant(d)}
            for d in outs
        ],
    }
    arrays: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(100)
    for k in range(samples):
        for i, d in enumerate(ins):
            x = rng.standard_normal(d["shape"]).astype(np.float32)
            if d["dtype"] == np.int8:
                scale, zp = d["quantization"]
                q = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
                interpreter.set_tensor(d["index"], q)
                x = ((q.astype(np.float32) - zp) * np.float32(scale)).astype(np.float32)
            else:
                interpreter.set_tensor(d["index"], x)
            arrays[f"feed_{k}_{i}"] = x
        interpreter.invoke()
        for j, d in enumerate(outs):
            arrays[f"ref_{k}_{j}"] = interpreter.get_tensor(d["index"]).copy()
    return index, arrays


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "names", nargs="*", help=f"models to make (default: all of {', '.join(MODELS)})"
    )
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--compressed", action="store_true", help="for committed fixtures")
    parser.add_argument("--verbose", action="store_true", help="print a time per model")
    args = parser.parse_intermixed_args(argv)
    unknown = [n for n in args.names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    import keras

    keras.utils.set_random_seed(0)
    summary = {}
    started = time.perf_counter()
    save = np.savez_compressed if args.compressed else np.savez
    for name in args.names or list(MODELS):
        model = MODELS[name]()
        for variant in ("float", "int8", *EXTRA_VARIANTS.get(name, ())):
            stem = f"{name}_{variant}"
            path = args.out / f"{stem}.tflite"
            path.write_bytes(convert(model, variant))
            index, arrays = reference(path, args.samples)
            save(args.out / f"{stem}.npz", **arrays)
            summary[stem] = index
            if args.verbose:
                print(f"{stem}: {time.perf_counter() - started:.1f}s", flush=True)
    (args.out / "index.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"made {len(summary)} models in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
