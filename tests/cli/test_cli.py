"""The command line through click's runner: output, JSON, exit codes."""

from __future__ import annotations

import json

import pytest

from workbench import cli as cli_module
from workbench.store import RUN_KINDS, RUN_STATUSES


def test_done_criterion_create_then_list_json(cli) -> None:
    assert cli("project", "create", "demo").exit_code == 0
    listed = cli.json("project", "list")
    assert [p["name"] for p in listed] == ["demo"]
    # --json and --db are accepted after the command as well
    result = cli("project", "list", "--json")
    assert json.loads(result.stdout)[0]["name"] == "demo"


def test_project_json_shape_is_stable(cli) -> None:
    created = cli.json("project", "create", "demo")
    assert set(created) == {
        "id", "name", "archived", "created_at", "runs", "models", "containers", "experiments"
    }  # fmt: skip
    assert created["created_at"].endswith("+00:00")


def test_project_lifecycle(cli) -> None:
    cli("project", "create", "a")
    assert cli.json("project", "rename", "a", "b")["name"] == "b"
    assert cli.json("project", "archive", "b")["archived"] is True
    assert cli.json("project", "list") == []
    assert [p["name"] for p in cli.json("project", "list", "--all")] == ["b"]
    assert cli.json("project", "archive", "b", "--unarchive")["archived"] is False
    assert cli.json("project", "show", "b")["name"] == "b"
    assert cli.json("--project", "b", "project", "show")["name"] == "b"
    result = cli("project", "delete", "b", "--yes")
    assert result.exit_code == 0 and "deleted project b" in result.stdout


def test_delete_asks_first(cli) -> None:
    cli("project", "create", "a")
    declined = cli("project", "delete", "a", input="n\n")
    assert declined.exit_code == 1
    assert "Delete project 'a'" in declined.stderr
    assert [p["name"] for p in cli.json("project", "list")] == ["a"]
    accepted = cli("project", "delete", "a", input="y\n")
    assert accepted.exit_code == 0
    assert cli.json("project", "list") == []


def test_human_output_is_a_table(cli, make_run) -> None:
    make_run(tags=["nightly"], runtime="dsp", sqnr_db=41.25)
    out = cli("runs", "list").stdout
    assert "nightly" in out and "dsp" in out and "41.25" in out
    assert "runs 1-1 of 1 in project default" in out


def test_runs_list_filters_and_paging(cli, make_run) -> None:
    ids = [make_run(kind="bench", runtime="cpu") for _ in range(3)]
    failed = make_run(kind="quantize", status="failed", tags=["x"])
    page = cli.json("runs", "list", "--limit", "2")
    assert [r["id"] for r in page["runs"]] == [failed, ids[2]]
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 0)
    assert [r["id"] for r in cli.json("runs", "list", "--offset", "3")["runs"]] == [ids[0]]
    assert [r["id"] for r in cli.json("runs", "list", "--status", "failed")["runs"]] == [failed]
    assert [r["id"] for r in cli.json("runs", "list", "--kind", "bench")["runs"]] == ids[::-1]
    assert [r["id"] for r in cli.json("runs", "list", "--tag", "x")["runs"]] == [failed]
    assert cli.json("runs", "list", "--runtime", "dsp")["runs"] == []


def test_run_annotations(cli, make_run) -> None:
    run = str(make_run())
    assert cli.json("runs", "tag", run, "a", "b")["tags"] == ["a", "b"]
    assert cli.json("runs", "untag", run, "a")["tags"] == ["b"]
    assert cli.json("runs", "note", run, "check this")["notes"] == "check this"
    assert cli.json("runs", "star", run)["starred"] is True
    assert cli.json("runs", "star", run, "--unstar")["starred"] is False
    assert cli.json("runs", "baseline", run)["baseline"] is True
    assert cli.json("runs", "baseline", run, "--clear")["baseline"] is False
    shown = cli.json("runs", "show", run)
    assert shown["id"] == int(run) and shown["details"]["runtime"] == "cpu"
    assert {"host", "pid", "log", "layers", "experiments", "details"} <= set(shown)
    assert "check this" in cli("runs", "show", run).stdout


