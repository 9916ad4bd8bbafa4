"""A sweep's spec (TOML): models, calibration and eval lists, a grid of quantize options
and runtimes, expanded to cells, each named by its content.

The grid takes any quantize option declared in ``workbench/options.py`` (a list means
"each of"; for a many-valued option such as ``algorithms`` each item is one value, a
string ``"cle,bc"`` or a list). Values are checked by the declarations, so a bad one is
refused with the same words as the command line's flag. A cell's key is the sha256 of
the model's content, its input dims, every quantize option (defaults included, a file
option by its content), the calibration and eval data (by content), the bench options
and the runtime: the same cell in another run, another sweep of the project or another
spelling of the spec has the same key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.graph import MAX_TENSOR_ELEMENTS
from workbench.errors import BadInput, InputListError, NotFound
from workbench.options import (
    AUTOQUANT_OPTIONS,
    BENCH_OPTIONS,
    QUANTIZE_OPTIONS,
    BenchOptions,
    Goal,
    Option,
    QuantOptions,
    parse_runtimes,
)
from workbench.textsafe import check_name, visible
from workbench.vocabulary import AUTOQUANT_RUNTIMES, COSINE, LABEL_ACCURACY, MAX_ABS, SQNR, TOP1

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KEY_VERSION = 1  # bumped if what a key covers changes: old cells then run again

# What "best" can rank by: the metric, its bench column, and whether higher is better.
METRIC_COLUMNS: dict[str, tuple[str, bool]] = {
    SQNR: ("sqnr_db", True),
    COSINE: ("cosine", True),
    MAX_ABS: ("max_abs_err", False),
    TOP1: ("top1_agreement", True),
    LABEL_ACCURACY: ("label_accuracy", True),
}
DEFAULT_METRIC = SQNR

MODEL_SUFFIXES = (".onnx", ".tflite", ".pb", ".keras", ".h5", ".dlc")
# Bench options a sweep sets itself: the runtime is the cell's, labels come with the
# eval list, one thread per worker, and one row per cell.
_BENCH_FIXED = {
    "runtimes": "list runtimes in the spec's 'runtimes'",
    "labels": "give 'labels' beside 'eval'",
    "threads": "a sweep computes on one thread per worker (--jobs sets how many)",
    "cpu_fxp": "a cell is one measurement per runtime",
}
MAX_SPEC_BYTES = 16 << 20  # a spec is a few KiB; refused past this, never read whole
_TOP_KEYS = {
    "name", "workdir", "runtimes", "metric", "calibration", "eval", "labels", "models",
    "grid", "bench", "goals", "goal-budget-minutes",
}  # fmt: skip
_MODEL_KEYS = {"path", "name", "input-dims", "input_dims", "calibration", "eval", "labels"}


@dataclass(frozen=True)
class DataSet:
    """An input list (and its labels), known by content."""

    path: Path
    digest: str  # sha256 over the list's lines and every file it names


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path
    sha256: str  # of the file (a SavedModel folder: its files)
    input_dims: Mapping[str, tuple[int, ...]]
    calibration: DataSet
    eval: DataSet
    labels: DataSet | None

    @property
    def is_container(self) -> bool:
        return self.path.suffix.lower() == ".dlc"

    @property
    def key(self) -> str:
        """The model as a sweep converts it: content and input dims."""
        return _digest({"sha256": self.sha256, "input_dims": _dims_json(self.input_dims)})

    @property
    def folder(self) -> str:
        """Its folder in the work folder: name and a short key (two models, two folders)."""
        return f"{_safe(self.name)}-{self.key[:8]}"


@dataclass(frozen=True)
class Setting:
    """One point of the grid: every quantize option, and the ones the grid varies."""

    options: QuantOptions
    analyze: bool
    varying: Mapping[str, Any]  # grid key -> this setting's value (JSON data)
    key: str  # sha256 of every quantize option (file options by content)
    goal: str | None = None  # an autoquant goal: the cell searches instead of quantizing
    budget_minutes: float | None = None  # the goal's search budget

    @property
    def label(self) -> str:
        return setting_label(self.varying)

    def values(self) -> dict[str, Any]:
        """Every quantize option (what ``workbench quantize`` takes), as JSON data."""
        return {**self.options.to_dict(), "analyze": self.analyze}


@dataclass(frozen=True)
class Cell:
    model: ModelSpec
    setting: Setting
    runtime: str
    key: str

    @property
    def stage(self) -> str:
        """What its quantized container depends on: model, setting, calibration data.
        Cells of every runtime share it (one quantize); a goal's cell has its own (the
        search evaluates on the cell's runtime)."""
        parts = [self.model.key, self.setting.key, self.model.calibration.digest]
        return _digest([*parts, self.runtime] if self.setting.goal else parts)


