"""Import a TensorFlow model into the workbench graph IR (the analogue of snpe-tensorflow-to-dlc).

``import_tensorflow`` accepts three kinds of source (``tensorflow_source_kind``):

* a **SavedModel** directory (``saved_model.pb`` inside; the path of that file works
  too): its ``serving_default`` signature, or its only signature;
* a frozen **GraphDef** ``.pb``: the Placeholders are the inputs, and the tensors no
  node consumes are the outputs;
* a **Keras** ``.keras`` / ``.h5`` file, loaded in Keras's safe mode (a ``Lambda``
  layer's Python code is refused, not run).

Input shapes are fixed before conversion: an unknown first (batch) dimension becomes
1, as the vendor converter does, and ``input_dims`` (the CLI's ``--input-dim``, keyed
by the input names the container will show) sets any input's full shape. Any other
unknown dimension must be given that way; the ONNX importer says so, naming the input.

tf2onnx turns the model into an in-memory ONNX model, which then takes the ONNX
importer's path (``import_onnx_model``), so every source format shares one set of
graph passes, shape rules and operator checks. TensorFlow operators tf2onnx cannot
convert become one ``ModelError`` naming the file and the operators.

Before tf2onnx runs, the model's declared sizes are checked against ``available``
memory (``limits.check_tensorflow_fits``): a SavedModel's variables (from the
checkpoint's index, no data read) and constants (their declared shapes: a tiny
``Const`` may declare billions of repeated values), a frozen graph's constants, a
Keras file's weights; and the largest tensor whose shape TensorFlow's own shape
inference knows (a ``Fill`` of a constant shape), which folding may materialize.

TensorFlow, Keras and tf2onnx are imported inside ``import_tensorflow`` only: they are
the optional ``[tensorflow]`` extra, importing them costs seconds, and the rest of the
engine stays pure numpy. Their logging, warnings and printed output are kept from the
user while they run (``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 unless already set).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.engine.graph import Graph
from workbench.engine.limits import check_tensorflow_fits
from workbench.engine.onnx_import import import_onnx_model
from workbench.errors import BadInput, ModelError, NotFound, WorkbenchError

EXTRA_INSTALL = "pip install 'quantization-workbench[tensorflow]'"
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
SAVED_MODEL_FILE = "saved_model.pb"

# Loggers that print while TensorFlow, Keras and tf2onnx work; muted for the duration.
_NOISY_LOGGERS = ("tensorflow", "absl", "keras", "h5py")
# Ops that are never a model's output even when nothing consumes them.
_NOT_OUTPUTS = frozenset({"Const", "NoOp", "Assert", "Placeholder", "PlaceholderWithDefault"})
_VARIABLE_OPS = frozenset({"Variable", "VariableV2", "VarHandleOp", "VarHandleOpV2"})
# tf2onnx reports operators it has no handler for, and handlers that failed, as errors.
_UNSUPPORTED_MSG = "Tensorflow op [%s: %s] is not supported"
_FAILED_MSG = "Failed to convert node"


def tensorflow_source_kind(path: Path) -> str | None:
    """``savedmodel``, ``graphdef`` or ``keras`` if ``path`` names a TensorFlow model, else None."""
    if path.is_dir():
        return "savedmodel"
    suffix = path.suffix.lower()
    if suffix == ".pb":
        return "savedmodel" if path.name == SAVED_MODEL_FILE else "graphdef"
    if suffix in KERAS_SUFFIXES:
        return "keras"
    return None


def saved_model_dir(path: Path) -> Path:
    """The SavedModel directory ``path`` names (itself, or the folder of its saved_model.pb)."""
    return path.parent if path.name == SAVED_MODEL_FILE and path.is_file() else path


Available = Callable[[], "int | None"]


def import_tensorflow(
    path: str | Path,
    input_dims: Mapping[str, Sequence[int]] | None = None,
    *,
    opset: int = 17,
    available: Available | None = None,
) -> Graph:
    """Convert the TensorFlow model at ``path`` and return it as a float ``Graph``.

    ``input_dims`` maps input names to full shapes and may override declared ones;
    without it an unknown batch dimension becomes 1. ``available`` (asked once
    TensorFlow is loaded) gives the bytes the conversion may use: a model that cannot
    fit is ``TooLargeForMemory`` before tf2onnx runs; None checks nothing.
    """
    path = Path(path)
    kind = _checked_kind(path)  # cheap checks first: no TensorFlow import for a typo
    tf, tf2onnx = _load_tensorflow()
    dims = dict(input_dims or {})
    convert = {"savedmodel": _from_saved_model, "graphdef": _from_graph_def, "keras": _from_keras}

    def fits(parameter_bytes: int, largest_tensor: int) -> None:
        if available is not None:
            check_tensorflow_fits(str(path), parameter_bytes, largest_tensor, available())

    with _quiet() as errors:
        try:
            model = convert[kind](tf, tf2onnx, path, dims, opset, fits)
        except WorkbenchError:
            raise
        except Exception as exc:  # TensorFlow and tf2onnx raise anything at all
            raise ModelError(
                f"{path}: cannot convert the {_KIND_NAMES[kind]}: {_first_line(exc)}"
            ) from exc
    _check_converted(model, errors, path)
    return import_onnx_model(model, dims, source=path)


_KIND_NAMES = {"savedmodel": "SavedModel", "graphdef": "GraphDef", "keras": "Keras model"}


def _checked_kind(path: Path) -> str:
    if not path.exists():
        raise NotFound(f"model not found: {path}")
    kind = tensorflow_source_kind(path)
    if kind is None:
        raise BadInput(f"{path}: not a TensorFlow model (a SavedModel folder, .pb, .keras or .h5)")
    if kind == "savedmodel" and not (saved_model_dir(path) / SAVED_MODEL_FILE).is_file():
        raise ModelError(
            f"{path}: not a SavedModel directory (no {SAVED_MODEL_FILE} inside); "
            "give the folder that tf.saved_model.save or Keras model.export() wrote"
        )
    # TensorFlow reads what it is given to the end: a FIFO would block, /dev/zero never end.
    files = [path] if kind != "savedmodel" else _saved_model_files(saved_model_dir(path))
    odd = next((f for f in files if not f.is_file()), None)
    if odd is not None:
        raise ModelError(f"{odd}: not a regular file (a FIFO, device or socket)")
    if path.is_file() and path.stat().st_size == 0:
        raise ModelError(f"{path}: the file is empty")
    return kind


def _saved_model_files(root: Path) -> list[Path]:
    """What TensorFlow reads of a SavedModel: its graph, its variables and assets (every
    entry but folders)."""
    found = [root / SAVED_MODEL_FILE]
    for folder in ("variables", "assets"):
        if (root / folder).is_dir():
            found += [p for p in (root / folder).rglob("*") if not p.is_dir()]
    return found


def _first_line(exc: BaseException | None) -> str:
    if exc is None:
        return "no details given"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_tensorflow() -> tuple[Any, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before the import: C++ start-up noise
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        with _muted_loggers(), warnings.catch_warnings(), _silent_stderr_fd():
            warnings.simplefilter("ignore")
            import tensorflow as tf
            import tf2onnx
            import tf2onnx.tf_loader  # noqa: F401  (used as tf2onnx.tf_loader)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("tensorflow", "tf2onnx"):
            raise BadInput(
                f"TensorFlow import needs the tensorflow extra: {EXTRA_INSTALL}"
            ) from exc
        raise BadInput(f"TensorFlow could not be imported: {_first_line(exc)}") from exc
    # TF binds its log handler to sys.stderr on first use; do it now, not while captured.
    tf.get_logger()
    return tf, tf2onnx


# -- keeping TensorFlow quiet --------------------------------------------------------


class _Collector(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]):
        super().__init__(logging.ERROR)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _muted_loggers() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def _silent_stderr_fd() -> Iterator[None]:
    """File descriptor 2 into a scratch file for the duration: TensorFlow's C++ layer
    writes there directly (absl's "All log messages before absl::InitializeLog()" and
    oneDNN's notice, whatever ``TF_CPP_MIN_LOG_LEVEL`` says), past ``sys.stderr``.

    Only while ``sys.stderr`` is the process's own: when something has taken it over (a
    Textual app captures it and draws its screen on fd 2) the descriptor is left alone,
    or the screen would freeze for the whole conversion and miss its updates.
    """
    import sys
    import tempfile

    if sys.stderr is not sys.__stderr__:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to keep quiet
        yield
        return
    try:
        with tempfile.TemporaryFile() as sink:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


@contextlib.contextmanager
def _quiet() -> Iterator[list[logging.LogRecord]]:
    """Mute TF/Keras logging, warnings and prints; yield tf2onnx's error records.

    Logger levels and ``sys.stdout`` are process-wide: run one conversion at a time.
    """
    records: list[logging.LogRecord] = []
    collector = _Collector(records)
    tf2onnx_log = logging.getLogger("tf2onnx")
    saved = tf2onnx_log.level, tf2onnx_log.propagate
    tf2onnx_log.setLevel(logging.ERROR)
    tf2onnx_log.propagate = False
    tf2onnx_log.addHandler(collector)
    sink = io.StringIO()
    try:
        with (
            _silent_stderr_fd(),  # first: it looks at sys.stderr before it is redirected
            _muted_loggers(),
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            yield records
    finally:
        tf2onnx_log.removeHandler(collector)
        tf2onnx_log.setLevel(saved[0])
        tf2onnx_log.propagate = saved[1]


def _check_converted(model: Any, records: list[logging.LogRecord], path: Path) -> None:
    """Refuse a model tf2onnx could not fully convert (it leaves such nodes in place)."""
    import onnx.defs

    unsupported: dict[str, list[str]] = {}
    failed: list[logging.LogRecord] = []
    for r in records:
        if r.msg == _UNSUPPORTED_MSG and isinstance(r.args, tuple) and len(r.args) == 2:
            unsupported.setdefault(str(r.args[1]), []).append(str(r.args[0]))
        elif str(r.msg).startswith(_FAILED_MSG):
            failed.append(r)
    for node in model.graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
            names = unsupported.setdefault(node.op_type, [])
            if node.name not in names:
                names.append(node.name)
    if unsupported:
        parts = []
        for op_type in sorted(unsupported):
            names = unsupported[op_type]
            more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
            parts.append(f"{op_type} [{', '.join(names[:3])}{more}]")
        raise ModelError(f"{path}: TensorFlow operators tf2onnx cannot convert: {'; '.join(parts)}")
    if failed:
        r = failed[0]
        node = r.args[0] if isinstance(r.args, tuple) and r.args else "?"
        cause = _first_line(r.exc_info[1] if r.exc_info else None)
        raise ModelError(f"{path}: tf2onnx failed to convert node {node}: {cause}")


# -- shapes ----------------------------------------------------------------------------


def _fixed_shape(
    name: str, declared: list[int | None] | None, input_dims: Mapping[str, Sequence[int]]
) -> list[int | None] | None:
    """The shape to convert input ``name`` with: ``input_dims``, else batch 1."""
    if name in input_dims:
        given = [int(d) for d in input_dims[name]]
        if declared is not None and len(declared) != len(given):
            raise BadInput(
                f"--input-dim {name}: {len(given)} dimensions given, but the input has "
                f"rank {len(declared)}"
            )
        return given
    if declared is None:
        return None
    shape = list(declared)
    if shape and shape[0] is None:
        shape[0] = 1
    return shape


def _placeholder_shape(node: Any) -> list[int | None] | None:
    shape = node.attr["shape"].shape if "shape" in node.attr else None
    if shape is None or shape.unknown_rank:
        return None
    return [d.size if d.size >= 0 else None for d in shape.dim]


# -- the three source kinds ----------------------------------------------------------


def _convert_graph(
    tf2onnx: Any,
    graph_def: Any,
    inputs: list[str],
    outputs: list[str],
    renames: dict[str, str],
    input_dims: Mapping[str, Sequence[int]],
    opset: int,
    name: str,
) -> Any:
    """tf2onnx on a frozen GraphDef, with every input's shape fixed as far as known."""
    nodes = {n.name: n for n in graph_def.node}
    overrides: dict[str, list[int]] = {}
    for tensor in inputs:
        node = nodes.get(tensor.split(":")[0])
        declared = _placeholder_shape(node) if node is not None else None
        shape = _fixed_shape(renames.get(tensor, tensor), declared, input_dims)
        if shape is not None:
            overrides[tensor] = [-1 if d is None else d for d in shape]
    model, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        name=name,
        input_names=inputs,
        output_names=outputs,
        opset=opset,
        shape_override=overrides,
        tensors_to_rename=renames,
    )
    return model


