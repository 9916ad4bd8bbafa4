"""Realistic, deterministic store contents for the TUI's tests, snapshots and benchmark.

``seed_store`` writes projects, models, containers, quantization runs with
per-layer stats and a report, benchmark runs on every runtime, tags, stars, a
baseline and an experiment, all at fixed times with fixed numbers, so that
screenshots are the same on every machine. ``seed_many`` adds thousands of
runs quickly (bulk inserts) for the paging benchmark.

Also a command, to look at the TUI by hand::

    python -m tests.tui.seed /tmp/tuilook.db [--many 10000]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from workbench.store import (
    BenchmarkRun,
    CalibrationSet,
    Container,
    DebugRun,
    Experiment,
    ExperimentRun,
    LayerStat,
    Model,
    Project,
    QuantizationRun,
    Run,
    RunTag,
    Store,
)
from workbench.store.queries import get_project

T0 = datetime(2021, 3, 3, 9, 0, tzinfo=timezone.utc)
RUNTIMES = ("cpu", "gpu", "gpu_fp16", "dsp", "aip")
LAYERS = [
    ("conv1", "Conv"),
    ("bn1_relu", "Relu"),
    ("dw2", "Conv"),
    ("pw2", "Conv"),
    ("relu2", "Relu"),
    ("dw3", "Conv"),
    ("pw3", "Conv"),
    ("add3", "Add"),
    ("pool", "GlobalAveragePool"),
    ("flatten", "Reshape"),
    ("fc", "Gemm"),
    ("softmax", "Softmax"),
]


@dataclass
class Seeded:
    """Ids of what ``seed_store`` wrote, for tests to address."""

    models: dict[str, int] = field(default_factory=dict)
    containers: dict[str, int] = field(default_factory=dict)
    quantize_runs: list[int] = field(default_factory=list)
    bench_runs: list[int] = field(default_factory=list)
    failed_run: int = 0
    interrupted_run: int = 0
    debug_run: int = 0  # mobilenet_v2_q on the DSP: pw3's range clips
    experiment: str = "dsp-vs-cpu"


def _run(project_id: int, kind: str, minute: int, **columns) -> Run:
    started = T0 + timedelta(minutes=minute)
    duration = columns.pop("duration_s", 12.5)
    status = columns.pop("status", "succeeded")
    return Run(
        project_id=project_id,
        kind=kind,
        status=status,
        started_at=started,
        finished_at=started + timedelta(seconds=duration),
        duration_s=duration,
        host="build-01",
        pid=4242,
        **columns,
    )


def _histogram(lo: float, hi: float, peak: float, spread: float, clipped: int) -> dict:
    """A stored histogram (``engine.quant.histogram``): a bell around ``peak`` over 48 bins
    spanning the encoding range [lo, hi] widened by a quarter each side."""
    pad = (hi - lo) * 0.25
    width = (hi - lo + 2 * pad) / 48
    counts = [
        int(400 * math.exp(-((((lo - pad + (b + 0.5) * width) - peak) / spread) ** 2)))
        for b in range(48)
    ]
    return {"lo": lo - pad, "hi": hi + pad, "counts": counts, "below": 0, "above": clipped,
            "enc_min": lo, "enc_max": hi, "per_channel": False, "clipped": clipped,
            "count": sum(counts) + clipped, "min": lo, "max": hi + pad * 1.5}  # fmt: skip


def _histograms(i: int, op: str, q_index: int) -> dict:
    found = {"output": _histogram(-2.0 - i * 0.25, 6.0 + i * 0.5, 1.0, 1.5 + i * 0.1, q_index * 3)}
    if op in ("Conv", "Gemm"):
        found["weights"] = _histogram(-0.5, 0.5, 0.0, 0.15 + 0.01 * i, 0)
    return found


def seed_store(store: Store) -> Seeded:
    """Fill ``store`` with the demo contents (see the module doc); returns their ids."""
    seeded = Seeded()
    with store.write() as s:
        default = get_project(s, "default")
        default.created_at = T0
        s.add_all([Project(name="mobile-v2", created_at=T0),
                   Project(name="old-2020", archived=True, created_at=T0)])  # fmt: skip
        models = {
            "mobilenet_v2": Model(
                project_id=default.id, name="mobilenet_v2", source_path="/data/mobilenet_v2.onnx",
                sha256="a" * 64, format="onnx", opset=13,
                inputs=[{"name": "input", "shape": [1, 3, 224, 224], "dtype": "float32"}],
                param_count=3_504_872, macs=300_774_272, created_at=T0,
            ),
            "resnet18": Model(
                project_id=default.id, name="resnet18", source_path="/data/resnet18.onnx",
                sha256="b" * 64, format="onnx", opset=17,
                inputs=[{"name": "data", "shape": [1, 3, 224, 224], "dtype": "float32"}],
                param_count=11_689_512, macs=1_814_073_344, created_at=T0,
            ),
        }  # fmt: skip
        s.add_all(models.values())
        s.flush()
        seeded.models = {k: m.id for k, m in models.items()}
        containers: dict[str, Container] = {}
        for name, model in models.items():
            size = model.param_count * 4 + 40_000
            containers[name] = Container(
                project_id=default.id, model_id=model.id, path=f"/data/{name}.dlc",
                sha256=name[0] * 63 + "0", size_bytes=size, quantized=False, created_at=T0,
            )  # fmt: skip
            containers[f"{name}_q"] = Container(
                project_id=default.id, model_id=model.id, path=f"/data/{name}_q.dlc",
                sha256=name[0] * 63 + "1", size_bytes=size // 4 + 9_000, quantized=True,
                created_at=T0,
            )  # fmt: skip
        s.add_all(containers.values())
        calibration = CalibrationSet(
            project_id=default.id, name="calib.txt", path="/data/calib.txt", sample_count=32,
            sha256="c" * 64, created_at=T0,
        )  # fmt: skip
        s.add(calibration)
        s.flush()
        seeded.containers = {k: c.id for k, c in containers.items()}

        minute = 0
        schemes = [
            ("tf", "tf", 8, 8, 8, False, ""),
            ("enhanced", "enhanced", 8, 8, 32, False, "cle"),
            ("symmetric", "tf", 8, 16, 32, True, "cle,bc"),
            ("percentile", "percentile", 8, 8, 8, False, "bc"),
        ]
        for m_index, name in enumerate(models):
            for q_index, (pq, aq, wb, ab, bb, pc, alg) in enumerate(schemes):
                minute += 7
                quality = 24.0 + 3.5 * q_index + (ab - 8) * 0.9 - 2.0 * m_index
                run = _run(
                    default.id, "quantize", minute, model_id=models[name].id,
                    container_id=containers[name].id, duration_s=40.0 + 11 * q_index,
                    peak_memory_bytes=180_000_000 + 25_000_000 * q_index,
                    command=f"workbench quantize /data/{name}.dlc --input-list /data/calib.txt "
                    f"-o /data/{name}_q.dlc --param-quantizer {pq}",
                    log=f"calibrated on 32 samples; wrote /data/{name}_q.dlc\n"
                    f"output SQNR {quality:.2f} dB over 4 samples",
                )  # fmt: skip
                run.quantization = QuantizationRun(
                    output_container_id=containers[f"{name}_q"].id,
                    calibration_set_id=calibration.id,
                    param_quantizer=pq, act_quantizer=aq, weights_bitwidth=wb, act_bitwidth=ab,
                    bias_bitwidth=bb, per_channel=pc, algorithms=alg, enable_hta=q_index == 1,
                    options={"param_quantizer": pq, "act_quantizer": aq, "weights_bitwidth": wb,
                             "act_bitwidth": ab, "bias_bitwidth": bb, "per_channel": pc,
                             "algorithms": alg.split(",") if alg else [], "percentile": 99.99,
                             "enable_hta": q_index == 1, "override_params": None},
                    sqnr_db=quality,
                    report={
                        "timings_s": {"calibrate": 21.5 + q_index, "quantize": 3.25,
                                      "analysis": 9.0},
                        "samples": 32,
                        "float_fallback": ["softmax (Softmax)"],
                        "sensitivity": {
                            "full_sqnr_db": quality, "weights_only_sqnr_db": quality + 6.5,
                            "activations_only_sqnr_db": quality + 1.25, "samples": 4,
                            "layers": [
                                {"node": "dw2", "op_type": "Conv",
                                 "output_sqnr_db": quality + 2.0},
                                {"node": "fc", "op_type": "Gemm",
                                 "output_sqnr_db": quality + 5.5},
                            ],
                        },
                    },
                )  # fmt: skip
                run.layer_stats = [
                    LayerStat(
                        layer_index=i, layer_name=layer, op_type=op,
                        encoding_min=-2.0 - i * 0.25, encoding_max=6.0 + i * 0.5,
                        scale=(8.0 + i * 0.75) / 255, offset=-int(round((2.0 + i * 0.25) * 255 /
                                                                           (8.0 + i * 0.75))),
                        bitwidth=ab,
                        sqnr_db=round(quality + 14 - 9 * math.sin(i * 0.9 + q_index) ** 2
                                      - (6.0 if op == "Conv" and i == 2 else 0.0), 2),
                        rmse_over_scale=0.29 + 0.01 * i,
                        histograms=_histograms(i, op, q_index),
                    )
                    for i, (layer, op) in enumerate(LAYERS)
                ]  # fmt: skip
                if name == "mobilenet_v2" and q_index == 1:
                    run.tags = [RunTag(tag="candidate"), RunTag(tag="v2")]
                    run.starred = True
                if name == "mobilenet_v2" and q_index == 0:
                    run.baseline = True
                    run.tags = [RunTag(tag="v2")]
                s.add(run)
                s.flush()
                seeded.quantize_runs.append(run.id)

        minute += 5
        failed = _run(
            default.id, "quantize", minute, status="failed", model_id=models["resnet18"].id,
            container_id=containers["resnet18"].id, duration_s=2.0,
            error="/data/calib_bad.txt: line 3: calib/img3.raw holds 602111 floats; "
            "input 'data' needs 150528",
            log="reading the calibration list", command="workbench quantize ...",
        )  # fmt: skip
        failed.quantization = QuantizationRun(param_quantizer="tf", act_quantizer="tf",
                                              weights_bitwidth=8, act_bitwidth=8, bias_bitwidth=8,
                                              options={})  # fmt: skip
        minute += 3
        interrupted = _run(
            default.id, "quantize", minute, status="interrupted",
            model_id=models["mobilenet_v2"].id, container_id=containers["mobilenet_v2"].id,
            duration_s=15.0, error="interrupted by the user",
        )  # fmt: skip
        interrupted.quantization = QuantizationRun(param_quantizer="enhanced",
                                                   act_quantizer="enhanced", weights_bitwidth=8,
                                                   act_bitwidth=8, bias_bitwidth=32, options={})  # fmt: skip
        s.add_all([failed, interrupted])
        s.flush()
        seeded.failed_run, seeded.interrupted_run = failed.id, interrupted.id

        for m_index, name in enumerate(models):
            base_latency = 4.2 if name == "mobilenet_v2" else 11.8
            for quantized in (False, True):
                key = f"{name}_q" if quantized else name
                container = containers[key]
                for r_index, runtime in enumerate(RUNTIMES):
                    if runtime == "aip" and not quantized:
                        continue
                    minute += 2
                    native = (runtime == "dsp" or runtime == "aip") == quantized
                    init = 35.0 + 18.0 * r_index + (0.0 if native else 42.5) + 30 * m_index
                    breakdown = {"load": 6.5 + 3 * m_index, "plan": 8.0 + r_index}
                    if not native:
                        breakdown["quantize" if runtime in ("dsp",) else "dequantize"] = 42.5
                    breakdown["allocate"] = init - sum(breakdown.values())
                    latency = base_latency * (1.0, 0.55, 0.42, 0.28, 0.21)[r_index]
                    sqnr = None if not quantized and runtime in ("cpu", "gpu") else (
                        31.5 - 1.5 * r_index - 4 * m_index)  # fmt: skip
                    run = _run(
                        default.id, "bench", minute, model_id=models[name].id,
                        container_id=container.id, duration_s=8.0 + r_index,
                        command=f"workbench bench {container.path} --runtimes {runtime}",
                        log=f"50 iterations on {runtime}",
                    )  # fmt: skip
                    run.benchmark = BenchmarkRun(
                        runtime=runtime, cpu_fxp=False, batch=1, iterations=50,
                        options={"mode": "float16" if runtime == "gpu_fp16" else (
                            "fixed point" if runtime in ("dsp", "aip") else "float32")},
                        init_time_ms=round(init, 2), init_breakdown=breakdown,
                        init_peak_bytes=(container.size_bytes * (1 if native else 5)
                                         + 12_000_000),
                        latency_mean_ms=round(latency * 1.08, 3),
                        latency_p50_ms=round(latency * 1.02, 3),
                        latency_p90_ms=round(latency * 1.25, 3),
                        latency_min_ms=round(latency * 0.93, 3),
                        reference_container_id=containers[name].id,
                        sqnr_db=sqnr,
                        cosine=None if sqnr is None else round(1 - 10 ** (-sqnr / 10), 6),
                        max_abs_err=None if sqnr is None else round(10 ** (-sqnr / 20), 5),
                        top1_agreement=None if sqnr is None else round(1 - 0.004 * r_index, 3),
                        label_accuracy=round(0.712 - (0.006 * r_index if sqnr else 0), 3),
                        container_size_bytes=container.size_bytes,
                    )  # fmt: skip
                    if runtime == "dsp" and name == "mobilenet_v2":
                        run.tags = [RunTag(tag="v2")]
                        run.starred = quantized
                    s.add(run)
                    s.flush()
                    seeded.bench_runs.append(run.id)
        experiment = Experiment(
            project_id=default.id, name=seeded.experiment,
            note="int8 on DSP against float on CPU", created_at=T0 + timedelta(hours=3),
        )  # fmt: skip
        # mobilenet float on cpu (first bench run) and quantized on dsp
        experiment.members = [
            ExperimentRun(run_id=seeded.bench_runs[0]),
            ExperimentRun(run_id=seeded.bench_runs[7]),
        ]
        s.add(experiment)
        s.flush()
        seeded.debug_run = _debug_run(s, default.id, minute + 2, models, containers).id
    return seeded


def _debug_layer(i: int, layer: str, op: str, broken: int) -> dict:
    """One layer of the seeded debug run: rounding noise, then pw3 clips and the layers
    after it carry its error."""
    after = i > broken
    lsb = 0.3 + 0.01 * i if i < broken else 412.5 if i == broken else 9.5 + i

    def sqnr_at(k: int) -> float:
        return 38.0 - 0.5 * k if k < broken else 1.25 if k == broken else 7.0 + 0.25 * k

    sqnr = sqnr_at(i)
    diverges = i >= broken
    causes = ["range clipping"] if i == broken else ["upstream error"] if after else []
    return {
        "index": i, "node": layer, "op_type": op, "tensor": f"{layer}:0", "precision": "int8",
        "bitwidth": 8, "delta": round((8.0 + i * 0.75) / 255, 6),
        "fake_quant_mean_lsb": lsb, "fake_quant_max_lsb": lsb * 6,
        "integer_mean_lsb": lsb, "integer_max_lsb": lsb * 6 + 0.5,
        "integer_vs_fake_quant_mean_lsb": 0.02, "integer_vs_fake_quant_max_lsb": 1.0,
        "clipped_pct": 85.07 if i == broken else 0.0, "fake_quant_sqnr_db": sqnr,
        "integer_sqnr_db": sqnr, "encoding_sqnr_db": 40.0, "input_sqnr_db": None if i == 0 else
        sqnr_at(i - 1), "diverges": diverges, "causes": causes, "weight_sqnr_db": None,
        "weight_only_sqnr_db": None, "suggestion": "--layer-precision pw3=int16, or a wider "
        "range (another --act-quantizer or percentile)" if i == broken else "",
        "contribution": None if op == "Reshape" else round(0.999 - (0.35 if i == broken else
                                                                    0.001 * i), 4),
        "contribution_shown": "-" if op == "Reshape" else
        f"{(0.999 - (0.35 if i == broken else 0.001 * i)):.1%}",
        "contribution_sqnr_db": None, "nodes": [layer],
    }  # fmt: skip


def _debug_run(s, project_id: int, minute: int, models: dict, containers: dict) -> Run:
    broken = [name for name, _ in LAYERS].index("pw3")
    layers = [_debug_layer(i, layer, op, broken) for i, (layer, op) in enumerate(LAYERS)]
    why = (
        "pw3 (Conv) diverges first: range clipping; integer-true error 412.50 LSB mean, "
        "2475.5 max, SQNR 1.2 dB (its input: 35.5 dB), 85.07% of its float values lie outside "
        "its range; try --layer-precision pw3=int16, or a wider range"
    )
    run = _run(
        project_id, "debug", minute, model_id=models["mobilenet_v2"].id,
        container_id=containers["mobilenet_v2_q"].id, duration_s=6.5,
        command="workbench debug /data/mobilenet_v2_q.dlc --input-list /data/calib.txt",
        log="decision metric: top1 (1×1000 probabilities → top1)\n" + why,
    )  # fmt: skip
    run.debugging = DebugRun(
        runtime="dsp", cpu_fxp=False, input_list="/data/calib.txt",
        options={"runtime": "dsp", "cpu_fxp": False, "float_container": None, "samples": 4,
                 "metric": None, "contribution_samples": 2, "threshold_lsb": 2.0,
                 "drop_db": 12.0},
        float_container_id=containers["mobilenet_v2"].id, samples=4, metric="top1",
        first_divergent_layer="pw3", cause="range clipping", why=why,
        suggestion=layers[broken]["suggestion"], sqnr_db=9.5, fake_quant_sqnr_db=9.49,
        report={"runtime": "dsp", "threshold_lsb": 2.0, "drop_db": 12.0, "output": "prob",
                "contribution_samples": 2, "metric_reason": "1×1000 probabilities → top1",
                "notes": ["1 layer(s) run in float inside the integer executor: softmax"]},
    )  # fmt: skip
    run.layer_stats = [
        LayerStat(layer_index=i, layer_name=la["node"], op_type=la["op_type"], scale=la["delta"],
                  bitwidth=8, sqnr_db=la["integer_sqnr_db"], debug=la)
        for i, la in enumerate(layers)
    ]  # fmt: skip
    s.add(run)
    s.flush()
    return run


def seed_many(store: Store, count: int, *, project: str = "default") -> None:
    """Add ``count`` finished runs (half quantize, half bench) with bulk inserts."""
    with store.write() as s:
        project_id = get_project(s, project).id
        first = (s.query(Run.id).order_by(Run.id.desc()).limit(1).scalar() or 0) + 1
        statuses = ("succeeded", "succeeded", "succeeded", "failed", "interrupted")
        runs, quants, benches, tags = [], [], [], []
        for i in range(count):
            run_id = first + i
            kind = "quantize" if i % 2 == 0 else "bench"
            started = T0 + timedelta(minutes=30 * 24 * 60 + i)
            runs.append({
                "id": run_id, "project_id": project_id, "kind": kind,
                "status": statuses[i % len(statuses)], "started_at": started,
                "finished_at": started + timedelta(seconds=10), "duration_s": 10.0 + i % 37,
                "peak_memory_bytes": 100_000_000 + (i % 97) * 1_000_000, "host": "build-01",
                "pid": 4242, "log": "", "notes": "", "starred": i % 50 == 0, "baseline": False,
            })  # fmt: skip
            if kind == "quantize":
                quants.append({
                    "run_id": run_id, "param_quantizer": ("tf", "enhanced")[i % 4 // 2],
                    "act_quantizer": "tf", "weights_bitwidth": 8, "act_bitwidth": 8,
                    "bias_bitwidth": 8, "per_channel": False, "algorithms": "",
                    "enable_hta": False, "options": {}, "sqnr_db": 20 + (i % 200) / 10,
                })  # fmt: skip
            else:
                benches.append({
                    "run_id": run_id, "runtime": RUNTIMES[i % 5], "cpu_fxp": False,
                    "options": {}, "batch": 1, "iterations": 50,
                    "init_time_ms": 30.0 + i % 113, "init_breakdown": {},
                    "latency_mean_ms": 1.0 + (i % 300) / 10, "sqnr_db": 25 + (i % 90) / 10,
                    "device_measured": False,
                })  # fmt: skip
            if i % 10 == 0:
                tags.append({"run_id": run_id, "tag": f"batch{i % 7}"})
        s.execute(Run.__table__.insert(), runs)
        s.execute(QuantizationRun.__table__.insert(), quants)
        s.execute(BenchmarkRun.__table__.insert(), benches)
        if tags:
            s.execute(RunTag.__table__.insert(), tags)


def main() -> None:
    import argparse

    from workbench.store import open_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="SQLite file or store URL (created)")
    parser.add_argument("--many", type=int, default=0, help="also add this many bulk runs")
    args = parser.parse_args()
    with open_store(args.db) as store:
        seed_store(store)
        if args.many:
            seed_many(store, args.many)
    print(f"seeded {args.db}")


if __name__ == "__main__":
    main()