@dataclass(frozen=True)
class SweepSpec:
    name: str
    path: Path
    workdir: Path
    models: tuple[ModelSpec, ...]
    settings: tuple[Setting, ...]
    runtimes: tuple[str, ...]
    bench: BenchOptions  # every cell's bench options (runtimes and labels: the cell's)
    metric: str
    cells: tuple[Cell, ...]

    def to_json(self) -> dict[str, Any]:
        """What the store keeps of the spec (normalized)."""
        return {
            "name": self.name,
            "path": str(self.path),
            "workdir": str(self.workdir),
            "metric": self.metric,
            "runtimes": list(self.runtimes),
            "models": [
                {
                    "name": m.name,
                    "path": str(m.path),
                    "sha256": m.sha256,
                    "input_dims": _dims_json(m.input_dims),
                    "calibration": str(m.calibration.path),
                    "eval": str(m.eval.path),
                    "labels": str(m.labels.path) if m.labels else None,
                }
                for m in self.models
            ],
            "grid": [dict(s.varying) for s in self.settings if not s.goal],
            "goals": [s.goal for s in self.settings if s.goal],
            "bench": _bench_values(self.bench),
        }


def load_spec(path: str | Path) -> SweepSpec:
    """Read, check and expand the spec at ``path`` (see the module doc)."""
    from workbench.engine.files import read_regular_bytes

    path = Path(path).absolute()
    if path.is_dir():
        raise BadInput(f"sweep spec {path} is a directory; give a .toml file")
    text = read_regular_bytes(path, what="sweep spec", limit=MAX_SPEC_BYTES)  # not a FIFO
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInput(f"sweep spec {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"sweep spec {path}: not valid TOML: {exc}") from None
    except RecursionError:  # arrays nested thousands deep
        raise BadInput(f"sweep spec {path}: not valid TOML (nested too deeply)") from None
    return parse_spec(data, path)


def parse_spec(data: Mapping[str, Any], path: Path) -> SweepSpec:
    """The spec of ``data`` (a TOML document read from ``path``; relative paths in it are
    relative to the spec's folder)."""
    where = str(path)
    _known(data, _TOP_KEYS, where)
    base = path.parent
    name = _text(data.get("name", path.stem), f"{where}: name")
    if not name.strip() or len(name) > 200 or name != name.strip():
        raise BadInput(f"{where}: name {visible(name)!r}: 1-200 characters, no outer spaces")
    check_name(name, f"{where}: sweep name")  # it names the sweep's experiment too
    workdir = base / _text(data.get("workdir", f"{path.stem}-sweep"), f"{where}: workdir")
    runtimes = parse_runtimes(_runtimes_value(data.get("runtimes"), where))
    metric = _metric(data.get("metric", DEFAULT_METRIC), where)
    defaults = {k: data.get(k) for k in ("calibration", "eval", "labels")}
    cache: dict[Path, DataSet] = {}
    models = tuple(_models(data.get("models"), defaults, base, where, cache))
    if metric == LABEL_ACCURACY and any(m.labels is None for m in models):
        raise BadInput(f"{where}: metric 'label-accuracy' needs 'labels' for every model")
    goals = _goals(data, where)
    grid = data.get("grid", {}) if "grid" in data or not goals else None
    settings = (*(_settings(grid, base, where) if grid is not None else ()), *goals)
    if goals and not any(r in AUTOQUANT_RUNTIMES for r in runtimes):
        raise BadInput(f"{where}: goals search on {', '.join(AUTOQUANT_RUNTIMES)}: list one "
                       "of them in runtimes")  # fmt: skip
    bench = _bench(data.get("bench", {}), where)
    cells = tuple(
        Cell(m, s, r, _cell_key(m, s, r, bench))
        for m in models
        for s in settings
        for r in runtimes
        if not s.goal or r in AUTOQUANT_RUNTIMES  # a goal: the runtimes autoquant targets
    )
    return SweepSpec(name, path, workdir, models, settings, runtimes, bench, metric, cells)


# --------------------------------------------------------------------------- models


def _models(
    entries: Any,
    defaults: Mapping[str, Any],
    base: Path,
    where: str,
    cache: dict[Path, DataSet],
) -> Iterable[ModelSpec]:
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{where}: give the models as [[models]] tables, each with a path")
    seen: dict[str, str] = {}
    for i, entry in enumerate(entries, start=1):
        at = f"{where}: models[{i}]"
        if not isinstance(entry, Mapping):
            raise BadInput(f'{at}: expected a table with path = "MODEL"')
        _known(entry, _MODEL_KEYS, at)
        if "path" not in entry:
            raise BadInput(f"{at}: no path")
        model_path = base / _text(entry["path"], f"{at}: path")
        sha = _model_sha(model_path, at)
        dims = _input_dims(entry.get("input-dims", entry.get("input_dims", {})), at)
        model = ModelSpec(
            name=_text(entry.get("name", _stem(model_path)), f"{at}: name"),
            path=model_path,
            sha256=sha,
            input_dims=dims,
            calibration=_dataset(entry, defaults, "calibration", base, at, cache),
            eval=_dataset(entry, defaults, "eval", base, at, cache),
            labels=_optional_dataset(entry, defaults, "labels", base, cache),
        )
        if model.key in seen:
            raise BadInput(f"{at}: the same model as {seen[model.key]} (same content and dims)")
        seen[model.key] = f"models[{i}]"
        yield model


def _model_sha(path: Path, at: str) -> str:
    from workbench.jobs.artifacts import source_sha256

    if not path.exists():
        raise NotFound(f"{at}: model {path} does not exist")
    if path.is_file() and path.suffix.lower() not in MODEL_SUFFIXES:
        raise BadInput(
            f"{at}: {path}: expected an ONNX (.onnx), TFLite (.tflite), TensorFlow "
            "(SavedModel folder, .pb, .keras, .h5) model or a float container (.dlc)"
        )
    try:
        return source_sha256(path)
    except OSError as exc:
        raise BadInput(f"{at}: cannot read {path}: {exc.strerror or exc}") from None


def _input_dims(value: Any, at: str) -> dict[str, tuple[int, ...]]:
    if not isinstance(value, Mapping):
        raise BadInput(f"{at}: input-dims is a table: {{ NAME = [1, 3, 224, 224] }}")
    dims = {}
    for name, shape in value.items():
        if (
            not isinstance(shape, list)
            or not shape
            or any(
                isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_TENSOR_ELEMENTS
                for d in shape
            )
        ):
            raise BadInput(
                f"{at}: input-dims {visible(name)}: a list of integers from 1 to "
                f"{MAX_TENSOR_ELEMENTS}, got {visible(shape)}"
            )
        dims[str(name)] = tuple(shape)
    return dims


def _dataset(
    entry: Mapping[str, Any],
    defaults: Mapping[str, Any],
    key: str,
    base: Path,
    at: str,
    cache: dict[Path, DataSet],
) -> DataSet:
    found = _optional_dataset(entry, defaults, key, base, cache)
    if found is None:
        raise BadInput(f'{at}: no {key} input list (give {key} = "LIST" here or at the top)')
    return found


def _optional_dataset(
    entry: Mapping[str, Any],
    defaults: Mapping[str, Any],
    key: str,
    base: Path,
    cache: dict[Path, DataSet],
) -> DataSet | None:
    value = entry.get(key, defaults.get(key))
    if value is None:
        return None
    path = base / _text(value, f"{key}")
    if path not in cache:
        files = [path] if key == "labels" else list_files(path)
        cache[path] = DataSet(path, files_digest(path, files))
    return cache[path]


def list_files(path: Path) -> list[Path]:
    """The list itself and every file an input list names (relative to its folder)."""
    from workbench.engine.files import read_regular_text

    try:  # a regular file of sane size: a FIFO or /dev/zero would never end
        text = read_regular_text(path, what="input list", error=InputListError)
    except NotFound as exc:
        raise InputListError(str(exc)) from None
    files = [path]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for token in line.split():
            name = token.partition(":=")[2] or token
            file = Path(name).expanduser()
            files.append(file if file.is_absolute() else path.parent / file)
    return files


def files_digest(path: Path, files: Sequence[Path]) -> str:
    """sha256 over the files' contents, in order (a missing one is an error naming it)."""
    from workbench.engine.container import file_sha256

    digest = hashlib.sha256()
    for f in files:
        try:
            digest.update(bytes.fromhex(file_sha256(f)))
        except FileNotFoundError:
            raise InputListError(f"{path}: {f} does not exist") from None
        except OSError as exc:
            raise InputListError(f"{path}: cannot read {f}: {exc.strerror or exc}") from None
    return digest.hexdigest()


# --------------------------------------------------------------------------- the grid

_QUANTIZE = {o.name: o for o in QUANTIZE_OPTIONS}


def _settings(grid: Any, base: Path, where: str) -> Iterable[Setting]:
    if not isinstance(grid, Mapping):
        raise BadInput(f"{where}: [grid] is a table of quantize options")
    axes: list[tuple[str, list[Any]]] = []
    for raw_key, value in grid.items():
        key = str(raw_key).replace("-", "_")
        option = _QUANTIZE.get(key)
        if option is None:
            raise BadInput(
                f"{where}: grid: unknown quantize option {raw_key!r} "
                f"(options: {', '.join(_QUANTIZE)})"
            )
        if any(k == key for k, _ in axes):
            raise BadInput(f"{where}: grid: {key} is given twice")
        items = value if isinstance(value, list) else [value]
        if not items:
            raise BadInput(f"{where}: grid: {key} = [] leaves nothing to sweep")
        checked = [_grid_value(option, v, base, where) for v in items]
        distinct = {json.dumps(v, sort_keys=True): v for v in checked}  # lists are values too
        axes.append((key, list(distinct.values())))  # one setting per distinct value
    for combination in itertools.product(*(values for _, values in axes)):
        chosen = dict(zip((k for k, _ in axes), combination, strict=True))
        yield _setting(chosen, {k for k, values in axes if len(values) > 1} or set(), where)


def _grid_value(option: Option, value: Any, base: Path, where: str) -> Any:
    """``value`` for ``option`` as JSON data, checked by its declaration."""
    at = f"{where}: grid: {option.name}"
    if option.type is bool and not isinstance(value, bool):
        raise BadInput(f"{at}: expected true or false, got {value!r}")
    if option.many and isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if option.path:
        value = str(base / _text(value, at))
        if option.must_exist and not Path(value).is_file():
            raise NotFound(f"{at}: {value} does not exist")
    try:
        checked = option.check(value)
    except BadInput as exc:
        raise BadInput(f"{at}: {exc}") from None
    return list(checked) if isinstance(checked, tuple) else checked


def _setting(chosen: Mapping[str, Any], varying_keys: set[str], where: str) -> Setting:
    quant = {k: v for k, v in chosen.items() if k != "analyze"}
    try:
        options = QuantOptions(**quant)
    except BadInput as exc:
        raise BadInput(f"{where}: grid: {exc}") from None
    analyze = bool(chosen.get("analyze", _QUANTIZE["analyze"].default))
    values = {**options.to_dict(), "analyze": analyze}
    identity = {k: _by_content(_QUANTIZE[k], v) for k, v in values.items()}
    varying = {k: v for k, v in chosen.items() if k in varying_keys}
    return Setting(options, analyze, varying, _digest(identity))


def _by_content(option: Option, value: Any) -> Any:
    """A file option's value as its content's digest (the path is only where it is)."""
    if option.path and value is not None:
        from workbench.engine.container import file_sha256

        return {"sha256": file_sha256(value)}
    return value


# --------------------------------------------------------------------------- goals

_AUTOQUANT = {o.name: o for o in AUTOQUANT_OPTIONS}


def _goals(data: Mapping[str, Any], where: str) -> list[Setting]:
    """``goals = ["sqnr>=25", ...]``: one autoquant cell per model, goal and runtime."""
    value = data.get("goals")
    budget = data.get("goal-budget-minutes")
    if value is None:
        if budget is not None:
            raise BadInput(f"{where}: goal-budget-minutes without goals")
        return []
    if not isinstance(value, list) or not value or not all(isinstance(g, str) for g in value):
        raise BadInput(f'{where}: goals is a list of autoquant goals: ["sqnr>=25", "top1>=0.99"]')
    try:
        minutes = _AUTOQUANT["budget_minutes"].check(
            _AUTOQUANT["budget_minutes"].default if budget is None else budget
        )
        texts = list(dict.fromkeys(Goal.parse(g).text for g in value))
    except BadInput as exc:
        raise BadInput(f"{where}: goals: {exc}") from None
    return [
        Setting(
            QuantOptions(),
            False,
            {"goal": text},
            _digest({"goal": text, "budget": minutes}),
            goal=text,
            budget_minutes=minutes,
        )  # fmt: skip
        for text in texts
    ]


# --------------------------------------------------------------------------- the rest

_BENCH = {o.name: o for o in BENCH_OPTIONS}


def _bench(table: Any, where: str) -> BenchOptions:
    if not isinstance(table, Mapping):
        raise BadInput(f"{where}: [bench] is a table of bench options")
    values = {}
    for raw_key, value in table.items():
        key = str(raw_key).replace("-", "_")
        if key in _BENCH_FIXED:
            raise BadInput(f"{where}: bench: {key} is the sweep's to set: {_BENCH_FIXED[key]}")
        if key not in _BENCH:
            known = ", ".join(k for k in _BENCH if k not in _BENCH_FIXED)
            raise BadInput(f"{where}: bench: unknown bench option {raw_key!r} (options: {known})")
        if _BENCH[key].type is bool and not isinstance(value, bool):
            raise BadInput(f"{where}: bench: {key}: expected true or false, got {value!r}")
        values[key] = value
    try:
        return BenchOptions(**values)
    except BadInput as exc:
        raise BadInput(f"{where}: bench: {exc}") from None


def _bench_values(bench: BenchOptions) -> dict[str, Any]:
    return {k: v for k, v in bench.to_dict().items() if k not in _BENCH_FIXED}


def _cell_key(model: ModelSpec, setting: Setting, runtime: str, bench: BenchOptions) -> str:
    return _digest(
        {
            "version": KEY_VERSION,
            "model": model.key,
            "quantize": setting.key,
            "calibration": model.calibration.digest,
            "eval": model.eval.digest,
            "labels": model.labels.digest if model.labels else None,
            "bench": _bench_values(bench),
            "runtime": runtime,
        }
    )


def _runtimes_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise BadInput(f"{where}: runtimes is a list of runtime names, got {value!r}")


def _metric(value: Any, where: str) -> str:
    if value not in METRIC_COLUMNS:
        raise BadInput(f"{where}: metric must be one of {', '.join(METRIC_COLUMNS)}, got {value!r}")
    return str(value)


def _known(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in table if k not in known)
    if unknown:
        raise BadInput(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def _safe(name: str) -> str:
    """A name fit for a folder: letters, digits, ``.``, ``_`` and ``-``."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip(".")
    return cleaned[:60] or "model"


def setting_label(varying: Mapping[str, Any]) -> str:
    """A setting as people read it: the options the grid varies, ``key=value``."""
    if not varying:
        return "defaults"
    return " ".join(f"{k}={_plain(v)}" for k, v in varying.items())


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _dims_json(dims: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    return {k: list(v) for k, v in sorted(dims.items())}


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
