"""Mutation testing of the modules that carry the workbench's promises (on demand).

    python tests/mutation/run.py                  # every area below, one after another
    python tests/mutation/run.py requant runtimes # some of them
    python tests/mutation/run.py --list           # the areas, their functions and tests

For each area: a scratch copy of the tree (``$MUTATION_DIR``, default
``$TMPDIR/workbench-mutation/<area>``, made anew) gets a ``[tool.mutmut]`` section naming
the module, the area's test files and the functions to mutate; ``mutmut run`` then
changes one small thing at a time (an operator, a constant, a comparison, a dropped
argument) in a copy under ``mutants/`` and runs the tests that reach that function.
A mutant the tests notice is *killed*; one they do not is *survived*: a test is missing,
or the change is equivalent (it cannot change what any caller sees). Equivalent ones are
listed with the reason in ``tests/mutation/equivalent.py``, each with the text its
mutated line must still contain: an entry whose mutant was killed or now changes
something else is reported as stale. The score per area is killed / (killed + survived +
no tests), timeouts counting as killed; the score without the listed equivalents is
printed beside it, and the survivors neither killed nor listed are "unexplained".

Not part of the default test run: the areas take minutes to tens of minutes each on
two cores (``--max-children``, default 1, sets mutmut's parallel workers).
``mutmut`` is in the ``mutation`` extra (``pip install -e '.[mutation]'``). Tests that
run the workbench in a subprocess import the installed tree, not the mutant: they can
only ever let a mutant survive, never kill one wrongly.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from equivalent import EQUIVALENT  # noqa: E402 - beside this script


@dataclass(frozen=True)
class Area:
    module: str  # the file mutated
    tests: tuple[str, ...]  # the test files that guard it
    functions: tuple[str, ...] = ("*",)  # mutmut names (fnmatch) within the module

    @property
    def dotted(self) -> str:
        return self.module.removesuffix(".py").replace("/", ".")

    def mutant_globs(self) -> list[str]:
        return [f"{self.dotted}.{f}" for f in self.functions]


AREAS: dict[str, Area] = {
    "requant": Area(
        "workbench/engine/quant/requant.py",
        (
            "tests/engine/quant/test_requant.py",
            "tests/engine/quant/test_requant_property.py",
            "tests/engine/quant/test_int_accumulator.py",
        ),
    ),
    "encoding": Area(
        "workbench/engine/quant/encoding.py",
        ("tests/engine/quant/test_encoding.py",),
    ),
    "int-pool": Area(
        "workbench/engine/quant/int_ops/pool.py",
        ("tests/engine/quant/test_int_pool.py", "tests/engine/quant/test_int_pad.py"),
    ),
    "runtimes": Area(  # the AIP's records and the declared refusals
        "workbench/engine/runtimes/hta_plan.py",
        ("tests/engine/test_runtimes.py", "tests/reliability/test_fuzz_refusals.py"),
        (
            "x_subnets_doc*",
            "x__check_partition*",
            "x_all_hta*",
            "x_first_hnn_layer*",
            "x__hta_layers*",
        ),
    ),  # fmt: skip
    "runtime-rules": Area(
        "workbench/engine/runtimes/load.py",
        (
            "tests/engine/test_runtimes.py",
            "tests/engine/test_runtime_registry.py",
            "tests/engine/quant/test_layer_precision.py",
            "tests/reliability/test_fuzz_refusals.py",
        ),
        ("x_check_runtime*",),
    ),
    "container": Area(  # the reader's checks (the writer is exercised by every test)
        "workbench/engine/container.py",
        ("tests/engine/test_container.py", "tests/reliability/test_fuzz_refusals.py"),
        ("x_read_container*", "xǁ_Archiveǁ*"),
    ),
    "onnx-parsers": Area(  # attributes, constants, names, shapes and --input-dim
        "workbench/engine/onnx_import.py",
        ("tests/engine/test_onnx_import.py",),
        (
            "x__attr_value*",
            "x__enum_name*",
            "x__to_array*",
            "x__constant_value*",
            "x__node_names*",
            "x__parse_dims*",
            "x__fix_input_dims*",
            "x__dims_text*",
            "x__np_dtype_name*",
            "x__tensor_info*",
            "x__body_tensor_info*",
            "x__check_input_sizes*",
            "x__check_tensor_sizes*",
        ),
    ),
    "tflite-reader": Area(  # the flatbuffer's tables, checked and copied out
        "workbench/engine/tflite/reader.py",
        ("tests/engine/tflite/test_import.py", "tests/engine/tflite/test_reader.py"),
        (
            "x_read_tflite*",
            "x__snake*",
            "x__fields*",
            *(
                f"xǁ_Readerǁ{m}_*"  # not densify (sparse constants) nor freeze_state (state)
                for m in ("fail", "count", "ints", "model", "subgraph", "indices", "tensor")
                + ("buffer_bytes", "constant", "quantization", "operator", "options")
            ),
        ),
    ),
    "tflite-quant": Area(  # TFLite scale / zero point as workbench encodings and codes
        "workbench/engine/tflite/quant.py",
        ("tests/engine/tflite/test_import.py", "tests/engine/tflite/test_quant.py"),
    ),
    "lifecycle": Area(
        "workbench/jobs/lifecycle.py",
        ("tests/jobs/test_lifecycle.py",),
    ),
    "filters": Area(
        "workbench/jobs/browse.py",
        ("tests/jobs/test_browse.py",),
        ("x_parse_filter*",),
    ),
    "run-queries": Area(
        "workbench/store/queries.py",
        ("tests/jobs/test_browse.py", "tests/store/test_queries.py"),
        ("x__run_conditions*", "x__needs_joins*", "x_count_runs*", "xǁRunFilterǁ*"),
    ),
}

_RESULT = re.compile(r"^\s*(\S+): (.+)$")


def _scratch(area_name: str) -> Path:
    base = os.environ.get("MUTATION_DIR") or Path(tempfile.gettempdir()) / "workbench-mutation"
    return Path(base) / area_name


def _config(area: Area) -> str:
    tests = [t for t in area.tests if (ROOT / t).exists()]  # an older tree may lack some
    lines = [
        "",
        "[tool.mutmut]",
        'source_paths = ["workbench"]',
        f'only_mutate = ["{area.module}"]',
        f"pytest_add_cli_args_test_selection = {tests!r}",
        # deterministic property tests; no cache writes; stop a mutant's run at its first kill
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q", "--hypothesis-seed=0"]',
        'also_copy = ["migrations"]',
    ]
    return "\n".join(lines).replace("'", '"') + "\n"


def _prepare(area_name: str, area: Area) -> Path:
    where = _scratch(area_name)
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    for name in ("workbench", "tests", "migrations"):
        shutil.copytree(
            ROOT / name,
            where / name,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__", ".hypothesis", "mutants"),
        )
    text = (ROOT / "pyproject.toml").read_text()
    text = re.sub(r"\n\[tool\.mutmut\]\n(?:[^\[\n].*\n|\n)*", "\n", text)  # ours replaces it
    (where / "pyproject.toml").write_text(text + _config(area))
    return where


def _score(where: Path) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        ["mutmut", "results", "--all", "true"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        m = _RESULT.match(line)
        if m:
            counts[m.group(2).strip()] = counts.get(m.group(2).strip(), 0) + 1
    return counts


def _mutated_lines(where: Path, name: str) -> str:
    """The lines ``name`` adds (``mutmut show``), to check an equivalence still applies."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        ["mutmut", "show", name], cwd=where, env=env, capture_output=True, text=True
    ).stdout
    return "\n".join(
        line[1:] for line in out.splitlines() if line.startswith("+") and not line.startswith("++")
    )


