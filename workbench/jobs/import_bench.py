"""Import the vendor benchmark's results (snpe_bench.py) as device-measured benchmark runs.

snpe_bench.py writes ``benchmark_stats_<name>.csv`` and, with ``-json``, a JSON file.
Two writers exist (both read here, from the SDK's ``snpebm`` / ``bm_utils`` writer code):

* **CSV, SNPE 2.x writer**: a metadata block (``SNPE SDK version:``, ``Configuration
  used:``, ``Device Info:``), then one table per measurement. A table's first row has
  one header cell per runtime group, ``<RUNTIME>[_<buffer>]_<timing|mem>(<N> runs)``,
  spread three cells apart; its second row names the group's columns, **four** per
  group (``avg (us)``, ``max (us)``, ``min (us)``, ``std_dev (us)``) plus a
  ``Resources`` column when the group reported resources (HTP linting). So the header
  cells do not sit above their columns: groups are read from the second row (each
  starts at its ``avg`` cell) and matched to the header cells in order. The writer
  appends a row's cells as avg, max, min, std_dev (if the row has one), Resources (if
  it has one), then padding: a row without resources is one cell short, shifting the
  following groups left, and a row without std_dev has its resources in the std_dev
  column; both are undone row by row (``_read_group``: a resources value is words,
  never a number). ``std_dev`` is ``NA`` below two samples.
* **CSV, SNPE 1.x writer**: the same layout with four cells per header and columns
  ``avg``, ``max``, ``min`` and ``runtime`` (the runtime each row ran on).
* **JSON**: the metadata as top-level keys (SDK version, device properties *and* the
  configuration keys: ``Name``, ``Runs``, ``Runtimes``, ``Model:...``), then
  ``Execution_Data`` mapping ``<RUNTIME>[_<buffer>]`` (timing) and ``..._mem`` to
  ``{channel: {"Avg_Time", "Max_Time", "Min_Time", "StdDev_Time" | "Runtime"}}``
  (``_Size`` for memory). Its ``Units`` key is the last table's unit; ignored.

Each runtime group becomes one benchmark run with ``device_measured`` true: init time =
``Init`` (avg), its breakdown = ``Load`` / ``Deserialize`` / ``Create`` / ``De-Init`` and
the accelerator init channels (avg, ms), latency mean and min = ``Total Inference Time``
(p50/p90 are not reported by the tool), iterations = the number of runs. Everything
else is kept in ``options`` (see ``_options``). Time channels are microseconds in the
file and milliseconds in the store, *except* per-layer rows on the DSP and AIP of SNPE
2.x (the HTP reports per-op **cycles**, SNPE docs ``general/linting_profile.html``; the
writer labels them ``us`` anyway): those stay cycles, under ``layer_cycles`` with
``layer_unit: "cycles"`` (``"unknown"`` when the file gives no SDK version).

Runtime names are those the SDKs' ``snpebm_constants.py`` define, declared with our
runtimes (``spec.VendorName`` in ``engine/runtimes/``; ``vendor_runtimes()``); any other
is refused by name, never guessed from a prefix. ``DSP_FP16`` and
``DSP_ACT16`` run on our ``dsp`` runtime's hardware but not in its 8-bit mode: the run
keeps the precise mode in ``options.precision`` / ``options.mode``. A group with no
numbers (profiling off, a failed runtime) is stored as a ``failed`` run with
``options.empty`` true, not as a succeeded run with blank numbers.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine.files import parse_json, read_regular_text
from workbench.engine.runtimes import runtimes
from workbench.engine.runtimes.spec import VendorName
from workbench.errors import BadInput
from workbench.jobs.artifacts import model_id_of_container, record_container
from workbench.jobs.lifecycle import tracked_run
from workbench.store import Store
from workbench.vocabulary import BENCH, FAILED, SUCCEEDED

# Largest results file read (the vendor's are kilobytes; a big one has many layers).
MAX_RESULTS_BYTES = 64 << 20

_HEADER = re.compile(
    r"^\s*(?P<name>.+?)_(?P<measure>timing|mem|power)\s*"
    r"\((?P<runs>\d+)\s+runs?(?:,\s*(?P<sleep>[\d.]+)\s*s\s+sleep)?\s*\)\s*$"
)
_UNIT = re.compile(r"^\s*avg\s*\((?P<unit>[^)]*)\)\s*$", re.IGNORECASE)
_INIT_CHANNELS = {
    "load": "load",
    "deserialize": "deserialize",
    "create": "create",
    "de-init": "de_init",
    "create network(s)": "create_networks",
    "rpc init time": "rpc_init",
    "snpe accelerator init time": "accelerator_prepare",
    "accelerator init time": "accelerator_init",
}
# Buffer modes the benchmark appends to a runtime name (snpebm_constants BUFFER_MODES;
# "float" is written as no suffix by the 2.x writer).
FLOAT_BUFFER = "float"
BUFFER_MODES = (FLOAT_BUFFER, "ub_float", "ub_tf8", "ub_tf16", "ub_auto")
# The unit of a run's per-layer rows (``options.layer_unit``).
MS = "ms"
CYCLES = "cycles"  # HTP cycles (SNPE 2.x DSP/AIP)
UNKNOWN_UNIT = "unknown"  # cycles or microseconds: the file gives no SDK version
# Configuration keys the writer puts at the top level of its JSON (snpebm_jsonkeys, 1.x
# and 2.x); any "Model:<subkey>" too. The other top-level keys are device properties.
_CONFIG_KEYS = frozenset(
    {
        "Name",
        "HostRootPath",
        "HostResultsDir",
        "DevicePath",
        "Devices",
        "HostName",
        "Runs",
        "Model",
        "Runtimes",
        "Backends",
        "Architectures",
        "Compiler",
        "C++ Standard Library",
        "Measurements",
        "PerfProfile",
        "CpuFallback",
        "BufferTypes",
        "ProfilingLevel",
        "Graph Prepare",
        "SharedBuffer",
        "Date",
    }
)
_SDK_VERSION_KEYS = ("SNPE SDK version:",)


@dataclass(frozen=True)
class VendorRuntime:
    """A runtime name snpe_bench writes, and what it is on our side."""

    vendor: VendorName  # the name and its mode, as our runtime declares it
    runtime: str  # ours
    cpu_fxp: bool

    @property
    def name(self) -> str:
        return self.vendor.name

    @property
    def precision(self) -> str:
        return self.vendor.precision

    @property
    def mode(self) -> str:
        return self.vendor.mode

    @property
    def layer_cycles(self) -> bool:
        return self.vendor.layer_cycles


def vendor_runtimes() -> dict[str, VendorRuntime]:
    """Every runtime name snpe_bench writes, as the registered runtimes declare them.

    The built-in ones are the SDKs' ``snpebm_constants.py`` RUNTIMES: SNPE 1.x CPU,
    CPU_FXP8, GPU, GPU_s, GPU_FP16, DSP, AIP (GPU_FP32 in early 1.x); SNPE 2.x AIP,
    AIP_ACT16, CPU, DSP, DSP_ACT16, DSP_FP16, GPU, GPU_FP16.
    """
    found: dict[str, VendorRuntime] = {}
    for rt in runtimes():
        for cpu_fxp, vendor in rt.vendor_modes():
            found[vendor.name] = VendorRuntime(vendor, rt.name, cpu_fxp)
    return found


@dataclass(frozen=True)
class VendorStats:
    """One runtime column group: channel -> {avg, max, min[, std_dev]} in ``unit``."""

    vendor_runtime: str
    measure: str  # timing | mem | power
    runs: int | None
    channels: dict[str, dict[str, float]]
    unit: str = "us"
    channel_runtimes: dict[str, str] = field(default_factory=dict)  # 1.x "runtime" column
    resources: dict[str, str] = field(default_factory=dict)  # 2.x "Resources" column
    sleep_s: float | None = None


@dataclass(frozen=True)
class ImportedRun:
    run_id: int
    vendor_runtime: str
    runtime: str
    cpu_fxp: bool
    iterations: int | None
    init_ms: float | None
    latency_mean_ms: float | None
    latency_min_ms: float | None
    status: str = SUCCEEDED  # or FAILED: no data
    error: str | None = None
    precision: str | None = None
    mode: str | None = None
    layer_unit: str | None = None


@dataclass(frozen=True)
class ImportResult:
    source: str
    format: str  # csv | json
    sdk_version: str | None
    runs: tuple[ImportedRun, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


def vendor_runtime(name: str) -> tuple[VendorRuntime, str]:
    """``(runtime, buffer mode)`` of a group name such as ``DSP_FP16_ub_float``.

    The runtime is the longest known name the group starts with; what follows must be
    a known buffer mode, so ``DSP_FOO`` is refused rather than read as ``DSP``.
    """
    text = name.strip()
    upper = text.upper()
    known = vendor_runtimes()
    for vendor in sorted(known, key=len, reverse=True):
        if upper == vendor.upper():
            return known[vendor], FLOAT_BUFFER
        if upper.startswith(vendor.upper() + "_"):
            rest = text[len(vendor) + 1 :]
            if rest in BUFFER_MODES:
                return known[vendor], rest
    raise BadInput(
        f"unknown vendor runtime {name!r} (snpe_bench writes "
        f"{', '.join(known)}, each optionally followed by _{'/_'.join(BUFFER_MODES)})"
    )


def map_runtime(vendor: str) -> tuple[str, bool]:
    """Our (runtime, cpu_fxp) for a vendor runtime column name such as ``DSP_ub_tf8``."""
    v, _ = vendor_runtime(vendor)
    return v.runtime, v.cpu_fxp


def sdk_major(version: str | None) -> int | None:
    """The SDK's major version (``2`` for ``2.10.0.4541`` or ``v2.22``), None if unknown."""
    m = re.search(r"(\d+)\.\d+", version or "")
    return int(m.group(1)) if m else None


