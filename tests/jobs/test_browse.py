"""Paged, sorted, filtered reads for browsing (the TUI's tables)."""

from __future__ import annotations

import pytest

from tests.tui.seed import seed_many, seed_store
from workbench.errors import BadInput
from workbench.jobs.browse import (
    RunFilter,
    TableQuery,
    compare_runs,
    layer_sqnr,
    model_detail,
    page_experiments,
    page_models,
    page_projects,
    page_runs,
    parse_filter,
    project_containers,
    run_row,
    run_view,
)
from workbench.vocabulary import RUN_KINDS


@pytest.fixture
def seeded(store):
    return seed_store(store)


def ids(page) -> list[int]:
    return [r.id for r in page.rows]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", RunFilter()),
        ("mobilenet 42", RunFilter(words=("mobilenet", "42"))),
        ("tag:v2 #fast", RunFilter(tags=("v2", "fast"))),
        ("status:failed", RunFilter(status="failed")),
        ("STATUS:Failed", RunFilter(status="failed")),
        ("is:interrupted", RunFilter(status="interrupted")),
        ("runtime:DSP", RunFilter(runtime="dsp")),
        ("rt:gpu_fp16", RunFilter(runtime="gpu_fp16")),
        ("model:ResNet18", RunFilter(model_name="ResNet18")),  # a name keeps its case
        ("model:12", RunFilter(model_id=12)),  # digits: the model's id
        ("is:starred", RunFilter(starred=True)),
        ("is:star", RunFilter(starred=True)),
        ("is:baseline", RunFilter(baseline=True)),
        ("#a tag:b", RunFilter(tags=("a", "b"))),  # one-letter tags
        ("model:org:net tag:x:y", RunFilter(model_name="org:net", tags=("x:y",))),  # first colon
        # Not tokens: searched as words.
        (
            "is:marked tag: # model: nokey:x",
            RunFilter(words=("is:marked", "tag:", "#", "model:", "nokey:x")),
        ),
        (
            "mobilenet tag:v2 #fast status:failed runtime:dsp is:starred is:baseline model:resnet",
            RunFilter(
                words=("mobilenet",),
                tags=("v2", "fast"),
                status="failed",
                runtime="dsp",
                starred=True,
                baseline=True,
                model_name="resnet",
            ),
        ),
    ],
)
def test_parse_filter(text: str, expected: RunFilter) -> None:
    assert parse_filter(text) == expected


def test_parse_filter_refuses_an_unknown_status() -> None:
    with pytest.raises(BadInput, match=r"unknown status .done. \(one of running, succeeded, "):
        parse_filter("status:done")


def test_run_filter_tokens_through_the_table(store, seeded) -> None:
    def total(text: str, kind: str | None = None) -> int:
        return page_runs(store, "default", TableQuery(text=text), kind=kind).total

    models = {r.model for r in page_runs(store, "default", TableQuery(limit=100)).rows}
    assert models == {"mobilenet_v2", "resnet18"}
    # model:NAME is exactly that name (a part of it is no name); a free word is a part.
    assert total("model:mobilenet_v2") == total("mobilenet_v2") > 0
    assert total("model:mobilenet") == 0 and total("mobilenet") == total("mobilenet_v2")
    assert total(f"model:{seeded.models['resnet18']}") == total("model:resnet18") > 0
    baselines = page_runs(store, "default", TableQuery(text="is:baseline")).rows
    assert [r.id for r in baselines] == [seeded.quantize_runs[0]] and baselines[0].baseline
    assert total("is:baseline", "bench") == 0
    assert total("rt:DSP is:starred") == total("runtime:dsp is:starred")
    assert total("tag:v2") == total("#v2") == 4


def test_runs_page_sort_and_filter(store, seeded) -> None:
    page = page_runs(store, "default", TableQuery(limit=4), kind="quantize")
    assert (
        page.total == 10 and ids(page) == sorted(seeded.quantize_runs + [9, 10], reverse=True)[:4]
    )
    page = page_runs(store, "default", TableQuery(sort="sqnr", limit=100), kind="quantize")
    values = [r.sqnr_db for r in page.rows]
    measured = [v for v in values if v is not None]
    assert measured == sorted(measured, reverse=True) and values[-2:] == [None, None]  # nulls last
    ascending = page_runs(
        store, "default", TableQuery(sort="sqnr", descending=False), kind="quantize"
    )
    assert [r.sqnr_db for r in ascending.rows][:1] == [min(measured)]
    dsp = page_runs(store, "default", TableQuery(text="runtime:dsp"), kind="bench")
    assert dsp.total == 4 and {r.runtime for r in dsp.rows} == {"dsp"}
    tagged = page_runs(store, "default", TableQuery(text="#v2"))
    assert {r.kind for r in tagged.rows} == {"quantize", "bench"} and tagged.total == 4
    words = page_runs(store, "default", TableQuery(text="resnet enhanced"), kind="quantize")
    assert {(r.model, r.param_quantizer) for r in words.rows} == {("resnet18", "enhanced")}
    failed = page_runs(store, "default", TableQuery(text="is:failed"))
    assert ids(failed) == [seeded.failed_run] and failed.rows[0].error
    starred = page_runs(store, "default", TableQuery(text="is:starred"))
    assert all(r.starred for r in starred.rows) and starred.total == 2
    by_id = page_runs(store, "default", TableQuery(text=str(seeded.failed_run)))
    assert seeded.failed_run in ids(by_id)
    with pytest.raises(BadInput, match="cannot sort runs"):
        page_runs(store, "default", TableQuery(sort="nope"))
    with pytest.raises(BadInput, match="page size"):
        TableQuery(limit=0)