def _judge(area_name: str, area: Area, where: Path, survivors: list[str]) -> tuple[list, list]:
    """Survivors split into listed equivalents (whose mutated line still matches the
    list) and the rest; a listed mutant that was killed or changed is reported."""
    listed = EQUIVALENT.get(area_name, {})
    equivalent, unexplained = [], []
    for full in survivors:
        short = full.removeprefix(area.dotted + ".")
        entry = listed.get(short)
        if entry is not None and entry[0] in _mutated_lines(where, full):
            equivalent.append(short)
        else:
            unexplained.append(short)
    stale = sorted(set(listed) - set(equivalent))
    for short in stale:
        print(f"  stale equivalence entry (killed, or no longer this change): {short}")
    return equivalent, unexplained


def _survivors(where: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        ["mutmut", "results"], cwd=where, env=env, capture_output=True, text=True, check=True
    ).stdout
    return [
        m.group(1)
        for line in out.splitlines()
        if (m := _RESULT.match(line)) and m.group(2).strip() in ("survived", "no tests")
    ]


def run_area(area_name: str, max_children: int, rescore: bool = False) -> dict[str, int]:
    area = AREAS[area_name]
    started = time.monotonic()
    if rescore:  # the last run's results, judged again (after editing equivalent.py)
        where = _scratch(area_name)
    else:
        where = _prepare(area_name, area)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # import the mutants
        cmd = ["mutmut", "run", "--max-children", str(max_children), *area.mutant_globs()]
        with open(where / "mutmut.log", "w") as log:
            subprocess.run(
                cmd, cwd=where, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
    counts = _score(where)
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    judged = killed + counts.get("survived", 0) + counts.get("no tests", 0)
    score = 100.0 * killed / judged if judged else float("nan")
    took = time.monotonic() - started
    print(
        f"{area_name:14} {area.module:42} {killed:5d}/{judged:<5d} killed  {score:5.1f} %"
        f"  ({took / 60:.1f} min; {dict(sorted(counts.items()))})",
        flush=True,
    )
    survivors = _survivors(where)
    equivalent, unexplained = _judge(area_name, area, where, survivors)
    if judged:
        print(
            f"  {len(equivalent)} survivors listed as equivalent (tests/mutation/equivalent.py); "
            f"without them {100.0 * killed / (judged - len(equivalent)):.1f} %; "
            f"{len(unexplained)} unexplained"
        )
    (where / "survivors.txt").write_text("".join(f"{n}\n" for n in survivors))
    (where / "unexplained.txt").write_text("".join(f"{n}\n" for n in unexplained))
    if unexplained:
        print(f"  unexplained: {where / 'unexplained.txt'} (`cd {where} && mutmut show NAME`)")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("areas", nargs="*", help=f"some of: {', '.join(AREAS)} (default: all)")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--list", action="store_true", help="show the areas and stop")
    parser.add_argument(
        "--rescore", action="store_true", help="judge the last run's results again, run nothing"
    )
    args = parser.parse_args(argv)
    unknown = [a for a in args.areas if a not in AREAS]
    if unknown:
        parser.error(f"unknown area(s) {', '.join(unknown)}; one of {', '.join(AREAS)}")
    if args.list:
        for name, area in AREAS.items():
            print(f"{name}: {area.module} [{', '.join(area.functions)}] <- {' '.join(area.tests)}")
        return 0
    if shutil.which("mutmut") is None:
        print("mutmut is not installed: pip install -e '.[mutation]'", file=sys.stderr)
        return 2
    print(f"load: {os.getloadavg()}", flush=True)
    started = time.monotonic()
    for name in args.areas or list(AREAS):
        run_area(name, args.max_children, args.rescore)
    print(f"total: {(time.monotonic() - started) / 60:.1f} min; load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