def layer_unit(vendor: VendorRuntime, version: str | None) -> str:
    """The unit of the per-layer rows: ``cycles`` on SNPE 2.x DSP/AIP, else ``ms``."""
    if not vendor.layer_cycles:
        return MS
    major = sdk_major(version)
    if major is None:
        return UNKNOWN_UNIT
    return CYCLES if major >= 2 else MS


# --------------------------------------------------------------------------- parsing


def parse_snpe_bench(path: str | Path) -> tuple[str, dict[str, Any], list[VendorStats]]:
    """``(format, metadata, stats)`` from a snpe_bench.py CSV or JSON results file."""
    path = Path(path)
    # A regular file of bounded size only: a FIFO or /dev/zero is refused, not read.
    text = read_regular_text(path, what="benchmark results file", limit=MAX_RESULTS_BYTES)
    if text.lstrip().startswith("{"):
        doc = parse_json(text, str(path))  # integers bounded, nesting errors one line
        meta, stats = _parse_json(doc, path)
        return "json", meta, stats
    meta, stats = _parse_csv(text, path)
    return "csv", meta, stats


def _number(cell: Any) -> float | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    cell = str(cell).strip()
    if not cell or cell.upper() in ("N/A", "NA"):
        return None
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parse_csv(text: str, path: Path) -> tuple[dict[str, Any], list[VendorStats]]:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # a field over csv's 128 KB limit, a NUL...
        raise BadInput(f"{path}: not a snpe_bench CSV ({exc})") from None
    meta: dict[str, Any] = {"configuration": {}, "device": {}}
    section = None
    stats: list[VendorStats] = []
    i = 0
    while i < len(rows):
        cells = [c.strip() for c in rows[i]]
        if any(_HEADER.match(c) for c in cells):
            i = _parse_table(rows, i, stats, path)
            section = None
            continue
        if cells and cells[0] in _SDK_VERSION_KEYS:
            meta["sdk_version"] = cells[1] if len(cells) > 1 else None
        elif cells and cells[0] == "Configuration used:":
            section = "configuration"
        elif cells and cells[0] == "Device Info:":
            section = "device"
        elif not any(cells):
            section = None
        elif section is not None and cells[0]:
            meta[section][cells[0]] = ", ".join(c for c in cells[1:] if c) or None
        i += 1
    if not stats:
        raise BadInput(
            f"{path}: no benchmark table found (expected a header like "
            "'CPU_ub_float_timing(10 runs)' as snpe_bench.py writes)"
        )
    return meta, stats


