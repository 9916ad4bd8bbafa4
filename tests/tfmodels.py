"""Small Keras models built in code, saved in every form the TensorFlow importer reads.

TensorFlow is imported only when ``tf_models`` first runs (it takes seconds), and the
models are built once per test session, whichever test module asks first.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HAVE_TF = find_spec("tensorflow") is not None and find_spec("tf2onnx") is not None
needs_tf = pytest.mark.skipif(
    not HAVE_TF, reason="needs the tensorflow extra (tensorflow, tf2onnx)"
)


@dataclass(frozen=True)
class TfModels:
    """One CNN saved four ways, plus a two-input, two-output frozen graph."""

    savedmodel: Path  # Keras 3 model.export()
    keras: Path
    h5: Path
    graphdef: Path  # frozen, input "image", output "Identity"
    x: np.ndarray  # NHWC (1, 16, 16, 3)
    expected: np.ndarray  # TensorFlow's output for x
    x3: np.ndarray  # a batch of 3
    expected3: np.ndarray
    two_io: Path  # frozen: inputs a, b; outputs Identity, Identity_1
    two_io_feeds: dict[str, np.ndarray]
    two_io_expected: list[np.ndarray]


_built: dict[int, TfModels] = {}


def tf_models(tmp_path_factory: pytest.TempPathFactory) -> TfModels:
    """The models, built on first use in this session."""
    key = id(tmp_path_factory)
    if key not in _built:
        _built[key] = _build(tmp_path_factory.mktemp("tf_models"))
    return _built[key]


def tf_quietly() -> Any:
    """``tensorflow``, imported without its start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def freeze(tf: Any, fn: Any, specs: list[Any], path: Path) -> Path:
    """Write ``fn`` traced on ``specs`` as a frozen GraphDef."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete = tf.function(fn).get_concrete_function(*specs)
    graph_def = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    path.write_bytes(graph_def.SerializeToString())
    return path


def _cnn(keras: Any) -> Any:
    """Conv, depthwise, batch norm, add, max/avg pooling, concat, resizes, dense, softmax."""
    from keras import layers

    bias = "random_normal"
    image = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=bias)(image)
    y = layers.DepthwiseConv2D(3, padding="same", bias_initializer=bias)(x)
    y = layers.BatchNormalization(
        beta_initializer=bias, moving_mean_initializer=bias, moving_variance_initializer="ones"
    )(y)
    x = layers.Add()([x, y])
    pooled = layers.MaxPooling2D(2)(x)
    averaged = layers.Conv2D(8, 1, bias_initializer=bias)(layers.AveragePooling2D(2)(x))
    x = layers.Concatenate()([pooled, averaged])
    x = layers.UpSampling2D(interpolation="bilinear")(x)
    x = layers.Resizing(6, 6, interpolation="nearest")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(10, bias_initializer=bias)(x)
    return keras.Model(image, layers.Softmax()(x), name="cnn")


def _two_io(keras: Any) -> Any:
    """Two inputs, two outputs, and a Flatten that depends on the batch dimension."""
    from keras import layers

    a = keras.Input((8, 8, 2), name="a")
    b = keras.Input((8, 8, 2), name="b")
    x = layers.Conv2D(4, 3, activation="relu", bias_initializer="random_normal")(
        layers.Concatenate()([a, b])
    )
    head = layers.Dense(5, activation="softmax")(layers.Flatten()(x))
    return keras.Model([a, b], [head, layers.MaxPooling2D(2)(x)], name="two_io")


def _build(folder: Path) -> TfModels:
    with warnings.catch_warnings():  # Keras's numpy 2 and legacy-HDF5 warnings
        warnings.simplefilter("ignore")
        return _build_quietly(folder)


def _build_quietly(folder: Path) -> TfModels:
    tf = tf_quietly()
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cnn = _cnn(keras)
    cnn.save(folder / "cnn.keras")
    cnn.save(folder / "cnn.h5")
    cnn.export(folder / "cnn_savedmodel", verbose=False)
    image = tf.TensorSpec((None, 16, 16, 3), tf.float32, name="image")
    frozen = freeze(tf, lambda t: cnn(t, training=False), [image], folder / "cnn_frozen.pb")
    x = rng.standard_normal((1, 16, 16, 3)).astype(np.float32)
    x3 = rng.standard_normal((3, 16, 16, 3)).astype(np.float32)

    two = _two_io(keras)
    specs = [tf.TensorSpec((None, 8, 8, 2), tf.float32, name=n) for n in ("a", "b")]
    two_io = freeze(tf, lambda a, b: two([a, b], training=False), specs, folder / "two_io.pb")
    feeds = {n: rng.standard_normal((1, 8, 8, 2)).astype(np.float32) for n in ("a", "b")}
    return TfModels(
        savedmodel=folder / "cnn_savedmodel",
        keras=folder / "cnn.keras",
        h5=folder / "cnn.h5",
        graphdef=frozen,
        x=x,
        expected=cnn(x, training=False).numpy(),
        x3=x3,
        expected3=cnn(x3, training=False).numpy(),
        two_io=two_io,
        two_io_feeds=feeds,
        two_io_expected=[t.numpy() for t in two([feeds["a"], feeds["b"]], training=False)],
    )


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """Largest absolute difference, relative to the largest expected magnitude."""
    assert got.shape == expected.shape, (got.shape, expected.shape)
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-12))
