"""workbench sweep / sweeps on one cell: the tables fit 80 columns, a rerun says what it
skipped, --json is the cells, a bad spec is one line and exit code 2."""

from __future__ import annotations

import json

from tests.jobs.sweepspec import write_zoo


def test_sweep_command(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    spec = write_zoo(tmp_path, settings='"tf"', runtimes='["dsp"]')
    spec.write_text(spec.read_text().replace('[[models]]\npath = "m1.onnx"\n', ""))
    first = cli("sweep", str(spec), "--jobs", "1")
    assert first.exit_code == 0, first.stderr
    out = first.stdout
    assert "m0: best setting per runtime" in out and "m0: Pareto front" in out
    assert "sweep zoo: 1 cells, 1 ran, 0 skipped" in out
    assert max(len(line) for line in out.splitlines()) <= 80

    again = cli("sweep", str(spec), "--jobs", "1")
    assert again.exit_code == 0, again.stderr
    assert "skipping 1 of 1 cells already done" in again.stderr
    assert "sweep zoo: 1 cells, nothing to run, 1 skipped" in again.stdout
    again = cli("--json", "sweep", str(spec), "--jobs", "1")
    assert again.exit_code == 0 and again.stderr == ""
    result = json.loads(again.stdout)
    assert (result["ran"], result["skipped"], result["status"]) == (0, 1, "succeeded")
    (cell,) = result["cells"]
    assert cell["runtime"] == "dsp" and cell["skipped"] and cell["pareto"]
    assert cell["metric"] == "sqnr" and cell["metric_value"] == cell["sqnr_db"] is not None

    listed = cli.json("sweeps", "list")
    assert [(s["name"], s["status"], s["cells"]) for s in listed] == [("zoo", "succeeded", 1)]
    shown = cli.json("sweeps", "show", "zoo")
    assert shown["best"][0]["bench_run_id"] == cell["bench_run_id"]


def test_bad_sweeps_are_one_line_and_exit_2(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[grid]\nparam_quantizer = "nope"\n')
    for args in (
        ("sweep", str(tmp_path / "missing.toml")),
        ("sweep", str(bad)),
        ("sweep", str(bad), "--jobs", "0"),
        ("sweep", str(bad), "--address", "h:1"),
        ("sweeps", "show", "nothing"),
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("error: ") or "Error" in result.stderr
