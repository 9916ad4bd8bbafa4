"""The report as one HTML page: inline CSS, inline SVG charts, no script, nothing fetched,
so it opens in any browser, offline, and prints.

``render(data)`` takes a ``workbench.jobs.report.ReportData`` and lays out: the
recommendation, the guide's table measured, accuracy against size and init (Pareto front),
every benchmark run (with any measured column the store holds), per-layer SQNR of the
quantization runs, each quantization run's options, results and value histograms against
its encodings, and the environment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import PurePath
from typing import Any

from workbench.options import QUANTIZE_OPTIONS
from workbench.report import svg
from workbench.vocabulary import SUCCEEDED, format_bytes, is_exact_db

CSS = """
:root { --fg: #1d232a; --muted: #5b6570; --line: #d5dbe1; --bg: #ffffff; --band: #f4f6f8;
  --s0: #1f77b4; --s1: #d62728; --s2: #2ca02c; --s3: #9467bd; --s4: #ff7f0e; --s5: #8c564b;
  --s6: #17becf; --mark: #c0392b; --good: #1e7b34; --bad: #b02a2a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; max-width: 1180px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px;
  border-bottom: 2px solid var(--line); padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
.muted, .meta { color: var(--muted); } .meta { margin: 0 0 16px; }
.note { background: var(--band); border-left: 4px solid var(--s0); padding: 8px 12px; margin: 12px 0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px 4px 0; text-align: left;
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.bench td:nth-child(5) { min-width: 12em; } .bench td:last-child { min-width: 18em; }
.guide td { white-space: pre-line; min-width: 220px; } .guide td:first-child { min-width: 0;
  font-weight: 600; white-space: nowrap; }
.status-succeeded { color: var(--good); } .status-failed, .status-refused { color: var(--bad); }
.status-interrupted { color: #a66a00; }
.rec { margin: 6px 0 10px; } .rec b { display: inline-block; min-width: 90px; }
.rec ul { margin: 2px 0 0 20px; padding: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 20px; }
figure { margin: 0; } figcaption { font-size: 12px; color: var(--muted); max-width: 440px; }
svg.chart { background: var(--bg); font: 11px system-ui, sans-serif; overflow: visible; }
svg .title { font-size: 12px; font-weight: 600; fill: var(--fg); }
svg .tick, svg .legend, svg .value { fill: var(--muted); } svg .label { fill: var(--fg); }
svg .axis { stroke: var(--muted); stroke-width: 1; } svg .grid { stroke: var(--line); stroke-width: 1; }
svg .bar { stroke: none; } svg .mark { stroke: var(--mark); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .mark-label { fill: var(--mark); font-size: 10px; }
svg .front { fill: none; stroke: var(--fg); stroke-width: 1.5; stroke-dasharray: 2 2; }
svg .line { fill: none; stroke-width: 1.6; }
svg .s0 { fill: var(--s0); stroke: var(--s0); } svg .s1 { fill: var(--s1); stroke: var(--s1); }
svg .s2 { fill: var(--s2); stroke: var(--s2); } svg .s3 { fill: var(--s3); stroke: var(--s3); }
svg .s4 { fill: var(--s4); stroke: var(--s4); } svg .s5 { fill: var(--s5); stroke: var(--s5); }
svg .s6 { fill: var(--s6); stroke: var(--s6); } svg .line.s0, svg .line.s1, svg .line.s2,
svg .line.s3, svg .line.s4, svg .line.s5, svg .line.s6 { fill: none; }
code { font-size: 12px; background: var(--band); padding: 1px 4px; border-radius: 3px; }
@media print { body { max-width: none; } h2 { break-after: avoid; } figure { break-inside: avoid; } }
"""

# Bench columns read from a run's details when they hold a value: (key, heading, kind).
BENCH_COLUMNS = (
    ("init_time_ms", "init ms", "ms"),
    ("device_init_ms", "device init ms", "ms"),
    ("emulator_setup_ms", "emulator setup ms", "ms"),
    ("init_peak_bytes", "init peak", "bytes"),
    ("device_init_peak_bytes", "device init peak", "bytes"),
    ("container_size_bytes", "file size", "bytes"),
    ("latency_mean_ms", "latency ms", "ms"),
    ("latency_p90_ms", "p90 ms", "ms"),
    ("sqnr_db", "SQNR dB", "db"),
    ("cosine", "cosine", "num"),
    ("top1_agreement", "top-1", "pct"),
    ("label_accuracy", "accuracy", "pct"),
)


def render(data: Any) -> str:
    """The page for ``data`` (``workbench.jobs.report.ReportData``)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(data.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(data.title)}</h1>",
        f'<p class="meta">project {escape(data.project)} · made '
        f"{data.generated_at:%Y-%m-%d %H:%M} UTC by Quantization Workbench</p>",
    ]
    if data.note:
        parts.append(f'<div class="note">{escape(data.note)}</div>')
    parts += _advice(data)
    parts += _tradeoff(data)
    parts += _bench(data)
    parts += _overlay(data)
    for section in data.quantize:
        parts += _quantization(section)
    parts += _other_runs(data)
    for view in data.debug:
        parts += _debug(view)
    parts += ["<h2>Environment</h2>", _pairs(data.environment)]
    parts.append("</body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- sections


def _advice(data: Any) -> list[str]:
    advice = data.advice
    if advice is None:
        return [f'<p class="muted">{escape(n)}</p>' for n in data.advice_notes]
    out = ["<h2>Recommendation</h2>"]
    for rec in advice.recommendations:
        reasons = "".join(f"<li>{escape(r)}</li>" for r in rec.reasons)
        warnings = "".join(f"<li>warning: {escape(w)}</li>" for w in rec.warnings)
        out.append(f'<div class="rec"><b>{escape(rec.runtime.upper())}</b> '
                   f"{escape(rec.label)}<ul>{warnings}{reasons}</ul></div>")  # fmt: skip
    q, f = PurePath(advice.quantized_container).name, PurePath(advice.float_container).name
    out.append("<h2>The guide's table, measured</h2>")
    out.append(f'<p class="muted">{escape(q)} (quantized) against {escape(f)} (non-quantized); '
               + escape(" ".join([*advice.header(), *data.advice_notes])) + "</p>")  # fmt: skip
    rows = [
        [
            escape(row.label),
            *(escape("\n".join(advice.lines(c))) for c in (row.quantized, row.float)),
        ]
        for row in advice.rows
    ]
    out.append(_table(["runtime", "quantized container", "non-quantized container"], rows,
                      cls="guide"))  # fmt: skip
    return out


def _tradeoff(data: Any) -> list[str]:
    t = data.tradeoff
    if t is None:
        return []
    figures = []
    for axis in ("size", "init"):
        points = t.usable(axis)
        if len(points) < 2:
            continue
        scale = 1024.0 if axis == "size" else 1.0
        series = [
            (runtime, [svg.ScatterPoint(p.x(axis) / scale, p.accuracy, p.label)
                       for p in points if p.runtime == runtime])
            for runtime in t.runtimes
        ]  # fmt: skip
        front = [svg.ScatterPoint(p.x(axis) / scale, p.accuracy, p.label) for p in t.front(axis)]
        chart = svg.scatter([s for s in series if s[1]], front=front,
                            title=f"{t.metric} vs {t.axis_label(axis)}",
                            x_label=t.axis_label(axis), y_label=t.metric)  # fmt: skip
        names = ", ".join(p.label for p in t.front(axis))
        figures.append(_figure(chart, f"Pareto front (dashed): {names}"))
    if not figures:
        return []
    return ["<h2>Accuracy against size and init</h2>",
            '<p class="muted">Each point is a benchmark run (a container on a runtime); the '
            "dashed line joins the runs no other run beats on both axes.</p>",
            f'<div class="charts">{"".join(figures)}</div>']  # fmt: skip


def _bench(data: Any) -> list[str]:
    if not data.bench:
        return []
    details = [v.detail.details for v in data.bench]
    columns = [c for c in BENCH_COLUMNS if any(d.get(c[0]) is not None for d in details)]
    headings = ["run", "container", "runtime", "status", "mode", *(c[1] for c in columns), "note"]
    rows = []
    for view in data.bench:
        d, det = view.detail, view.detail.details
        options = det.get("options") or {}
        refused = bool(options.get("refused"))
        status = "refused" if refused else d.status
        runtime = f"{det.get('runtime')}{' fxp' if det.get('cpu_fxp') else ''}"
        cells = [str(d.id), escape(_file(view.container)), escape(runtime),
                 f'<span class="status-{status}">{status}</span>', escape(str(options.get("mode") or "-"))]  # fmt: skip
        cells += [_value(det.get(key), kind) for key, _, kind in columns]
        cells.append(escape(d.error or ""))
        rows.append(cells)
    numeric = set(range(5, 5 + len(columns)))
    out = ["<h2>Benchmark runs</h2>", _table(headings, rows, numeric=numeric, cls="bench")]
    if len(data.bench) == 1:
        out += _init_phases(data.bench[0])
    return out


def _init_phases(view: Any) -> list[str]:
    phases = view.detail.details.get("init_breakdown") or {}
    if not phases:
        return []
    chart = svg.bars(list(phases), [float(v) for v in phases.values()], unit=" ms",
                     title="init phases (ms)")  # fmt: skip
    return [f'<div class="charts">{_figure(chart, "")}</div>']


def _overlay(data: Any) -> list[str]:
    o = data.overlay
    if o is None or not o.layers:
        return []
    names = [name for name, _ in o.layers]
    written = {s.view.detail.id: _file(s.view.output_container) for s in data.quantize}
    series = [
        (f"run {run_id} {written.get(run_id, '')}".strip(), [row[i] for row in o.values])
        for i, run_id in enumerate(o.run_ids)
    ]
    chart = svg.lines(names, series, title="per-layer SQNR against float (dB)", y_label="dB")
    return ["<h2>Per-layer SQNR</h2>",
            '<p class="muted">Each layer output\'s SQNR against the float model, with everything '
            "upstream quantized: where the line drops, that layer loses accuracy.</p>",
            f'<div class="scroll">{chart}</div>']  # fmt: skip


def _quantization(section: Any) -> list[str]:
    view = section.view
    d, det, report = view.detail, view.detail.details, view.report
    sens = report.get("sensitivity") or {}
    out = [f"<h2>Quantization run {d.id}: {escape(_file(view.output_container))}</h2>"]
    flags = {o.name: o.cli_flag for o in QUANTIZE_OPTIONS}
    options = [(flags.get(k, k), _plain(v)) for k, v in view.options.items()]
    result = [
        ("output SQNR vs float", _db(det.get("sqnr_db"))),
        ("weights only quantized", _db(sens.get("weights_only_sqnr_db"))),
        ("activations only quantized", _db(sens.get("activations_only_sqnr_db"))),
        ("analysis samples", _plain(sens.get("samples"))),
        ("float fallback layers", ", ".join(report.get("float_fallback") or ()) or "none"),
        ("input container", _path(view.container)),
        ("output container", _path(view.output_container)),
        ("calibration", view.calibration["path"] if view.calibration else "-"),
        ("command", d.command or "-"),
        ("host", f"{d.host}, {d.started_at:%Y-%m-%d %H:%M} UTC, took {d.duration_s or 0:.1f} s"),
    ]
    out.append('<div class="charts">')
    out.append(f"<div><h3>Options</h3>{_pairs(options)}</div>")
    out.append(f"<div><h3>Result</h3>{_pairs(result)}</div></div>")
    worst = sens.get("layers") or []
    if worst:
        rows = [[escape(str(w.get("node"))), escape(str(w.get("op_type"))),
                 _db(w.get("output_sqnr_db"))] for w in worst]  # fmt: skip
        out += ["<h3>Costliest layers</h3>",
                _table(["layer", "type", "output SQNR if only it is quantized"], rows, numeric={2})]  # fmt: skip
    if section.histograms:
        left_out = section.histograms_left_out
        note = (
            f" (the {len(section.histograms)} with the lowest SQNR; {left_out} more in the store)"
            if left_out
            else ""
        )
        out.append(f"<h3>Values against the encoding range{escape(note)}</h3>")
        out.append('<p class="muted">Float values seen by the analysis; dashed red lines at the '
                   "encoding's min and max: what falls outside is clipped.</p>")  # fmt: skip
        figures = []
        for layer in section.histograms:
            for h in (layer.output, layer.weights):
                if h is not None:
                    figures.append(_histogram(h))
        out.append(f'<div class="charts">{"".join(figures)}</div>')
    if d.layers:
        rows = [[str(la["layer_index"]), escape(la["layer_name"]), escape(la["op_type"]),
                 _plain(la["bitwidth"]), _plain(la["encoding_min"]), _plain(la["encoding_max"]),
                 _db(la["sqnr_db"]), _plain(la["rmse_over_scale"])] for la in d.layers]  # fmt: skip
        out += ["<h3>Layers</h3>", _table(
            ["#", "layer", "type", "bits", "enc min", "enc max", "SQNR", "rmse/Δ"], rows,
            numeric={0, 3, 4, 5, 6, 7})]  # fmt: skip
    return out


def _debug(view: Any) -> list[str]:
    """A debug run: where the quantized model first parts from float, and every layer."""
    d, det = view.detail, view.detail.details
    runtime = f"{det.get('runtime')}{' --cpu-fxp' if det.get('cpu_fxp') else ''}"
    out = [f"<h2>Debug run {d.id} on {escape(runtime)}: {escape(_file(view.container))}</h2>"]
    if d.status != SUCCEEDED:
        return [*out, f'<p><span class="status-{d.status}">{d.status}</span> '
                      f"{escape(d.error or '')}</p>"]  # fmt: skip
    first = [
        ("first divergent layer", det.get("first_divergent_layer") or "none"),
        ("cause", det.get("cause") or "-"),
        ("why", det.get("why") or "-"),
        ("try", det.get("suggestion") or "-"),
        ("output SQNR, integer-true", _db(det.get("sqnr_db"))),
        ("output SQNR, fake-quant", _db(det.get("fake_quant_sqnr_db"))),
        ("samples", _plain(det.get("samples"))),
        ("float container", _path(view.float_container)),
    ]
    out.append(_pairs(first))
    layers = [la["debug"] for la in d.layers if la.get("debug")]
    if layers:
        metric = det.get("metric") or "metric"
        rows = [
            [str(i), escape(str(la["node"])), escape(str(la["op_type"])),
             _plain(la["integer_mean_lsb"]), _plain(la["integer_max_lsb"]),
             _plain(la["clipped_pct"]), _db(la["integer_sqnr_db"]),
             escape(la.get("contribution_shown") or "-"),
             escape(", ".join(la.get("causes") or ()) or ("diverges" if la["diverges"] else ""))]
            for i, la in enumerate(layers)
        ]  # fmt: skip
        out += [f"<h3>Layers in execution order (error in LSBs of each output encoding; "
                f"{escape(metric)} with only that layer quantized)</h3>",
                _table(["#", "layer", "type", "mean LSB", "max LSB", "clip %", "SQNR",
                        f"{metric} alone", "cause"], rows, numeric={0, 3, 4, 5, 6, 7})]  # fmt: skip
    return out


def _histogram(h: Any) -> str:
    marks = [
        (h.enc_min, f"min {svg.number(h.enc_min)}"),
        (h.enc_max, f"max {svg.number(h.enc_max)}"),
    ]
    title = f"{h.layer} {h.kind} · {h.clipped_text}"
    chart = svg.histogram(h.lo, h.hi, h.counts, marks=marks, title=title)
    return _figure(chart, h.detail)


def _other_runs(data: Any) -> list[str]:
    if not data.other_runs:
        return []
    rows = [[str(v.detail.id), f'<span class="status-{v.detail.status}">{v.detail.status}</span>',
             escape(v.detail.error or "")] for v in data.other_runs]  # fmt: skip
    return ["<h2>Quantization runs that did not finish</h2>",
            _table(["run", "status", "error"], rows)]  # fmt: skip


# --------------------------------------------------------------------------- pieces


def _table(
    headings: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: set[int] = frozenset(),
    cls: str = "",
) -> str:  # fmt: skip
    """Cells are HTML already (escaped by the caller); headings are text."""
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{escape(h)}</th>'
                   for i, h in enumerate(headings))  # fmt: skip
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{c}</td>'
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )  # fmt: skip
    klass = f' class="{cls}"' if cls else ""
    return f'<div class="scroll"><table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _pairs(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def _figure(chart: str, caption: str) -> str:
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{chart}{cap}</figure>"


def _file(container: Any) -> str:
    return PurePath(container.path).name if container is not None else "-"


def _path(container: Any) -> str:
    if container is None:
        return "-"
    kind = "quantized" if container.quantized else "float"
    return f"{container.path} ({kind}, {format_bytes(container.size_bytes)})"


def _value(v: Any, kind: str) -> str:
    if v is None:
        return "-"
    if kind == "ms":
        return f"{v:.2f}"
    if kind == "bytes":
        return escape(format_bytes(v))
    if kind == "pct":
        return f"{v:.1%}"
    if kind == "db":
        return _db(v, unit=False)
    return escape(_plain(v))


def _db(v: Any, unit: bool = True) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if is_exact_db(v):
        return "exact"
    return f"{v:.2f}{' dB' if unit else ''}"


def _plain(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v) or "none"
    return str(v)
