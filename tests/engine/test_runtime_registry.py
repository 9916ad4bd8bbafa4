"""Adding a runtime is one module's declaration and one registration.

A toy runtime is declared and registered here, from the test, and must then be
everywhere the built-in ones are: ``check_runtime``, ``load_network``, bench's rows,
the advisor's table and policy, the CLI's choices and help, the TUI's bench form,
the snpe_bench importer. It is unregistered after.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.modelzoo import small_cnn, write_inputs
from workbench.engine.container import read_container
from workbench.engine.runtimes import (
    get_runtime,
    load_network,
    register,
    runtime_names,
    unregister,
)
from workbench.engine.runtimes.spec import NATIVE, QUANTIZED, REFUSE, KindRule, Runtime, VendorName
from workbench.errors import BadInput, RuntimeRefused
from workbench.vocabulary import INT8

TOY = "toy"
REASON = "the toy runtime runs quantized containers only: quantize it first"


def _fixed_point(container, request):
    from workbench.engine.runtimes.integer_plan import integer_init

    return integer_init(container, request)


TOY_RUNTIME = Runtime(
    name=TOY,
    label="TOY",
    native=QUANTIZED,
    float=KindRule(REFUSE, "refused", reason=REASON),
    quantized=KindRule(
        NATIVE,
        "native: fixed point (toy)",
        phases=("plan",),
        init=_fixed_point,
        advice="toy's own format",
    ),  # fmt: skip
    vendor_names=(VendorName("TOY_NPU", INT8, "8-bit fixed point"),),
)


@pytest.fixture
def toy():
    import workbench.cli  # noqa: F401 - imported before the registration, as in a session

    register(TOY_RUNTIME)
    try:
        yield TOY_RUNTIME
    finally:
        unregister(TOY)
    assert TOY not in runtime_names()


@pytest.fixture
def files(store, tmp_path: Path) -> dict[str, Path]:
    from workbench.jobs.convert import convert_model
    from workbench.jobs.quantize import QuantizeRequest, quantize_job

    convert_model(store, "default", small_cnn(tmp_path / "m.onnx"), tmp_path / "m.dlc")
    listing, _ = write_inputs(tmp_path, 2)
    request = QuantizeRequest(tmp_path / "m.dlc", listing, tmp_path / "q.dlc", analyze=False)
    quantize_job(store, "default", request)
    return {"float": tmp_path / "m.dlc", "quant": tmp_path / "q.dlc", "list": listing}


def test_a_registered_runtime_inits_and_refuses_by_its_declaration(toy, files) -> None:
    from workbench.engine.runtimes.load import check_runtime

    assert runtime_names()[-1] == TOY and get_runtime(TOY) is toy
    net = load_network(read_container(files["quant"]), TOY)
    assert net.runtime == TOY and net.mode == "integer (fixed point)"
    assert list(net.init_breakdown_ms) == ["plan"]
    x = {t.name: np.zeros(t.shape, np.float32) for t in net.inputs}
    assert set(net.run(x)) == set(net.outputs)
    with pytest.raises(RuntimeRefused, match="toy runtime runs quantized containers only"):
        check_runtime(read_container(files["float"], load_params=False), TOY)
    with pytest.raises(BadInput, match="--cpu-fxp applies to the cpu runtime only, not toy"):
        check_runtime(read_container(files["quant"], load_params=False), TOY, cpu_fxp=True)


def test_bench_and_the_advisor_see_it(toy, store, files) -> None:
    from workbench.jobs.advise import build_advice, table_rows
    from workbench.jobs.bench import BenchRequest, bench_job

    request = BenchRequest(
        [files["float"], files["quant"]], files["list"], {"runtimes": "cpu,toy", "iterations": 1}
    )
    result = bench_job(store, "default", request)
    rows = {(Path(r.container).name, r.runtime): r for r in result.rows}
    assert rows[("q.dlc", TOY)].status == "succeeded"
    assert rows[("m.dlc", TOY)].status == "refused" and REASON in rows[("m.dlc", TOY)].error
    everything = bench_job(store, "default", BenchRequest([files["float"]], files["list"], {}))
    assert [r.runtime for r in everything.rows][-1] == TOY  # no runtimes given: all of them

    assert table_rows()[-1] == ("TOY", TOY, False)
    advice = build_advice(result, files["float"], files["quant"])
    row = next(r for r in advice.rows if r.runtime == TOY)
    assert row.quantized.compatibility == "native: fixed point (toy)"
    assert row.float.compatibility == f"refused: {REASON}"
    rec = next(r for r in advice.recommendations if r.runtime == TOY)
    assert rec.choice == "quantized" and rec.reasons[0] == "toy's own format"


def test_the_cli_the_tui_form_and_the_importer_see_it(toy, cli, files, tmp_path) -> None:
    from workbench.jobs.import_bench import map_runtime
    from workbench.options import BENCH_OPTIONS

    assert TOY in cli("run", "--help").output
    assert "cpu,gpu,gpu_fp16,dsp,aip,toy" in cli("bench", "--help").output
    out = cli(
        "--json", "run", str(files["quant"]), "--input-list", str(files["list"]),
        "--output-dir", str(tmp_path / "out"), "--runtime", TOY,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert cli("runs", "list", "--runtime", TOY).exit_code == 0
    runtimes_field = next(o for o in BENCH_OPTIONS if o.name == "runtimes")
    assert TOY in runtimes_field.values()  # the bench form's selection list
    assert map_runtime("TOY_NPU_ub_tf8") == (TOY, False)


def test_unknown_runtimes_are_still_refused_after() -> None:
    with pytest.raises(BadInput, match="unknown runtime 'toy'"):
        get_runtime(TOY)


def test_a_runtime_needing_records_or_refusing_fixed_point_says_so(toy, files) -> None:
    """The declaration alone decides: HTA records needed without a batch rule, a
    fixed-point mode that refuses, and the --cpu-fxp message listing every fixed-point
    runtime."""
    from dataclasses import replace

    from workbench.engine.runtimes.load import check_runtime

    strict = replace(
        TOY_RUNTIME,
        name="toy2",
        label="TOY2",
        needs_hta_records=True,
        fixed_point=KindRule(REFUSE, "refused", reason="toy2 has no fixed-point mode"),
        vendor_names=(VendorName("TOY2_NPU", INT8, "8-bit fixed point"),),
    )
    register(strict)
    try:
        q = read_container(files["quant"])
        with pytest.raises(RuntimeRefused, match=r"^TOY2 needs the HTA subnet records that"):
            check_runtime(q, "toy2")
        with pytest.raises(RuntimeRefused, match=r"^toy2 has no fixed-point mode$"):
            check_runtime(q, "toy2", cpu_fxp=True)
        with pytest.raises(
            BadInput, match=r"^--cpu-fxp applies to the cpu or toy2 runtime only, not gpu$"
        ):
            check_runtime(q, "gpu", cpu_fxp=True)
    finally:
        unregister("toy2")
