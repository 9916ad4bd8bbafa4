"""TensorFlow import: SavedModel, frozen GraphDef and Keras files, checked against TensorFlow.

Tests that need TensorFlow skip without the extra; the refusals that come before
TensorFlow is imported (a folder without saved_model.pb, the missing extra) run always.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.tfmodels import TfModels, freeze, needs_tf, relative_error, tf_models, tf_quietly
from workbench.engine.executor import Plan
from workbench.engine.tf_import import EXTRA_INSTALL, import_tensorflow, tensorflow_source_kind
from workbench.errors import BadInput, ModelError, NotFound

TOLERANCE = 1e-5  # of the largest output magnitude


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TfModels:
    return tf_models(tmp_path_factory)


def run(graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    outputs = Plan(graph).run(feeds)
    return [outputs[t.name] for t in graph.outputs]


# -- no TensorFlow needed ---------------------------------------------------------------


def test_source_kinds(tmp_path: Path) -> None:
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"x")
    assert tensorflow_source_kind(tmp_path / "sm") == "savedmodel"
    assert tensorflow_source_kind(tmp_path / "sm" / "saved_model.pb") == "savedmodel"
    assert tensorflow_source_kind(tmp_path / "frozen.pb") == "graphdef"
    assert tensorflow_source_kind(tmp_path / "m.keras") == "keras"
    assert tensorflow_source_kind(tmp_path / "m.H5") == "keras"
    assert tensorflow_source_kind(tmp_path / "m.onnx") is None


def test_folder_without_saved_model_pb_is_refused_before_importing_tensorflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # importing it would fail
    (tmp_path / "variables").mkdir()
    with pytest.raises(ModelError, match="no saved_model.pb inside") as caught:
        import_tensorflow(tmp_path)
    assert "\n" not in str(caught.value) and str(tmp_path) in str(caught.value)
    with pytest.raises(NotFound):
        import_tensorflow(tmp_path / "missing.keras")


@pytest.mark.parametrize("case", ["keras-fifo", "h5-device", "graphdef-fifo", "variables-fifo",
                                  "saved-model-pb-device"])  # fmt: skip
def test_a_fifo_or_device_is_refused_before_importing_tensorflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """TensorFlow reads a model file to its end: a FIFO would block, /dev/zero never end."""
    import os

    monkeypatch.setitem(sys.modules, "tensorflow", None)  # importing it would fail
    folder = tmp_path / "sm"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    odd = {
        "keras-fifo": tmp_path / "m.keras", "h5-device": tmp_path / "m.h5",
        "graphdef-fifo": tmp_path / "frozen.pb",
        "variables-fifo": folder / "variables" / "variables.data-00000-of-00001",
        "saved-model-pb-device": folder / "saved_model.pb",
    }[case]  # fmt: skip
    odd.unlink(missing_ok=True)
    if case.endswith("fifo"):
        os.mkfifo(odd)
    else:
        os.symlink("/dev/zero", odd)
    model = folder if odd.is_relative_to(folder) else odd
    with pytest.raises(ModelError) as caught:
        import_tensorflow(model)
    message = str(caught.value)
    assert "\n" not in message
    assert "not a regular file" in message or "no saved_model.pb" in message, message
    assert str(odd) in message or case == "saved-model-pb-device"


@needs_tf
def test_a_frozen_graph_too_large_for_memory_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    from workbench.engine.limits import TooLargeForMemory

    huge = tmp_path / "huge.pb"
    with open(huge, "wb") as f:
        f.truncate(256 << 20)  # sparse: nothing on disk; read, it would not parse
    with pytest.raises(TooLargeForMemory, match=r"huge\.pb needs ~10\.0 GiB of memory to convert"):
        import_tensorflow(huge, available=lambda: 8 << 30)


@pytest.mark.parametrize("missing", ["tensorflow", "tf2onnx"])
def test_missing_extra_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` raises ImportError
    model = tmp_path / "m.keras"
    model.write_bytes(b"not really a model")
    with pytest.raises(BadInput) as caught:
        import_tensorflow(model)
    message = str(caught.value)
    assert EXTRA_INSTALL in message and "\n" not in message
    assert EXTRA_INSTALL == "pip install 'quantization-workbench[tensorflow]'"


# -- each source kind against TensorFlow -----------------------------------------------


@needs_tf
@pytest.mark.parametrize("kind", ["savedmodel", "keras", "h5", "graphdef"])
def test_float_run_matches_tensorflow(models: TfModels, kind: str) -> None:
    graph = import_tensorflow(getattr(models, kind))
    [image] = graph.inputs
    assert (image.name, image.shape) == ("image", (1, 16, 16, 3))  # NHWC kept, batch 1
    [got] = run(graph, {"image": models.x})
    assert relative_error(got, models.expected) < TOLERANCE


@needs_tf
@pytest.mark.parametrize("kind", ["savedmodel", "keras"])
def test_input_dims_set_the_batch(models: TfModels, kind: str) -> None:
    graph = import_tensorflow(getattr(models, kind), {"image": [3, 16, 16, 3]})
    assert graph.inputs[0].shape == (3, 16, 16, 3)
    [got] = run(graph, {"image": models.x3})
    assert relative_error(got, models.expected3) < TOLERANCE


@needs_tf
def test_input_dims_of_the_wrong_rank_or_name_are_refused(models: TfModels) -> None:
    with pytest.raises(BadInput, match="3 dimensions given, but the input has rank 4"):
        import_tensorflow(models.keras, {"image": [16, 16, 3]})
    with pytest.raises(BadInput, match=r"no input 'images' \(inputs: image\)"):
        import_tensorflow(models.savedmodel, {"images": [1, 16, 16, 3]})


@needs_tf
def test_graphdef_inputs_and_outputs_are_inferred(models: TfModels) -> None:
    graph = import_tensorflow(models.two_io)
    assert [t.name for t in graph.inputs] == ["a", "b"]
    assert [t.name for t in graph.outputs] == ["Identity", "Identity_1"]
    for got, expected in zip(run(graph, models.two_io_feeds), models.two_io_expected, strict=True):
        assert relative_error(got, expected) < TOLERANCE


@needs_tf
def test_conversion_is_silent(
    models: TfModels, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    import_tensorflow(models.savedmodel)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    noisy = [r for r in caplog.records if r.name.split(".")[0] in ("tensorflow", "tf2onnx", "absl")]
    assert noisy == []


# -- refusals ----------------------------------------------------------------------------


@needs_tf
def test_unsupported_tensorflow_op_is_one_line_naming_file_and_op(tmp_path: Path) -> None:
    tf = tf_quietly()

    class Odd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.math.bessel_i1e(x) + 1.0}

    module = Odd()
    tf.saved_model.save(module, str(tmp_path / "odd"), signatures=module.__call__)
    with pytest.raises(ModelError) as caught:
        import_tensorflow(tmp_path / "odd")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'odd'}: ") and "BesselI1e" in message


@needs_tf
def test_signature_choice(tmp_path: Path) -> None:
    tf = tf_quietly()
    spec = tf.TensorSpec((None, 4), tf.float32, name="x")

    class Two(tf.Module):
        @tf.function(input_signature=[spec])
        def double(self, x):
            return {"y": x * 2.0}

        @tf.function(input_signature=[spec])
        def negate(self, x):
            return {"y": -x}

    module = Two()
    tf.saved_model.save(module, str(tmp_path / "one"), signatures={"negate": module.negate})
    graph = import_tensorflow(tmp_path / "one")  # the only signature, whatever its name
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_array_equal(run(graph, {"x": x})[0], -x)

    both = {"double": module.double, "negate": module.negate}
    tf.saved_model.save(module, str(tmp_path / "two"), signatures=both)
    with pytest.raises(ModelError, match=r"several signatures \(double, negate\)"):
        import_tensorflow(tmp_path / "two")


@needs_tf
def test_graphdef_with_an_ambiguous_output_is_refused(tmp_path: Path) -> None:
    tf = tf_quietly()
    path = freeze(
        tf,
        lambda x: tf.raw_ops.Unpack(value=x, num=2, axis=1),
        [tf.TensorSpec((1, 2), tf.float32, name="x")],
        tmp_path / "unpack.pb",
    )
    # Frozen functions end in Identity nodes; drop them so the Unpack is the sink.
    graph_def = tf.compat.v1.GraphDef.FromString(path.read_bytes())
    kept = [n for n in graph_def.node if n.op != "Identity"]
    del graph_def.node[:]
    graph_def.node.extend(kept)
    path.write_bytes(graph_def.SerializeToString())
    with pytest.raises(ModelError, match="cannot tell the GraphDef's outputs.*2 outputs"):
        import_tensorflow(path)


@needs_tf
def test_not_a_graphdef(models: TfModels, tmp_path: Path) -> None:
    path = tmp_path / "junk.pb"
    path.write_bytes(b"\xff\xfe not a protobuf")
    with pytest.raises(ModelError, match="junk.pb: not a TensorFlow GraphDef"):
        import_tensorflow(path)
    renamed = tmp_path / "model.pb"
    renamed.write_bytes((models.savedmodel / "saved_model.pb").read_bytes())
    with pytest.raises(ModelError, match="model.pb: this is a SavedModel's saved_model.pb"):
        import_tensorflow(renamed)


@needs_tf
def test_keras_lambda_code_is_not_run(tmp_path: Path) -> None:
    tf_quietly()
    import keras

    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ModelError, match="lambda.keras: cannot load the Keras model:.*safe_mode"):
        import_tensorflow(tmp_path / "lambda.keras")


# -- memory: declared sizes refused before tf2onnx runs --------------------------------

MiB = 1 << 20


@needs_tf
@pytest.mark.parametrize("kind", ["savedmodel", "keras", "h5", "graphdef"])
def test_a_model_too_large_for_memory_is_refused_before_conversion(
    models: TfModels, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tf2onnx.convert

    from workbench.engine.limits import TENSORFLOW_CONVERT_FACTOR, TooLargeForMemory

    def never(*args, **kwargs):
        raise AssertionError("tf2onnx ran")

    path = getattr(models, kind)
    with monkeypatch.context() as mp:
        for name in ("from_graph_def", "from_keras"):
            mp.setattr(tf2onnx.convert, name, never)
        with pytest.raises(TooLargeForMemory) as caught:
            import_tensorflow(path, available=lambda: 64 << 10)
    message = str(caught.value)
    assert message.startswith(f"{path} needs ~") and message.endswith("only 64.0 KiB available")
    assert f"to convert ({TENSORFLOW_CONVERT_FACTOR}x its " in message
    # The CNN's 578 float32 weights (2.3 KiB) are counted, and little else (the Keras
    # files' own bytes around them).
    params = message.split(f"{TENSORFLOW_CONVERT_FACTOR}x its ")[1].split(" of parameters")[0]
    assert params.endswith(" KiB") and 2.25 <= float(params.split()[0]) <= 200, message
    graph = import_tensorflow(path, available=lambda: 4 << 30)  # room enough: converts
    assert graph.outputs


def _generator(tf, folder: Path, how: str, n: int) -> Path:
    """``y = x + sum(G)`` where ``G`` has ``n`` float32 values: a ``Const`` holding one
    value and declaring ``n`` (``splat``) or a ``Fill`` of a constant shape (``fill``)."""

    class Generator(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 1], tf.float32, name="x")])
        def __call__(self, x):
            big = tf.constant(0.5, shape=[n]) if how == "splat" else tf.fill([n], 0.5)
            return x + tf.reduce_sum(big)

    module = Generator()
    tf.saved_model.save(module, str(folder / how), signatures=module.__call__)
    return folder / how


@needs_tf
@pytest.mark.parametrize("how", ["splat", "fill"])
def test_a_generator_in_a_tiny_savedmodel_is_refused_by_its_declared_size(
    tmp_path: Path, how: str
) -> None:
    """A few KiB on disk; 64 MiB once materialized (as tf2onnx and grappler's folding
    do): the constant counts as parameters, the Fill's known shape as a tensor (twice:
    with one temporary), as the splat's reduced value is too."""
    from workbench.engine.limits import TENSORFLOW_CONVERT_FACTOR, TooLargeForMemory, format_bytes

    path = _generator(tf_quietly(), tmp_path, how, 16 * MiB)
    assert sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) < 64 << 10
    params = 64 * MiB if how == "splat" else 0
    need = format_bytes(TENSORFLOW_CONVERT_FACTOR * params + 128 * MiB)
    with pytest.raises(TooLargeForMemory) as caught:
        import_tensorflow(path, available=lambda: 100 * MiB)
    assert str(caught.value).startswith(f"{path} needs ~{need} of memory to convert")


def test_fd_2_is_muted_only_while_python_s_stderr_is_the_process_s_own(monkeypatch) -> None:
    """The CLI's terminal is kept clean of TensorFlow's C++ lines; a TUI (which takes over
    ``sys.stderr`` and draws on fd 2) keeps its screen."""
    import io
    import os
    import sys

    from workbench.engine.tf_import import _silent_stderr_fd

    before = os.fstat(2).st_ino
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # as a Textual app's capture does
    with _silent_stderr_fd():
        assert os.fstat(2).st_ino == before
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    with _silent_stderr_fd():
        assert os.fstat(2).st_ino != before
    assert os.fstat(2).st_ino == before