Fits = Callable[[int, int], None]  # (parameter bytes, largest tensor bytes): refuses


def _from_saved_model(
    tf: Any,
    tf2onnx: Any,
    path: Path,
    input_dims: Mapping[str, Sequence[int]],
    opset: int,
    fits: Fits,
) -> Any:
    root = saved_model_dir(path)
    tags, signature, meta = _pick_signature(root)
    graph_def = meta.graph_def
    fits(
        _variable_bytes(tf, root) + _constant_bytes(tf, _all_nodes(graph_def)),
        _largest_in_functions(tf, graph_def.library.function),
    )
    graph_def, inputs, outputs, renames = tf2onnx.tf_loader.from_saved_model(
        str(root), None, None, tag=tags, signatures=[signature], return_tensors_to_rename=True
    )
    return _convert_graph(
        tf2onnx, graph_def, inputs, outputs, renames, input_dims, opset, root.name
    )


def _pick_signature(root: Path) -> tuple[list[str], str, Any]:
    """The meta graph's tags, the signature to convert (serving_default, or the only
    one) and the meta graph."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((root / SAVED_MODEL_FILE).read_bytes())
    except Exception as exc:
        raise ModelError(
            f"{root}: {SAVED_MODEL_FILE} is not a SavedModel: {_first_line(exc)}"
        ) from exc
    metas = list(saved.meta_graphs)
    serving = [m for m in metas if "serve" in m.meta_info_def.tags]
    if not metas:
        raise ModelError(f"{root}: the SavedModel holds no graph")
    if len(serving) != 1 and len(metas) != 1:
        tag_sets = ", ".join("+".join(m.meta_info_def.tags) or "(none)" for m in metas)
        raise ModelError(f"{root}: the SavedModel has no single 'serve' graph (tags: {tag_sets})")
    meta = serving[0] if len(serving) == 1 else metas[0]
    signatures = sorted(k for k in meta.signature_def if not k.startswith("__"))
    if "serving_default" in signatures:
        chosen = "serving_default"
    elif len(signatures) == 1:
        chosen = signatures[0]
    elif not signatures:
        raise ModelError(
            f"{root}: the SavedModel has no signatures; save it with one "
            "(Keras: model.export(dir); tf.saved_model.save(obj, dir, signatures=fn))"
        )
    else:
        raise ModelError(
            f"{root}: the SavedModel has several signatures ({', '.join(signatures)}) and "
            "none is serving_default; save it with the one to convert as serving_default"
        )
    return list(meta.meta_info_def.tags), chosen, meta


def _from_graph_def(
    tf: Any,
    tf2onnx: Any,
    path: Path,
    input_dims: Mapping[str, Sequence[int]],
    opset: int,
    fits: Fits,
) -> Any:
    fits(path.stat().st_size, 0)  # its constants are its bytes: checked before it is read
    data = path.read_bytes()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        if _is_saved_model_graph(data):
            raise ModelError(
                f"{path}: this is a SavedModel's {SAVED_MODEL_FILE}, not a frozen GraphDef; "
                "convert the SavedModel directory it came from (with its variables/)"
            ) from exc
        raise ModelError(f"{path}: not a TensorFlow GraphDef: {_first_line(exc)}") from exc
    inputs, outputs, graph = _graph_endpoints(tf, graph_def, path)
    fits(
        _constant_bytes(tf, _all_nodes(graph_def)),
        max(
            _largest_known(graph.get_operations()),
            _largest_in_functions(tf, graph_def.library.function),
        ),
    )
    # "x:0" -> "x": the node names, as TensorFlow users (and the vendor tool) name inputs.
    renames = {t: t[:-2] for t in inputs + outputs if t.endswith(":0")}
    return _convert_graph(
        tf2onnx, graph_def, inputs, outputs, renames, input_dims, opset, path.stem
    )


def _is_saved_model_graph(data: bytes) -> bool:
    from tensorflow.core.protobuf import saved_model_pb2

    try:
        return len(saved_model_pb2.SavedModel.FromString(data).meta_graphs) > 0
    except Exception:  # not that either
        return False


def _graph_endpoints(tf: Any, graph_def: Any, path: Path) -> tuple[list[str], list[str], Any]:
    """Input and output tensor names of a frozen graph (Placeholders, and unconsumed
    tensors), and the graph imported with TensorFlow's shapes."""
    if not graph_def.node:
        raise ModelError(f"{path}: not a TensorFlow GraphDef (it has no nodes)")
    variables = [n.name for n in graph_def.node if n.op in _VARIABLE_OPS]
    if variables:
        shown = ", ".join(variables[:3]) + (" ..." if len(variables) > 3 else "")
        raise ModelError(
            f"{path}: the GraphDef is not frozen (variables {shown}); freeze it, "
            "or give the SavedModel directory instead"
        )
    consumed = {s.lstrip("^").split(":")[0] for n in graph_def.node for s in n.input}
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
    inputs = [n.name + ":0" for n in graph_def.node if n.op == "Placeholder" and n.name in consumed]
    outputs: list[str] = []
    for n in graph_def.node:
        if n.name in consumed or n.op in _NOT_OUTPUTS:
            continue
        tensors = graph.get_operation_by_name(n.name).outputs
        if len(tensors) > 1:
            raise ModelError(
                f"{path}: cannot tell the GraphDef's outputs: nothing consumes {n.name} "
                f"({n.op}), which has {len(tensors)} outputs; freeze the graph with "
                "tf.identity on the outputs you want"
            )
        if tensors:
            outputs.append(tensors[0].name)
    if not inputs:
        raise ModelError(f"{path}: the GraphDef has no Placeholder inputs")
    if not outputs:
        raise ModelError(f"{path}: cannot tell the GraphDef's outputs (every tensor is consumed)")
    return inputs, outputs, graph