@dataclass(frozen=True)
class _Group:
    name: str
    measure: str
    runs: int
    sleep_s: float | None
    start: int  # column of its avg cell in the sub-header
    labels: tuple[str, ...]  # avg, max, min, std_dev | runtime[, Resources]
    unit: str


def _column_key(label: str) -> str:
    low = label.strip().lower()
    for key in ("avg", "max", "min", "std_dev"):
        if low.startswith(key):
            return key
    if low == "runtime":
        return "runtime"
    if low == "resources":
        return "resources"
    return ""


def _groups(header: list[str], sub: list[str], line: int, path: Path) -> list[_Group]:
    names = [m for m in (_HEADER.match(c) for c in header) if m]
    starts = [k for k, c in enumerate(sub) if _UNIT.match(c)]
    if not starts:
        raise BadInput(
            f"{path}: line {line + 1}: a runtime header without the 'avg (us)', 'max (us)', "
            "... row under it"
        )
    if len(starts) != len(names):
        raise BadInput(
            f"{path}: line {line}: {len(names)} runtime header(s) but {len(starts)} column "
            "group(s) under them"
        )
    groups = []
    for g, (m, start) in enumerate(zip(names, starts, strict=True)):
        end = starts[g + 1] if g + 1 < len(starts) else len(sub)
        labels = [c.strip() for c in sub[start:end]]
        while labels and not labels[-1]:
            labels.pop()
        keys = [_column_key(c) for c in labels]
        if keys[:3] != ["avg", "max", "min"] or "" in keys or len(set(keys)) != len(keys):
            raise BadInput(
                f"{path}: line {line + 1}: unexpected columns {labels} for "
                f"{m.group(0).strip()!r} (expected avg, max, min, std_dev or runtime, Resources)"
            )
        unit_match = _UNIT.match(sub[start])
        groups.append(
            _Group(
                m.group("name").strip(),
                m.group("measure"),
                int(m.group("runs")),
                float(m.group("sleep")) if m.group("sleep") else None,
                start,
                tuple(keys),
                unit_match.group("unit").strip() if unit_match else "",
            )
        )
    return groups


