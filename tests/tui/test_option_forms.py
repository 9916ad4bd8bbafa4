"""Every declared option is a CLI flag and a TUI form field, generated from one declaration."""

from __future__ import annotations

import click
import pytest

from tests.tui.conftest import settle
from workbench import cli as cli_module
from workbench.options import (
    ADVISE_OPTIONS,
    AUTOQUANT_OPTIONS,
    BENCH_OPTIONS,
    DEMO_OPTIONS,
    QUANTIZE_OPTIONS,
    QUANTIZER_OPTIONS,
    RUN_OPTIONS,
    AdviseOptions,
    BenchOptions,
    DeclaredOptions,
    Option,
    QuantOptions,
    RunOptions,
    declared,
)
from workbench.tui.widgets.option_form import field_ids, read_options, set_options

COMMANDS = {
    "quantize": QUANTIZE_OPTIONS,
    "bench": BENCH_OPTIONS,
    "advise": ADVISE_OPTIONS,
    "demo": DEMO_OPTIONS,
    "run": RUN_OPTIONS,
    "autoquant": AUTOQUANT_OPTIONS,
}


def _params(command: str) -> dict[str, click.Parameter]:
    return {p.name: p for p in cli_module.cli.commands[command].params if p.name}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_declared_option_is_a_cli_flag(command: str) -> None:
    params = _params(command)
    for o in COMMANDS[command]:
        param = params.get(o.name)
        assert param is not None, f"{command}: no flag for {o.name}"
        assert o.cli_flag in param.opts, (command, o.name, param.opts)
        assert (param.help or "") == o.help, (command, o.name)
        if o.choices is not None and not o.many:
            assert tuple(param.type.choices) == tuple(str(v) for v in o.values())


def test_cli_values_reach_the_options_object_typed() -> None:
    ctx = cli_module.cli.commands["quantize"].make_context(
        "quantize",
        ["m.dlc", "--input-list", "l", "-o", "q.dlc", "--weights-bitwidth", "4",
         "--algorithms", "bc,cle", "--no-analysis", "--percentile", "99.5"],
    )  # fmt: skip
    values = ctx.params
    options = QuantOptions(**{o.name: values[o.name] for o in QUANTIZER_OPTIONS})
    assert options == QuantOptions(weights_bitwidth=4, algorithms=("cle", "bc"), percentile=99.5)
    assert values["analyze"] is False and values["eval_list"] is None and values["metric"] is None
    assert options.argv() == [
        "--percentile", "99.5", "--weights-bitwidth", "4", "--algorithms", "cle,bc"
    ]  # fmt: skip


def test_one_more_declaration_is_one_more_flag_and_field() -> None:
    clipping = Option(
        "clipping", "How to clip the calibrated range.", str, "none",
        choices=("none", "mse"), label="Clipping",
    )  # fmt: skip

    @declared(*QUANTIZER_OPTIONS, clipping)
    class Extended(DeclaredOptions):
        pass

    assert Extended(clipping="mse").clipping == "mse"
    with pytest.raises(Exception, match="--clipping must be one of none, mse"):
        Extended(clipping="up")

    @click.command()
    @cli_module.declared_options(*QUANTIZE_OPTIONS, clipping)
    def command(**values: object) -> None:
        pass

    assert "--clipping" in {f for p in command.params for f in p.opts}
    assert field_ids(clipping) == ("clipping",)


def test_rounding_is_a_declared_quantize_option() -> None:
    from workbench.vocabulary import HALF_AWAY, ROUNDING_MODES

    rounding = next(o for o in QUANTIZE_OPTIONS if o.name == "rounding")
    assert rounding.values() == ROUNDING_MODES and rounding.default == HALF_AWAY
    assert field_ids(rounding) == ("rounding",)
    assert QuantOptions(rounding="half-even").argv() == ["--rounding", "half-even"]


def test_repeatable_state_flag() -> None:
    ctx = cli_module.cli.commands["bench"].make_context(
        "bench",
        ["m.dlc", "--input-list", "l", "--stateful", "--state", "a=b", "--state", "c=d"],
    )
    options = BenchOptions(**{o.name: ctx.params[o.name] for o in BENCH_OPTIONS})
    assert options.stateful and options.state == ("a=b", "c=d")
    assert options.argv() == ["--stateful", "--state", "a=b", "--state", "c=d"]
    assert RunOptions(stateful=True, state="a=b, c=d").state == ("a=b", "c=d")  # a form's text
    with pytest.raises(Exception, match="add --stateful"):
        RunOptions(state=("a=b",))
    with pytest.raises(Exception, match="INPUT=OUTPUT pairs, got 'a'"):
        BenchOptions(stateful=True, state=("a",))


FORMS = {
    "quantize": (QUANTIZE_OPTIONS, lambda: QuantOptions()),
    "bench": (BENCH_OPTIONS, lambda: BenchOptions()),  # every runtime, as the CLI
    "advise": (ADVISE_OPTIONS, lambda: AdviseOptions()),
}


async def test_every_declared_option_is_a_form_field(make_app) -> None:
    from workbench.tui.screens.advise_form import AdviseForm
    from workbench.tui.screens.bench_form import BenchForm
    from workbench.tui.screens.quantize_form import QuantizeForm

    screens = {"quantize": QuantizeForm, "bench": BenchForm, "advise": AdviseForm}
    app = make_app()
    async with app.run_test(size=(100, 60)) as pilot:
        for name, (options, defaults) in FORMS.items():
            form = screens[name]("default")
            await app.push_screen(form)
            await pilot.pause()
            for o in options:
                for field in field_ids(o):
                    assert form.query(f"#{field}"), f"{name} form: no field {field} for {o.name}"
            # The fresh form reads back as the declared defaults.
            values = read_options(form, options)
            for job_option in ("analyze", "eval_list", "metric"):  # the job's, not the quantizer's
                if name == "quantize":
                    values.pop(job_option)
            assert type(defaults())(**values) == defaults(), name
            if name == "bench":  # the repeatable --state as one text field, round trip
                set_options(form, options, {"stateful": True, "state": ("h=h_next", "c=c_n")})
                options_read = BenchOptions(**read_options(form, options))
                assert options_read.stateful and options_read.state == ("h=h_next", "c=c_n")
            form.dismiss(None)
        await settle(pilot)
