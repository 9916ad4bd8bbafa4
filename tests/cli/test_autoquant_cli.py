"""autoquant through the CLI: bad goals in one line (exit 2), the table, --json."""

from __future__ import annotations

import pytest

from tests.modelzoo import small_cnn, write_inputs


@pytest.fixture
def float_dlc(cli, tmp_path):
    model = small_cnn(tmp_path / "small.onnx")
    cli.json("convert", str(model), "-o", str(tmp_path / "small.dlc"))
    listing, _ = write_inputs(tmp_path, 3)
    return tmp_path / "small.dlc", listing


def _args(dlc, listing, tmp_path, *more):
    return ("autoquant", str(dlc), "--input-list", str(listing), "--eval-list", str(listing),
            "-o", str(tmp_path / "best.dlc"), *more)  # fmt: skip


@pytest.mark.parametrize(
    ("goal", "message"),
    [
        ("sqnr=30", "--goal takes METRIC>=VALUE or METRIC<=VALUE (METRIC one of sqnr, cosine"),
        ("accuracy>=0.9", "unknown metric 'accuracy' (known: sqnr, cosine, max-abs, mae, top1"),
        ("top1>=99", "top1 is a fraction; write top1>=0.99 for 99%"),
        ("sqnr<=30", "sqnr is better higher"),
    ],
)
def test_bad_goals_exit_2_with_one_line(cli, float_dlc, tmp_path, goal, message):
    dlc, listing = float_dlc
    result = cli(*_args(dlc, listing, tmp_path, "--goal", goal))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:")
    assert not (tmp_path / "best.dlc").exists()


def test_a_goal_is_required_and_the_runtime_checked(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    result = cli(*_args(dlc, listing, tmp_path))
    assert result.exit_code == 2 and "--goal is required" in result.stderr
    result = cli(*_args(dlc, listing, tmp_path, "--goal", "sqnr>=1", "--runtime", "gpu"))
    assert result.exit_code == 2 and "'gpu' is not one of 'dsp', 'aip', 'cpu'" in result.stderr


def test_autoquant_prints_candidates_front_and_why(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    result = cli(*_args(dlc, listing, tmp_path, "--goal", "sqnr>=20", "--experiment", "aq"))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "autoquant sqnr>=20 on dsp, N=3" in out and "▶ ★ 1" in out
    assert "Pareto front (sqnr / size / device init): #1" in out
    assert "#1 tf won: the first candidate in order of cost that meets sqnr>=20" in out
    assert (tmp_path / "best.dlc").is_file()
    shown = cli.json("experiment", "show", "aq")
    assert len(shown["run_ids"]) == 2 and shown["note"].startswith("autoquant: goal sqnr>=20")


def test_autoquant_json_has_every_candidate_and_the_choice(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    data = cli.json(*_args(dlc, listing, tmp_path, "--goal", "sqnr>=200", "--runtime", "cpu",
                           "--budget-minutes", "0.0001"))  # fmt: skip
    assert data["met"] is False and data["runtime"] == "cpu"
    assert data["stopped"] == "the budget of 0.0001 min ran out"
    (only,) = data["candidates"]
    assert only["label"] == "tf" and only["pareto"] and data["chosen"] == 1
    assert only["bench_run_id"] and only["quantize_run_id"] and only["layers"] == 5
    assert "not met" in data["why"] and data["output"].endswith("best.dlc")
    bench = cli.json("runs", "show", str(only["bench_run_id"]))
    assert bench["details"]["cpu_fxp"] is True  # the CPU's integer-true mode
