"""Import the vendor benchmark's results (snpe_bench.py) as device-measured benchmark runs.

snpe_bench.py writes ``benchmark_stats_<name>.csv``: a metadata block (``SNPE SDK
version:``, ``Configuration used:``, ``Device Info:``), then one table per measurement
type. A table has a header row naming each runtime column group
(``<RUNTIME>_<flavor>_timing(<N> runs)``, four columns: ``avg (us)``, ``max (us)``,
``min (us)``, ``runtime``; memory tables say ``_mem`` and ``kB``) and one row per
channel: ``Load``, ``Deserialize``, ``Create``, ``Init``, ``De-Init``, ``Total Inference
Time``, ``Forward Propagate``, per-layer ``layer_NNN (Name:... Type:...)`` rows, ... With
``-json`` it also writes a JSON file: the metadata as keys, ``Execution_Data`` mapping
each ``<RUNTIME>_<flavor>`` to ``{channel: {"Avg_Time", "Max_Time", "Min_Time",
"Runtime"}}`` and ``Units``.

Each runtime column group becomes one benchmark run with ``device_measured`` true:
init time = ``Init`` (avg), its breakdown = ``Load`` / ``Deserialize`` / ``Create`` /
``De-Init`` and the other init channels (avg, ms), latency mean and min = ``Total
Inference Time`` (avg, min; p50 and p90 are not reported by the tool), iterations = the
number of runs. Everything else (max values, ``Forward Propagate``, per-layer times,
memory tables, SDK version, device info, the vendor runtime name) is kept in
``options``. Vendor runtimes map to ours: ``CPU`` → cpu, ``CPU_FXP8`` → cpu with
``cpu_fxp``, ``GPU``/``GPU_s`` → gpu, ``GPU_FP16`` → gpu_fp16, ``DSP`` → dsp, ``AIP`` →
aip. (The vendor's ``GPU`` stores data in float16 with float32 math — our
``gpu_fp16`` — and its ``GPU_FP16`` computes in float16 too; the vendor name is kept.)
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
from workbench.errors import BadInput
from workbench.jobs.artifacts import model_id_of_container, record_container
from workbench.jobs.lifecycle import tracked_run
from workbench.store import Store

# Largest results file read (the vendor's are kilobytes; a big one has many layers).
MAX_RESULTS_BYTES = 64 << 20

_HEADER = re.compile(
    r"^\s*(?P<name>.+?)_(?P<measure>timing|mem)\s*\((?P<runs>\d+)\s+runs?[^)]*\)\s*$"
)
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
_VENDOR_RUNTIMES = (  # longest prefix first
    ("CPU_FXP8", "cpu", True),
    ("GPU_FP16", "gpu_fp16", False),
    ("GPU_S", "gpu", False),
    ("GPU", "gpu", False),
    ("DSP", "dsp", False),
    ("AIP", "aip", False),
    ("CPU", "cpu", False),
)


@dataclass(frozen=True)
class VendorStats:
    """One runtime column group: channel -> {avg, max, min} (``us`` or ``kB``)."""

    vendor_runtime: str
    measure: str  # timing | mem
    runs: int | None
    channels: dict[str, dict[str, float]]


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


@dataclass(frozen=True)
class ImportResult:
    source: str
    format: str  # csv | json
    sdk_version: str | None
    runs: tuple[ImportedRun, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


def map_runtime(vendor: str) -> tuple[str, bool]:
    """Our (runtime, cpu_fxp) for a vendor runtime column name such as ``DSP_ub_tf8``."""
    upper = vendor.strip().upper()
    for prefix, runtime, fxp in _VENDOR_RUNTIMES:
        if upper == prefix or upper.startswith(prefix + "_"):
            return runtime, fxp
    raise BadInput(
        f"unknown vendor runtime {vendor!r} (expected CPU, CPU_FXP8, GPU, GPU_FP16, DSP or AIP)"
    )


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


def _number(cell: str) -> float | None:
    cell = cell.strip()
    if not cell or cell.upper() == "N/A":
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
        row = rows[i]
        cells = [c.strip() for c in row]
        groups = [(k, _HEADER.match(c)) for k, c in enumerate(row) if _HEADER.match(c)]
        if groups:
            i = _parse_table(rows, i, groups, stats)
            section = None
            continue
        if cells and cells[0] == "SNPE SDK version:":
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


def _parse_table(rows: list[list[str]], i: int, groups, stats: list[VendorStats]) -> int:
    """Read one table starting at header row ``i``; returns the index after it."""
    channel_col = groups[0][0] - 1
    blocks = []
    for k, m in groups:
        blocks.append((k, m.group("name").strip(), m.group("measure"), int(m.group("runs"))))
    i += 1
    if i < len(rows) and any("avg" in c.lower() for c in rows[i]):
        i += 1  # the avg / max / min / runtime sub-header
    channels: list[dict[str, dict[str, float]]] = [{} for _ in blocks]
    while i < len(rows):
        row = rows[i]
        if not any(c.strip() for c in row) or any(_HEADER.match(c) for c in row):
            break
        name = row[channel_col].strip() if channel_col < len(row) else ""
        if name:
            for b, (k, *_rest) in enumerate(blocks):
                values = [_number(row[j]) if j < len(row) else None for j in (k, k + 1, k + 2)]
                if values[0] is not None:
                    entry = {"avg": values[0]}
                    if values[1] is not None:
                        entry["max"] = values[1]
                    if values[2] is not None:
                        entry["min"] = values[2]
                    channels[b][name] = entry
        i += 1
    for (_, name, measure, runs), ch in zip(blocks, channels, strict=True):
        stats.append(VendorStats(name, measure, runs, ch))
    return i


def _parse_json(doc: Any, path: Path) -> tuple[dict[str, Any], list[VendorStats]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("Execution_Data"), dict):
        raise BadInput(f"{path}: no 'Execution_Data' (not a snpe_bench.py JSON results file)")
    meta: dict[str, Any] = {
        "sdk_version": doc.get("SNPE SDK version:"),
        "device": {
            k: v
            for k, v in doc.items()
            if k not in ("Execution_Data", "Units", "SNPE SDK version:")
        },
    }
    runs = _json_runs(doc)
    stats = []
    for key, channels in doc["Execution_Data"].items():
        if not isinstance(channels, dict):
            continue
        measure = "mem" if key.endswith("_mem") else "timing"
        name = key.removesuffix("_mem").removesuffix("_timing")
        parsed: dict[str, dict[str, float]] = {}
        for channel, values in channels.items():
            if not isinstance(values, dict):
                continue
            entry = {}
            for ours, theirs in (("avg", "Avg_"), ("max", "Max_"), ("min", "Min_")):
                for suffix in ("Time", "Size"):
                    v = values.get(theirs + suffix)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        entry[ours] = float(v)
            if "avg" in entry:
                parsed[channel] = entry
        stats.append(VendorStats(name, measure, runs, parsed))
    if not stats:
        raise BadInput(f"{path}: 'Execution_Data' holds no runtime")
    return meta, stats


def _json_runs(doc: Mapping[str, Any]) -> int | None:
    for key in ("Runs", "Iterations", "runs"):
        v = doc.get(key)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


# --------------------------------------------------------------------------- storing


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
    timing = [s for s in stats if s.measure == "timing"]
    memory = {s.vendor_runtime: s for s in stats if s.measure == "mem"}
    if not timing:
        raise BadInput(f"{path}: no timing table to import")
    container_id = model_id = None
    if container_path is not None:
        container_id = record_container(store, project, container_path)
        model_id = model_id_of_container(store, container_id)
    source = str(Path(path).resolve())
    mapped = [map_runtime(s.vendor_runtime) for s in timing]  # all or nothing
    imported = []
    for s, (runtime, fxp) in zip(timing, mapped, strict=True):
        ch = {k.strip(): v for k, v in s.channels.items()}
        lower = {k.lower(): v for k, v in ch.items()}
        init = lower.get("init")
        total = lower.get("total inference time")
        breakdown = {
            ours: lower[theirs]["avg"] / 1e3
            for theirs, ours in _INIT_CHANNELS.items()
            if theirs in lower
        }
        layers = {k: v["avg"] / 1e3 for k, v in ch.items() if k.lower().startswith("layer_")}
        other = {
            k: {kk: vv / 1e3 for kk, vv in v.items()}
            for k, v in ch.items()
            if not k.lower().startswith("layer_")
        }
        options: dict[str, Any] = {
            "command": "import snpe-bench",
            "source_file": source,
            "source_format": fmt,
            "vendor_runtime": s.vendor_runtime,
            "sdk_version": meta.get("sdk_version"),
            "device": meta.get("device") or {},
            "configuration": meta.get("configuration") or {},
            "channels_ms": other,  # avg / max / min of every non-layer channel
        }
        if layers:
            options["layer_ms"] = layers
        mem = memory.get(s.vendor_runtime)
        if mem is not None:
            options["memory_kb"] = mem.channels
        with tracked_run(
            store,
            project=project,
            kind="bench",
            model_id=model_id,
            container_id=container_id,
            command=command,
            runtime=runtime,
            cpu_fxp=fxp,
            device_measured=True,
            iterations=s.runs,
            options=options,
        ) as run:
            run.record(
                init_time_ms=init["avg"] / 1e3 if init else None,
                init_breakdown=breakdown,
                latency_mean_ms=total["avg"] / 1e3 if total else None,
                latency_min_ms=total["min"] / 1e3 if total and "min" in total else None,
            )
            run.log(f"imported from {source} ({s.vendor_runtime}, measured on the device)")
        imported.append(
            ImportedRun(
                run_id=run.id,
                vendor_runtime=s.vendor_runtime,
                runtime=runtime,
                cpu_fxp=fxp,
                iterations=s.runs,
                init_ms=init["avg"] / 1e3 if init else None,
                latency_mean_ms=total["avg"] / 1e3 if total else None,
                latency_min_ms=total["min"] / 1e3 if total and "min" in total else None,
            )
        )
    return ImportResult(
        source=source,
        format=fmt,
        sdk_version=meta.get("sdk_version"),
        runs=tuple(imported),
        metadata=meta,
    )