def _parse_table(rows: list[list[str]], i: int, stats: list[VendorStats], path: Path) -> int:
    """Read one table starting at header row ``i``; returns the index after it."""
    header = rows[i]
    sub = rows[i + 1] if i + 1 < len(rows) else []
    groups = _groups(header, sub, i + 1, path)
    channel_col = groups[0].start - 1
    channels: list[dict[str, dict[str, float]]] = [{} for _ in groups]
    runtimes: list[dict[str, str]] = [{} for _ in groups]
    resources: list[dict[str, str]] = [{} for _ in groups]
    i += 2
    while i < len(rows):
        row = rows[i]
        if not any(c.strip() for c in row) or any(_HEADER.match(c) for c in row):
            break
        name = row[channel_col].strip() if 0 <= channel_col < len(row) else ""
        col = groups[0].start  # groups follow each other; a row may lack a Resources cell
        for g, group in enumerate(groups):
            entry, runtime, resource, used = _read_group(row, col, group.labels)
            col += used
            if name and "avg" in entry:
                channels[g][name] = entry
                if runtime:
                    runtimes[g][name] = runtime
                if resource:
                    resources[g][name] = resource
        i += 1
    for g, group in enumerate(groups):
        stats.append(
            VendorStats(
                group.name,
                group.measure,
                group.runs,
                channels[g],
                group.unit,
                {k: v for k, v in runtimes[g].items() if k in channels[g]},
                resources[g],
                group.sleep_s,
            )
        )
    return i