def test_experiments(cli, make_run) -> None:
    a, b = make_run(), make_run(kind="quantize")
    assert cli.json("experiment", "create", "e1", "--note", "why")["note"] == "why"
    assert cli.json("experiment", "add", "e1", str(a), str(b))["run_ids"] == [a, b]
    shown = cli.json("experiment", "show", "e1")
    assert [r["id"] for r in shown["runs"]] == [b, a]
    assert cli.json("experiment", "remove", "e1", str(a))["run_ids"] == [b]
    assert [e["name"] for e in cli.json("experiment", "list")] == ["e1"]
    assert cli.json("experiment", "note", "e1", "new")["note"] == "new"
    assert "e1" in cli("experiment", "show", "e1").stdout


def _one_line_error(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--project", "nope", "runs", "list"], ["no project named 'nope'"]),
        (["runs", "show", "999"], ["no run with id 999"]),
        (["runs", "show", "abc"], ["'abc' is not a valid integer"]),
        (["runs", "tag", "1", "bad tag"], []),
        (["runs", "list", "--status", "done"], ["'done' is not one of"]),
        (["runs", "list", "--limit", "0"], ["--limit"]),
        (["runs", "lst"], ["No such command 'lst'"]),
        (["project", "create", "bad name"], ["invalid project name"]),
        (["project", "rename", "nope", "x"], ["no project named 'nope'"]),
        (["project", "delete", "nope"], ["no project named 'nope'"]),
        (["experiment", "show", "nope"], ["no experiment named 'nope'"]),
        (["--nope"], ["No such option"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args: list[str], fragments: list[str]) -> None:
    _one_line_error(cli(*args), 2, *fragments)


@pytest.mark.parametrize(
    "db, fragment",
    [
        ("foo://bar", "unknown backend"),
        ("sqlite:////nonexistent-dir/x.db", "does not exist"),
        ("sqlite:////proc/x.db", "unable to open database file"),
    ],
)
def test_bad_store_is_one_line_and_exit_2(cli, db: str, fragment: str) -> None:
    _one_line_error(cli("--db", db, "project", "list", db=False), 2, fragment)


def test_unwritable_store_file_is_exit_2(cli, tmp_path) -> None:
    (tmp_path / "file").write_text("")
    _one_line_error(cli("--db", str(tmp_path / "file" / "x.db"), "runs", "list", db=False), 2)


def test_internal_errors_are_one_line_and_exit_1(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.jobs.projects

    def broken(*_a, **_k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(workbench.jobs.projects, "list_projects", broken)
    _one_line_error(cli("project", "list"), 1, "internal error", "RuntimeError: kaboom")
    monkeypatch.setenv("WORKBENCH_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli("project", "list")


def test_no_command_prints_help(cli) -> None:
    result = cli(db=False)
    assert result.exit_code == 0 and "Commands:" in result.stdout
    result = cli("runs")
    assert result.exit_code == 0 and "list" in result.stdout


def test_env_var_names_the_store(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_DB", cli.url)
    assert cli("project", "create", "via-env", db=False).exit_code == 0
    assert [p["name"] for p in cli.json("project", "list")] == ["via-env"]


def test_vocabularies_match_the_store() -> None:
    assert cli_module.RUN_STATUSES == RUN_STATUSES
    assert cli_module.RUN_KINDS == RUN_KINDS


def test_limits_match_the_engine() -> None:
    from workbench.engine.batch import MAX_BATCH
    from workbench.vocabulary import MAX_ITERATIONS

    params = {p.name: p for p in cli_module.cli.commands["bench"].params}
    assert params["batch"].type.max == MAX_BATCH
    assert params["iterations"].type.max == MAX_ITERATIONS