def test_every_run_column_sorts(store, seeded) -> None:
    from workbench.store.queries import RUN_SORTS

    for key in RUN_SORTS:
        for descending in (True, False):
            page = page_runs(store, "default", TableQuery(sort=key, descending=descending))
            assert page.total == 29 and len(page.rows) == 29, key


def test_paging_10000_runs(store) -> None:
    seed_many(store, 10_000)
    page = page_runs(store, "default", TableQuery(offset=4_950, limit=100), kind="bench")
    assert page.total == 5_000 and len(page.rows) == 50 and page.last_offset == 4_900


def test_models_containers_and_details(store, seeded) -> None:
    models = page_models(store, "default", TableQuery(sort="macs"))
    assert [m.name for m in models.rows] == ["resnet18", "mobilenet_v2"]
    assert models.rows[0].containers == 2 and models.rows[0].quantized_containers == 1
    assert models.rows[0].runs == 14
    assert [m.name for m in page_models(store, "default", TableQuery(text="mobile")).rows] == [
        "mobilenet_v2"
    ]
    floats = project_containers(store, "default", quantized=False)
    assert {c.file_name for c in floats} == {"mobilenet_v2.dlc", "resnet18.dlc"}
    detail = model_detail(store, seeded.models["mobilenet_v2"])
    assert detail.inputs[0]["name"] == "input" and len(detail.containers) == 2


def test_run_view_and_layers(store, seeded) -> None:
    view = run_view(store, seeded.quantize_runs[0])
    assert view.container.file_name == "mobilenet_v2.dlc"
    assert view.output_container.quantized and view.calibration["samples"] == 32
    assert view.report["sensitivity"]["weights_only_sqnr_db"] > 0 and len(view.layers) == 12
    layers = layer_sqnr(store, [seeded.quantize_runs[0], seeded.bench_runs[0]])
    assert len(layers[seeded.quantize_runs[0]]) == 12 and layers[seeded.bench_runs[0]] == ()
    row = run_row(store, seeded.quantize_runs[1])
    assert row.tags == ("candidate", "v2") and row.starred and row.output_size_bytes


def test_compare_runs_uses_the_project_baseline(store, seeded) -> None:
    first, second, third = seeded.quantize_runs[:3]
    comparison = compare_runs(store, [second, third, first])
    assert comparison.baseline.id == first  # flagged as the quantize baseline
    assert compare_runs(store, [second, first], baseline_id=second).baseline.id == second
    keys = {row.metric.key for row in comparison.rows}
    assert {"param_quantizer", "sqnr_db", "weights_only_sqnr_db", "size_bytes"} <= keys
    assert comparison.layers is not None and len(comparison.layers.run_ids) == 3
    with pytest.raises(BadInput, match="at least two"):
        compare_runs(store, [first])
    with pytest.raises(BadInput, match="not one of"):
        compare_runs(store, [first, second], baseline_id=third)


def test_experiments_and_projects_as_pages(store, seeded) -> None:
    experiments = page_experiments(store, "default", TableQuery(sort="name"))
    assert [e.name for e in experiments.rows] == [seeded.experiment] and experiments.rows[
        0
    ].runs == 2
    projects = page_projects(store, TableQuery(sort="runs"))
    assert [p.name for p in projects.rows][0] == "default"
    assert "old-2020" not in {p.name for p in page_projects(store, TableQuery(sort="name"),
                                                            include_archived=False).rows}  # fmt: skip


def _oracle(rows, **want):
    """The ids of ``rows`` that a filter should keep, decided in Python from the rows."""
    keep = []
    for r in rows:
        if "status" in want and r.status != want["status"]:
            continue
        if "kind" in want and r.kind != want["kind"]:
            continue
        if "runtime" in want and r.runtime != want["runtime"]:
            continue
        if "model" in want and r.model != want["model"]:
            continue
        if "model_id" in want and r.model_id != want["model_id"]:
            continue
        if not set(want.get("tags", ())) <= set(r.tags):
            continue
        if want.get("starred") and not r.starred:
            continue
        if want.get("baseline") and not r.baseline:
            continue
        keep.append(r.id)
    return sorted(keep)