def _is_text(cell: str) -> bool:
    """A cell holding words (a Resources value), not a number, ``NA`` or padding."""
    return bool(cell) and _number(cell) is None and cell.upper() not in ("NA", "N/A")


def _read_group(
    row: list[str], col: int, labels: tuple[str, ...]
) -> tuple[dict[str, float], str | None, str | None, int]:
    """``(numbers, runtime, resources, cells used)`` of one group in one data row.

    The 2.x writer appends a row's cells as avg, max, min, std_dev (if it has one),
    Resources (if it has one), then the std_dev padding (if it had none): so a
    resources value sits in the std_dev column when the row has no std_dev, and a row
    without resources has one cell fewer than the header's columns.
    """

    def cell(k: int) -> str:
        return row[col + k].strip() if col + k < len(row) else ""

    entry: dict[str, float] = {}
    runtime = resource = None
    k = 0
    std_padding = False
    for key in labels:
        text = cell(k)
        if key == "runtime":
            runtime = text or None
        elif key == "resources":
            if std_padding:
                pass  # this cell is the std_dev padding written after the resources
            elif _is_text(text):
                resource = text
            else:
                continue  # no resources on this row: no cell either
        elif key == "std_dev" and "resources" in labels and _is_text(text):
            resource, std_padding = text, True
        else:
            value = _number(text)
            if value is not None:
                entry[key] = value
        k += 1
    return entry, runtime, resource, k


def _parse_json(doc: Any, path: Path) -> tuple[dict[str, Any], list[VendorStats]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("Execution_Data"), dict):
        raise BadInput(f"{path}: no 'Execution_Data' (not a snpe_bench.py JSON results file)")
    sdk_key = next((k for k in _SDK_VERSION_KEYS if k in doc), None)
    meta: dict[str, Any] = {
        "sdk_version": doc.get(sdk_key) if sdk_key else None,
        "configuration": {},
        "device": {},
    }
    for key, value in doc.items():
        if key in ("Execution_Data", "Units") or key == sdk_key:
            continue
        section = "configuration" if key in _CONFIG_KEYS or key.startswith("Model:") else "device"
        meta[section][key] = value
    runs = _json_runs(doc)
    stats = []
    for key, channels in doc["Execution_Data"].items():
        if not isinstance(channels, dict):
            continue
        measure = "timing"
        name = key
        for suffix in ("mem", "power", "timing"):
            if key.endswith("_" + suffix):
                measure, name = suffix, key[: -len(suffix) - 1]
                break
        parsed: dict[str, dict[str, float]] = {}
        chan_runtimes: dict[str, str] = {}
        unit = {"timing": "us", "mem": "kB", "power": "A"}[measure]
        for channel, values in channels.items():
            if not isinstance(values, dict):
                continue
            entry = {}
            for ours, theirs in (("avg", "Avg_"), ("max", "Max_"), ("min", "Min_")):
                for suffix in ("Time", "Size"):
                    v = _number(values.get(theirs + suffix)) if theirs + suffix in values else None
                    if v is not None:
                        entry[ours] = v
            for suffix in ("Time", "Size"):
                v = values.get("StdDev_" + suffix)
                if v is not None and _number(v) is not None:
                    entry["std_dev"] = _number(v)  # type: ignore[assignment]
            if "avg" in entry:
                parsed[channel] = entry
                if isinstance(values.get("Runtime"), str):
                    chan_runtimes[channel] = values["Runtime"]
        stats.append(VendorStats(name, measure, runs, parsed, unit, chan_runtimes))
    if not stats:
        raise BadInput(f"{path}: 'Execution_Data' holds no runtime")
    return meta, stats


