"""Fuzz that asserts the refusal: each generated input is invalid in a known way, and the
specific check that must catch it has to say so.

``test_fuzz.py`` proves that no input gives a traceback; a success passes there, so a
check that vanished (a container entry read without its sha256, an HTA subnet list that
no longer has to cover the graph) goes unnoticed. Here every case is built to be
refused, and the message must be that check's.
"""

from __future__ import annotations

import json
import random
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.modelzoo import small_cnn
from workbench.engine.container import Container, make_manifest, read_container, write_container
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.quantizer import QuantOptions, quantize_container
from workbench.engine.runtimes import check_runtime, load_network
from workbench.errors import BadInput, ContainerError, RuntimeRefused

SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def hta(tmp_path_factory: pytest.TempPathFactory) -> tuple[Container, Path, dict[str, bytes]]:
    """A quantized container with HTA records (in memory, on disk, and its entries)."""
    folder = tmp_path_factory.mktemp("fuzz-refusals")
    rng = np.random.default_rng(0)
    calib = [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(4)]
    graph = import_onnx(small_cnn(folder / "small.onnx"))
    c = Container(make_manifest(converter={"command": "fuzz"}), graph)
    q = quantize_container(c, calib, QuantOptions(enable_hta=True)).container
    path = folder / "q.dlc"
    write_container(path, q)
    with zipfile.ZipFile(path) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    return q, path, entries


def _write(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:  # fresh CRCs: only our own checks can object
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), how=st.sampled_from(["flip", "resize", "drop", "add"]))
def test_a_spoiled_entry_is_refused_by_its_own_check(hta, tmp_path, seed, how) -> None:
    _, _, entries = hta
    rng = random.Random(seed)
    names = sorted(n for n in entries if n != "manifest.json")
    name = rng.choice(names)  # graph, parameters, encodings or an HTA record
    spoiled = dict(entries)
    data = bytearray(entries[name])
    if how == "flip":
        at = rng.randrange(len(data))
        data[at] ^= rng.randrange(1, 256)
        spoiled[name] = bytes(data)
        expected = rf"entry '{name}' is corrupt: sha256 does not match the manifest"
    elif how == "resize":
        if rng.random() < 0.5 and len(data) > 1:
            spoiled[name] = bytes(data[: rng.randrange(1, len(data))])
        else:
            spoiled[name] = bytes(data) + rng.randbytes(rng.randint(1, 64))
        expected = rf"entry '{name}' declares {len(spoiled[name])} bytes but the manifest says"
    elif how == "drop":
        del spoiled[name]
        expected = rf"entry '{name}' is listed in the manifest but missing"
    else:
        name = f"records/extra_{rng.randrange(1000)}.bin"
        spoiled[name] = rng.randbytes(rng.randint(0, 32))
        expected = rf"entry '{name}' is not listed in the manifest"
    path = _write(tmp_path / f"spoiled-{seed}.dlc", spoiled)
    with pytest.raises(ContainerError, match=expected):
        read_container(path)


def _partition_edit(doc: dict, rng: random.Random, n_nodes: int) -> str:
    """Spoil the subnet list so it no longer covers the graph node for node, in order."""
    subnets = doc["subnets"]
    i = rng.randrange(len(subnets))
    s = subnets[i]
    edit = rng.choice(["start", "end", "drop", "duplicate", "rename", "kind", "extra", "swap"])
    if edit == "start":
        s["layers"][0] += rng.choice([-2, -1, 1, 2])
    elif edit == "end":
        delta = rng.choice([-1, 1, 3])
        s["layers"][1] += delta
        if delta < 0:
            s["nodes"] = s["nodes"][:delta]
    elif edit == "drop":
        subnets.pop(i)
    elif edit == "duplicate":
        subnets.insert(i, json.loads(json.dumps(s)))
    elif edit == "rename":
        j = rng.randrange(len(s["nodes"]))
        s["nodes"][j] = s["nodes"][j] + rng.choice(["_", "x", "0"])
    elif edit == "kind":
        s["kind"] = rng.choice(["HTA", "npu", "", None, 1])
    elif edit == "extra":
        subnets.append({"kind": "hnn", "layers": [n_nodes, n_nodes + 1], "nodes": ["ghost"]})
    elif len(subnets) > 1:  # swap: right nodes, wrong order
        subnets[0], subnets[1] = subnets[1], subnets[0]
    else:
        subnets.pop()
    return edit


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4))
def test_a_subnet_list_that_does_not_cover_the_graph_is_refused(hta, seed, batch) -> None:
    q, _, _ = hta
    rng = random.Random(seed)
    doc = json.loads(q.records["subnets.json"])
    edit = _partition_edit(doc, rng, len(q.graph.nodes))
    spoiled = replace(q, records={**q.records, "subnets.json": json.dumps(doc).encode()})
    for attempt in (check_runtime, load_network):  # before any init work, and at init
        with pytest.raises(RuntimeRefused, match="do not match its graph") as info:
            attempt(spoiled, "aip", batch=batch)
        assert edit and "\n" not in str(info.value)


@SETTINGS
@given(batch=st.integers(2, 64))
def test_a_batch_above_one_with_hnn_subnets_is_refused_naming_the_layer(hta, batch) -> None:
    q, _, _ = hta
    doc = json.loads(q.records["subnets.json"])
    first_hnn = next(s["nodes"][0] for s in doc["subnets"] if s["kind"] == "hnn")
    with pytest.raises(RuntimeRefused, match=f"layers from '{first_hnn}' on run as an HNN"):
        check_runtime(q, "aip", batch=batch)


@SETTINGS
@given(
    batch=st.one_of(
        st.integers(-5, 0), st.booleans(), st.floats(1, 4), st.sampled_from(["", "2", "x", None])
    )
)
def test_a_batch_that_is_no_positive_integer_is_bad_input(hta, batch) -> None:
    q, _, _ = hta
    for runtime in ("cpu", "dsp", "aip"):
        with pytest.raises(BadInput, match="--batch must be a positive integer"):
            check_runtime(q, runtime, batch=batch)