def _from_keras(
    tf: Any,
    tf2onnx: Any,
    path: Path,
    input_dims: Mapping[str, Sequence[int]],
    opset: int,
    fits: Fits,
) -> Any:
    import keras

    fits(_keras_weight_bytes(path), 0)  # its graph is known only once loaded

    if keras.backend.backend() != "tensorflow":
        raise ModelError(
            f"{path}: Keras runs on the {keras.backend.backend()} backend; "
            "set KERAS_BACKEND=tensorflow to convert Keras models"
        )
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        raise ModelError(f"{path}: cannot load the Keras model: {_first_line(exc)}") from exc
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise ModelError(
            f"{path}: the Keras model has no defined inputs (a subclassed model?); "
            "build it on keras.Input, or export a SavedModel with model.export(dir)"
        )
    specs = []
    for t in inputs:
        declared = None if t.shape is None else list(t.shape)
        shape = _fixed_shape(t.name, declared, input_dims)
        specs.append(tf.TensorSpec(shape, t.dtype, name=t.name))
    model_proto, _ = tf2onnx.convert.from_keras(model, input_signature=specs, opset=opset)
    return model_proto


# -- declared sizes, read before tf2onnx allocates anything -------------------------------


def _all_nodes(graph_def: Any) -> Iterator[Any]:
    """The graph's nodes and those of every function in its library."""
    yield from graph_def.node
    for function in graph_def.library.function:
        yield from function.node_def