def _json_runs(doc: Mapping[str, Any]) -> int | None:
    for key in ("Runs", "Iterations", "runs"):
        v = doc.get(key)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
    return None


# --------------------------------------------------------------------------- storing


def _scaled(values: Mapping[str, float], factor: float) -> dict[str, float]:
    return {k: v / factor for k, v in values.items()}


@dataclass(frozen=True)
class _Source:
    """The results file: its path, format (csv or json) and metadata."""

    path: str
    fmt: str
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class _Target:
    """Where the runs are recorded: the store, the project, the container measured."""

    store: Store
    project: str
    model_id: int | None
    container_id: int | None
    command: str | None


@dataclass(frozen=True)
class _Measured:
    """One vendor runtime of the file, with its timing, memory and power tables."""

    name: str
    vendor: VendorRuntime
    buffer: str
    timing: VendorStats | None
    mem: VendorStats | None
    power: VendorStats | None

    @property
    def runs(self) -> int | None:
        tables = (self.timing, self.mem, self.power)
        return next((s.runs for s in tables if s is not None), None)

    @property
    def empty(self) -> bool:
        return self.timing is None or not self.timing.channels


def _options(measured: _Measured, src: _Source) -> dict[str, Any]:
    """What a run keeps beyond its columns; every number of the group is here."""
    s, mem, power = measured.timing, measured.mem, measured.power
    vendor, buffer, group = measured.vendor, measured.buffer, measured.name
    meta, source, fmt = src.meta, src.path, src.fmt
    options: dict[str, Any] = {
        "command": "import snpe-bench",
        "source_file": source,
        "source_format": fmt,
        "vendor_runtime": group,
        "vendor_mode": vendor.name,
        "buffer_mode": buffer,
        "precision": vendor.precision,
        "mode": vendor.mode,
        "sdk_version": meta.get("sdk_version"),
        "device": meta.get("device") or {},
        "configuration": meta.get("configuration") or {},
    }
    if s is not None:
        if s.unit and s.unit != "us":
            raise BadInput(f"{source}: {group} timing is in {s.unit!r}, expected microseconds")
        unit = layer_unit(vendor, meta.get("sdk_version"))
        layers = {k: v for k, v in s.channels.items() if k.lower().startswith("layer_")}
        others = {k: v for k, v in s.channels.items() if k not in layers}
        options["channels_ms"] = {k: _scaled(v, 1e3) for k, v in others.items()}
        if layers:
            factor = 1e3 if unit == MS else 1.0
            stats = {k: _scaled(v, factor) for k, v in layers.items()}
            options["layer_unit"] = unit
            options["layer_stats"] = stats
            key = {MS: "layer_ms", CYCLES: "layer_cycles"}.get(unit, "layer_raw")
            options[key] = {k: v["avg"] for k, v in stats.items()}
        if s.channel_runtimes:
            options["channel_runtimes"] = dict(s.channel_runtimes)
        if s.resources:
            options["resources"] = dict(s.resources)
        if s.sleep_s is not None:
            options["sleep_s"] = s.sleep_s
    if mem is not None:
        options["memory_kb"] = mem.channels
    if power is not None:
        options["power_a"] = power.channels
    return options


