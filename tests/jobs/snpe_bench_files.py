"""Result files laid out exactly as snpe_bench.py lays them out, for the importer's tests.

The SDK's writers are not redistributable, so their logic is mirrored here step by step
from their code (read through the ``search`` tool):

* ``bm_utils/bm_writer.py`` (Qualcomm, 2020-2023, used by SNPE 2.x's snpe_bench.py):
  ``writecsv`` puts per group a header cell ``{runtime_flavor_measure}({N} runs)`` and
  two blank cells (three wide) over four columns ``avg/max/min/std_dev ({unit})``, plus
  ``Resources`` when the group has resources; a row's cells are appended avg, max,
  min, std_dev (rows that have one), Resources (rows that have one), then blank padding
  for whatever the group lacks; a channel first seen in a later group is padded with
  four blanks per earlier group. ``writejson`` writes the SDK version, the device info
  and the configuration as top-level keys and ``Execution_Data[runtime_flavor]``
  (``split('_timing')[0]``, so memory keys keep ``_mem``) of ``{Avg_, Max_, Min_,
  StdDev_}Time|Size``, and ``Units`` of the last table.
* ``snpebm/snpebm_writer.py`` (Qualcomm, 2016-2019, SNPE 1.x): four-wide headers over
  ``avg/max/min ({unit})`` and ``runtime``; JSON entries carry ``Runtime`` instead of
  ``StdDev_``.

``runtime_flavor_measure`` is ``{RUNTIME}_{buffer}_{measure}``, or ``{RUNTIME}_{measure}``
for the plain ``float`` buffer mode (2.x ``Config.runtime_flavors``).
"""

from __future__ import annotations

import csv
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPACE = " "
UNITS = {"timing": "us", "mem": "kB"}


@dataclass
class Bench:
    """One benchmark (runtime, buffer mode, measurement) with its statistics."""

    runtime: str
    flavor: str  # "" for the float buffer mode
    measure: str  # timing | mem
    avg: dict[str, float]
    max: dict[str, float]
    min: dict[str, float]
    stddev: dict[str, Any] = field(default_factory=dict)  # 2.x: number or "NA"
    runtimes: dict[str, str] = field(default_factory=dict)  # 1.x: channel -> runtime
    resources: dict[str, str] = field(default_factory=dict)  # 2.x: channel -> resources

    @property
    def runtime_flavor_measure(self) -> str:
        if self.flavor:
            return f"{self.runtime}_{self.flavor}_{self.measure}"
        return f"{self.runtime}_{self.measure}"


@dataclass
class Results:
    sdk_version: str
    benches: list[Bench]
    iterations: int
    config_rows: list[list[Any]]  # Config.csvrows
    config_json: dict[str, Any]  # Config.jsonrows
    device_info: list[list[Any]]  # [[property, value]]
    sleeptime: int = 0
    sdk_header: str = "SNPE SDK version:"


def _tables(results: Results) -> dict[str, list[Bench]]:
    tables: dict[str, list[Bench]] = {}
    for bm in results.benches:
        tables.setdefault(bm.measure, []).append(bm)
    return tables


def _metadata(writer: Any, results: Results) -> None:
    writer.writerow([results.sdk_header, results.sdk_version])
    writer.writerow([])
    writer.writerow(["Configuration used:"])
    writer.writerows(results.config_rows)
    writer.writerow([])
    writer.writerow(["Device Info:"])
    writer.writerows(results.device_info)
    writer.writerow([])


def _header(results: Results, bm: Bench) -> str:
    if results.sleeptime == 0:
        return f"{bm.runtime_flavor_measure}({results.iterations} runs)"
    return f"{bm.runtime_flavor_measure}({results.iterations} runs, {results.sleeptime}s sleep)"