def _itemsize(tf: Any, dtype: Any) -> int:
    """Bytes an element takes in memory: at least 4 for floats (widened to float32), 0
    when not fixed (strings, resources: counted from their data instead)."""
    try:
        dt = tf.dtypes.as_dtype(dtype)
        if dt in (tf.string, tf.resource, tf.variant):
            return 0
        return max(dt.size, 4) if dt.is_floating else dt.size
    except (TypeError, ValueError):
        return 0


def _constant_bytes(tf: Any, nodes: Iterable[Any]) -> int:
    """Declared bytes of every ``Const`` value: its shape, not its data (a proto holding
    one value stands for all of them, and conversion writes them all out)."""
    total = 0
    for node in nodes:
        if node.op not in ("Const", "HostConst") or "value" not in node.attr:
            continue
        tensor = node.attr["value"].tensor
        shape = tensor.tensor_shape
        count = 0 if shape.unknown_rank else math.prod(max(0, d.size) for d in shape.dim)
        declared = count * _itemsize(tf, tensor.dtype)
        held = len(tensor.tensor_content) + sum(len(v) for v in tensor.string_val)
        total += max(declared, held)
    return total


def _largest_known(operations: Iterable[Any]) -> int:
    """Bytes of the largest output whose shape TensorFlow's shape inference knows."""
    largest = 0
    for op in operations:
        for out in op.outputs:
            if out.shape.is_fully_defined():
                try:
                    size = out.dtype.size
                except (TypeError, ValueError):
                    continue
                itemsize = max(size, 4) if out.dtype.is_floating else size
                largest = max(largest, out.shape.num_elements() * itemsize)
    return largest