def import_snpe_bench(
    store: Store,
    project: str,
    path: str | Path,
    *,
    container_path: str | Path | None = None,
    command: str | None = None,
) -> ImportResult:
    """Store every runtime of a snpe_bench.py results file as a device-measured run."""
    fmt, meta, stats = parse_snpe_bench(path)
    by_measure: dict[str, dict[str, VendorStats]] = {"timing": {}, "mem": {}, "power": {}}
    order: list[str] = []
    for s in stats:
        by_measure[s.measure][s.vendor_runtime] = s
        if s.vendor_runtime not in order:
            order.append(s.vendor_runtime)
    mapped = {name: vendor_runtime(name) for name in order}  # all or nothing
    container_id = model_id = None
    if container_path is not None:
        container_id = record_container(store, project, container_path)
        model_id = model_id_of_container(store, container_id)
    src = _Source(str(Path(path).resolve()), fmt, meta)
    target = _Target(store, project, model_id, container_id, command)
    imported = []
    for name in order:
        vendor, buffer = mapped[name]
        measured = _Measured(
            name, vendor, buffer, *(by_measure[m].get(name) for m in ("timing", "mem", "power"))
        )
        options = _options(measured, src)
        if measured.empty:
            options["empty"] = True
        imported.append(_store_run(target, measured, options, src.path))
    return ImportResult(
        source=src.path,
        format=fmt,
        sdk_version=meta.get("sdk_version"),
        runs=tuple(imported),
        metadata=meta,
    )


def _store_run(
    target: _Target, measured: _Measured, options: dict[str, Any], source: str
) -> ImportedRun:
    store, name, vendor = target.store, measured.name, measured.vendor
    runs, timing, empty = measured.runs, measured.timing, measured.empty
    args = {
        "project": target.project,
        "kind": BENCH,
        "model_id": target.model_id,
        "container_id": target.container_id,
        "command": target.command,
        "runtime": vendor.runtime,
        "cpu_fxp": vendor.cpu_fxp,
        "device_measured": True,
        "iterations": runs,
        "options": options,
    }
    common = {
        "vendor_runtime": name,
        "runtime": vendor.runtime,
        "cpu_fxp": vendor.cpu_fxp,
        "iterations": runs,
        "precision": vendor.precision,
        "mode": vendor.mode,
        "layer_unit": options.get("layer_unit"),
    }
    if empty:
        what = "no timing table" if timing is None else "an empty timing table"
        reason = (
            f"{name}: {what} in {Path(source).name} (profiling off, or the runtime "
            "failed on the device): nothing measured to import"
        )
        run_id = 0
        try:
            with tracked_run(store, **args) as run:
                run_id = run.id
                run.log(f"imported from {source} ({name}): no measurements")
                raise BadInput(reason)
        except BadInput:
            pass  # recorded as the run's error
        return ImportedRun(
            run_id=run_id,
            init_ms=None,
            latency_mean_ms=None,
            latency_min_ms=None,
            status=FAILED,
            error=reason,
            **common,
        )
    assert timing is not None
    lower = {k.strip().lower(): v for k, v in timing.channels.items()}
    init = lower.get("init")
    total = lower.get("total inference time")
    breakdown = {
        ours: lower[theirs]["avg"] / 1e3
        for theirs, ours in _INIT_CHANNELS.items()
        if theirs in lower
    }
    init_ms = init["avg"] / 1e3 if init else None
    mean_ms = total["avg"] / 1e3 if total else None
    min_ms = total["min"] / 1e3 if total and "min" in total else None
    with tracked_run(store, **args) as run:
        run.record(
            init_time_ms=init_ms,
            init_breakdown=breakdown,
            latency_mean_ms=mean_ms,
            latency_min_ms=min_ms,
        )
        run.log(f"imported from {source} ({name}: {vendor.mode}, measured on the device)")
        if options.get("layer_unit") == CYCLES:
            run.log("per-layer rows are HTP cycles (SNPE 2.x), kept as cycles")
    return ImportedRun(
        run_id=run.id, init_ms=init_ms, latency_mean_ms=mean_ms, latency_min_ms=min_ms, **common
    )