def write_csv_2x(path: Path, results: Results) -> Path:
    """``Writer.writecsv`` of the 2.x ``bm_utils`` writer."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        _metadata(writer, results)
        for measure, bms in _tables(results).items():
            header_row, header_row_2 = [SPACE], [SPACE]
            data_rows: OrderedDict[str, list[Any]] = OrderedDict()
            unit = UNITS[measure]
            for count, bm in enumerate(bms):
                header_row += [_header(results, bm), SPACE, SPACE]
                header_row_2 += [f"avg ({unit})", f"max ({unit})", f"min ({unit})"]
                header_row_2 += [f"std_dev ({unit})"]
                for channel, value in bm.avg.items():
                    if channel not in data_rows:
                        data_rows[channel] = [channel] + [SPACE] * (4 * count)
                    data_rows[channel].append(value)
                for channel, value in bm.max.items():
                    data_rows[channel].append(value)
                for channel, value in bm.min.items():
                    data_rows[channel].append(value)
                for channel, value in bm.stddev.items():
                    if channel in data_rows:
                        data_rows[channel].append(value)
                if bm.resources:
                    header_row_2 += ["Resources"]
                    for channel, value in bm.resources.items():
                        if channel in data_rows:
                            data_rows[channel].append(value)
                for channel, row in data_rows.items():
                    for stat in (bm.avg, bm.max, bm.min, bm.stddev):
                        if channel not in stat:
                            row.append(SPACE)
            writer.writerow(["", ""] + header_row)
            writer.writerow(["", ""] + header_row_2)
            for row in data_rows.values():
                writer.writerow(["", ""] + row)
            writer.writerow([])
    return path


def write_csv_1x(path: Path, results: Results) -> Path:
    """``Writer.writecsv`` of the 1.x ``snpebm`` writer."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        _metadata(writer, results)
        for measure, bms in _tables(results).items():
            header_row, header_row_2 = [SPACE], [SPACE]
            data_rows: OrderedDict[str, list[Any]] = OrderedDict()
            unit = UNITS[measure]
            for count, bm in enumerate(bms):
                header_row += [_header(results, bm), SPACE, SPACE, SPACE]
                header_row_2 += [f"avg ({unit})", f"max ({unit})", f"min ({unit})", "runtime"]
                for channel, value in bm.avg.items():
                    if channel not in data_rows:
                        data_rows[channel] = [channel] + [SPACE] * (4 * count)
                    data_rows[channel].append(value)
                for stat in (bm.max, bm.min, bm.runtimes):
                    for channel, value in stat.items():
                        data_rows[channel].append(value)
                for channel, row in data_rows.items():
                    for stat in (bm.avg, bm.max, bm.min, bm.runtimes):
                        if channel not in stat:
                            row.append(SPACE)
            writer.writerow(["", ""] + header_row)
            writer.writerow(["", ""] + header_row_2)
            for row in data_rows.values():
                writer.writerow(["", ""] + row)
            writer.writerow([])
    return path


def write_json(path: Path, results: Results, *, v1: bool = False) -> Path:
    """``Writer.writejson`` (2.x; ``v1``: the 1.x entries with ``Runtime``)."""
    data: dict[str, Any] = {results.sdk_header: results.sdk_version}
    for key, value in results.device_info:
        data[key] = value
    data.update(results.config_json)
    run_data: dict[str, Any] = {}
    for measure, bms in _tables(results).items():
        suffix = "Time" if UNITS[measure] == "us" else "Size"
        for bm in bms:
            runtime = bm.runtime_flavor_measure.split("_timing")[0]
            entries = {}
            for channel, value in bm.avg.items():
                entry = {
                    f"Avg_{suffix}": value,
                    f"Max_{suffix}": bm.max[channel],
                    f"Min_{suffix}": bm.min[channel],
                }
                if v1:
                    entry = {"Runtime": bm.runtimes[channel], **entry}
                else:
                    entry[f"StdDev_{suffix}"] = bm.stddev.get(channel, "NA")
                entries[channel] = entry
            run_data[runtime] = entries
        data["Execution_Data"] = run_data
        data["Units"] = UNITS[measure]
    path.write_text(json.dumps(data, indent=4))
    return path


def config(name: str, runtimes: str, runs: int, model: str = "/data/model.dlc") -> Results:
    """A ``Results`` shell with the configuration rows the 2.x ``Config`` writes."""
    rows = [
        ["Name", name],
        ["HostRootPath", name],
        ["HostResultsDir", f"{name}/results"],
        ["DevicePath", "/data/local/tmp/snpebm"],
        ["Devices", "5f3c2a1b"],
        ["HostName", "localhost"],
        ["Graph Prepare", "BACKEND PREPARE"],
        ["Runs", runs],
        ["Model:Name", name],
        ["Model:dlc", model],
        ["Model:InputList", "input_list.txt"],
        ["Model:Data", "data"],
        ["Runtimes", runtimes],
        ["Architectures", "aarch64"],
        ["Compiler", "clang9.0"],
        ["C++ Standard Library", "libc++_shared.so"],
        ["Measurements", "timing,mem"],
        ["PerfProfile", "high_performance"],
        ["ProfilingLevel", "detailed"],
        ["SharedBuffer", "No"],
        ["Date", "2024-05-02 10:11:12.131415"],
    ]
    as_json = {k: v for k, v in rows}
    as_json["Date"] = "2024-05-02"
    return Results(
        sdk_version="",
        benches=[],
        iterations=runs,
        config_rows=rows,
        config_json=as_json,
        device_info=[
            ["ro.product.model", "SM-S918B"],
            ["ro.product.board", "kalama"],
            ["ro.soc.model", "SM8550"],
        ],
    )