def _largest_in_functions(tf: Any, functions: Iterable[Any]) -> int:
    """``_largest_known`` over each function body, built alone (variables are handles,
    nothing is loaded); a body that calls another is skipped, its callee is counted."""
    from tensorflow.python.framework import function_def_to_graph

    largest = 0
    for function in functions:
        try:
            graph = function_def_to_graph.function_def_to_graph(function)
        except Exception:  # a call to another function of the library, or a broken body
            continue
        largest = max(largest, _largest_known(graph.get_operations()))
    return largest


def _variable_bytes(tf: Any, root: Path) -> int:
    """A SavedModel's variables: the shapes its checkpoint index declares (no data is
    read), at least the size of its data files."""
    prefix = root / "variables" / "variables"
    folder = prefix.parent
    try:
        files = sum(p.stat().st_size for p in folder.glob("variables.data-*") if p.is_file())
    except OSError:
        files = 0
    if not Path(f"{prefix}.index").is_file():
        return files
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
    except Exception:  # a broken checkpoint: TensorFlow's loader says what is wrong
        return files
    declared = sum(
        math.prod(max(0, int(d)) for d in shape) * _itemsize(tf, dtypes.get(name))
        for name, shape in shapes.items()
    )
    return max(declared, files)


def _keras_weight_bytes(path: Path) -> int:
    """A Keras file's weights: a ``.keras`` zip's members as they expand, an HDF5 file's
    size."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return sum(info.file_size for info in archive.infolist())
        return path.stat().st_size
    except (OSError, zipfile.BadZipFile):
        return 0  # Keras's loader says what is wrong with it