def _token_table(rows, seeded):
    """(filter text, expected ids): every token of the TUI's filter, each alone and some
    combined, with what the seeded runs say it must keep."""
    statuses = sorted({r.status for r in rows})
    runtimes = sorted({r.runtime for r in rows if r.runtime})
    tags = sorted({t for r in rows for t in r.tags})
    table = [("", _oracle(rows))]
    for st in statuses:
        table += [
            (f"status:{st}", _oracle(rows, status=st)),
            (f"is:{st}", _oracle(rows, status=st)),
        ]
    for rt in runtimes:
        table += [
            (f"runtime:{rt}", _oracle(rows, runtime=rt)),
            (f"rt:{rt.upper()}", _oracle(rows, runtime=rt)),  # runtimes are any case
        ]
    for tag in tags:
        table += [(f"tag:{tag}", _oracle(rows, tags=[tag])), (f"#{tag}", _oracle(rows, tags=[tag]))]
    for name, model_id in seeded.models.items():
        table += [
            (f"model:{name}", _oracle(rows, model=name)),
            (f"model:{model_id}", _oracle(rows, model_id=model_id)),
            (f"model:{name[:-1]}", []),  # exactly the name: a part of it is no name
            (f"model:{name.upper()}", []),  # names keep their case
        ]
    table += [
        ("is:starred", _oracle(rows, starred=True)),
        ("is:star", _oracle(rows, starred=True)),
        ("is:baseline", _oracle(rows, baseline=True)),
        ("#v2 #candidate", _oracle(rows, tags=["v2", "candidate"])),
        ("is:starred rt:dsp", _oracle(rows, starred=True, runtime="dsp")),
        ("is:succeeded model:resnet18", _oracle(rows, status="succeeded", model="resnet18")),
        ("is:baseline is:failed", _oracle(rows, baseline=True, status="failed")),
    ]
    return table


def test_every_filter_token_keeps_exactly_its_runs(store, seeded) -> None:
    rows = page_runs(store, "default", TableQuery(limit=1000)).rows
    assert len(rows) == 29  # 10 quantize, 18 bench, 1 debug
    for text, expected in _token_table(rows, seeded):
        got = sorted(ids(page_runs(store, "default", TableQuery(text=text, limit=1000))))
        assert got == expected, text
        for kind in RUN_KINDS:  # the TUI's per-kind tables
            page = page_runs(store, "default", TableQuery(text=text, limit=1000), kind=kind)
            assert sorted(ids(page)) == [i for i in expected if i in _oracle(rows, kind=kind)]
            assert page.total == len(page.rows), text
    # Every token narrows: none of them may keep everything (else the table proves little).
    assert all(len(expected) < len(rows) for text, expected in _token_table(rows, seeded) if text)
    assert any(expected for text, expected in _token_table(rows, seeded) if "baseline" in text)


def test_every_runs_list_option_keeps_exactly_its_runs(store, seeded, cli) -> None:
    rows = page_runs(store, "default", TableQuery(limit=1000)).rows

    def listed(*args: str) -> list[int]:
        page = cli.json("runs", "list", "--limit", "1000", *args)
        assert page["total"] == len(page["runs"])
        return sorted(r["id"] for r in page["runs"])

    table = [((), _oracle(rows)), (("--starred",), _oracle(rows, starred=True))]
    for st in sorted({r.status for r in rows}):
        table.append((("--status", st), _oracle(rows, status=st)))
    for kind in RUN_KINDS:
        table.append((("--kind", kind), _oracle(rows, kind=kind)))
    for rt in sorted({r.runtime for r in rows if r.runtime}):
        table.append((("--runtime", rt), _oracle(rows, runtime=rt)))
    for tag in sorted({t for r in rows for t in r.tags}):
        table.append((("--tag", tag), _oracle(rows, tags=[tag])))
    for name, model_id in seeded.models.items():
        table.append((("--model", name), _oracle(rows, model=name)))
        table.append((("--model", str(model_id)), _oracle(rows, model_id=model_id)))
    table += [
        (("--tag", "v2", "--tag", "candidate"), _oracle(rows, tags=["v2", "candidate"])),
        (("--kind", "bench", "--runtime", "dsp", "--starred"), _oracle(rows, kind="bench", runtime="dsp", starred=True)),
        (("--status", "failed", "--model", "resnet18"), _oracle(rows, status="failed", model="resnet18")),
    ]  # fmt: skip
    for args, expected in table:
        assert listed(*args) == expected, args
    assert cli("runs", "list", "--model", "mobilenet").exit_code == 2  # no model of that name


def test_run_filter_refuses_unknown_values_listing_the_known_ones() -> None:
    with pytest.raises(
        BadInput,
        match=r"^unknown status 'done' \(one of running, succeeded, failed, interrupted\)$",
    ):
        RunFilter(status="done")
    with pytest.raises(
        BadInput, match=r"^unknown run kind 'train' \(one of quantize, bench, debug\)$"
    ):
        RunFilter(kind="train")
