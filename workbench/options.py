"""Job options, declared once: name, help, type, default, choices and bounds.

The command line's flags (``cli.py``) and the TUI's form fields
(``tui/widgets/option_form.py``) are generated from these declarations, and the
options objects (``QuantOptions``, ``BenchOptions``, ...) take their fields and their
checks from them: a new option is one ``Option`` added to its tuple below. No numpy
here: parsing the command line imports this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from workbench.errors import BadInput
from workbench.vocabulary import (
    ACT_BITWIDTHS,
    ADAROUND,
    ALGORITHMS,
    AUTOQUANT_RUNTIMES,
    BC,
    BIAS_BITWIDTHS,
    CLE,
    CPU,
    DEFAULT_ROUNDING,
    DROP_SUFFIX,
    DSP,
    EXECUTORS,
    FRACTION_METRICS,
    LAYER_PRECISIONS,
    LOCAL,
    LOWER_IS_BETTER,
    MAX_BATCH,
    MAX_ITERATIONS,
    MAX_SWEEP_JOBS,
    MAX_THREADS,
    METRICS,
    PERCENTILE,
    REGEX_PATTERN,
    ROUNDING_MODES,
    SCHEMES,
    SQNR,
    TF,
    TYPE_PATTERN,
    WEIGHT_BITWIDTHS,
    registered_runtimes,
)

# The advisor's threshold when none is given: each metric's own default (1 point of
# top-1 agreement, 30 dB SQNR, ...; ``workbench.engine.metrics``).
DEFAULT_MAX_ACCURACY_DROP = None

Choices = tuple[Any, ...] | Callable[[], tuple[Any, ...]]
_AS_DEFAULT: Any = type("_AsDefault", (), {"__repr__": lambda self: "AS_DEFAULT"})()


@dataclass(frozen=True)
class Option:
    """One option of a job, as the CLI, the TUI and the options object see it."""

    name: str  # the keyword and field name: weights_bitwidth
    help: str = ""  # the --help text
    type: type = str  # str | int | float | bool
    default: Any = None
    choices: Choices | None = None  # a callable is read when used (the registered runtimes)
    low: float | None = None  # bounds; ``low_open``: low itself is out
    high: float | None = None
    low_open: bool = False
    many: bool = False  # a comma-separated subset of the choices, kept as a tuple
    repeat: bool = False  # a repeatable flag (--state a=b --state c=d), kept as a tuple of texts
    path: bool = False  # a file the TUI checks exists (``must_exist``)
    must_exist: bool = True
    flag: str = ""  # default: --name-with-dashes
    short: str = ""  # a one-letter flag too: -o
    metavar: str | None = None
    show_default: bool = True
    label: str = ""  # the TUI form's label (a checkbox's text for a bool)
    choice_labels: tuple[str, ...] = ()  # many: one checkbox per choice with these texts
    placeholder: str = ""  # the TUI field's hint
    form_default: Any = _AS_DEFAULT  # the TUI form's initial value, when not default
    parse: Callable[[Any], Any] | None = None  # a parser of its own (it checks too)

    @property
    def cli_flag(self) -> str:
        """The flag; a bool that is on by default is turned off with ``--no-...``."""
        return self.flag or "--" + self.name.replace("_", "-")

    def values(self) -> tuple[Any, ...]:
        """The allowed values (() when any value of the type is)."""
        if self.choices is None:
            return ()
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def initial(self) -> Any:
        """The TUI form's initial value."""
        return self.default if self.form_default is _AS_DEFAULT else self.form_default

    def but(self, **changes: Any) -> Option:
        """This option with some attributes changed (another command's default or help)."""
        return dataclasses.replace(self, **changes)

    def check(self, value: Any) -> Any:
        """``value`` normalised to the option's type; ``BadInput`` naming the flag if bad."""
        if self.parse is not None:
            return self.parse(value)
        if value is None and self.default is None:
            return None
        if self.repeat:
            return split_texts(value)
        if self.many:
            return self._check_many(value)
        if self.type is bool:
            return bool(value)
        allowed = self.values()
        if allowed:
            return self._check_choice(value, allowed)
        if self.type in (int, float):
            return self._check_number(value)
        return self.type(value)

    def _check_choice(self, value: Any, allowed: tuple[Any, ...]) -> Any:
        if isinstance(value, bool) or value not in allowed:
            shown = ", ".join(str(a) for a in allowed)
            if all(isinstance(a, str) for a in allowed):
                raise BadInput(f"{self.cli_flag} must be one of {shown}, got {value!r}")
            raise BadInput(f"{self.cli_flag} must be {shown}, got {value!r}")
        return self.type(value)

    def _check_many(self, value: Any) -> tuple[Any, ...]:
        if isinstance(value, str):
            value = tuple(a for a in value.replace(" ", "").split(",") if a)
        items = tuple(str(a).strip().lower() for a in value)
        allowed = self.values()
        unknown = [a for a in items if a not in allowed]
        if unknown:
            raise BadInput(
                f"{self.cli_flag} takes a comma-separated subset of {', '.join(allowed)}, "
                f"got {', '.join(unknown)}"
            )
        return tuple(a for a in allowed if a in items)  # in the declared order

    def _check_number(self, value: Any) -> int | float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = self.type(value)
            if self.type is int and not isinstance(value, str) and number != value:
                raise ValueError  # 2.5 is no count
        except (TypeError, ValueError, OverflowError):
            kind = "an integer" if self.type is int else "a number"
            raise BadInput(f"{self.cli_flag} must be {kind}, got {value!r}") from None
        low, high = self.low, self.high
        if self.low_open and low is not None and high is not None:
            if not low < number <= high:
                raise BadInput(
                    f"{self.cli_flag} must be in ({_num(low)}, {_num(high)}], got {value!r}"
                )
        elif low is not None and high is not None:
            if not low <= number <= high:
                raise BadInput(
                    f"{self.cli_flag} must be between {_num(low)} and {_num(high)}, got {value}"
                )
        elif low is not None and not number >= low:  # NaN too
            raise BadInput(f"{self.cli_flag} must be >= {_num(low)}, got {value}")
        return number


def split_texts(value: Any) -> tuple[str, ...]:
    """A repeatable option's values: a text splits at commas and blanks (a TUI field)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return tuple(t for t in (str(v).strip() for v in value) if t)


def _num(v: Any) -> str:
    """A bound as people write it: 4096, 1,000,000, 99.99."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}" if isinstance(v, int) and abs(v) >= 10_000 else str(v)


# --------------------------------------------------------------------------- options objects

T = TypeVar("T", bound="DeclaredOptions")


class DeclaredOptions:
    """A frozen options value whose fields are its ``OPTIONS``; bad values raise ``BadInput``.

    Subclasses are made with ``@declared(OPTION, ...)``: no field is typed twice.
    """

    OPTIONS: ClassVar[tuple[Option, ...]] = ()
    WHAT: ClassVar[str] = "job"  # in messages: "unknown job option(s)"

    def __post_init__(self) -> None:
        for option in self.OPTIONS:
            object.__setattr__(self, option.name, option.check(getattr(self, option.name)))

    def to_dict(self) -> dict[str, Any]:
        """Every option, defaults included, as JSON data (tuples become lists)."""
        return {
            o.name: list(v) if isinstance(v := getattr(self, o.name), tuple) else v
            for o in self.OPTIONS
        }

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """The options of ``to_dict`` (missing ones take their default)."""
        known = {o.name for o in cls.OPTIONS}
        extra = sorted(set(data) - known)
        if extra:
            raise BadInput(f"unknown {cls.WHAT} option(s): {', '.join(extra)}")
        return cls(**data)

    def argv(self) -> list[str]:
        """The command-line flags that give these values (defaults left out)."""
        return option_argv(self.OPTIONS, self.to_dict())


def declared(*options: Option) -> Callable[[type[T]], type[T]]:
    """Make a ``DeclaredOptions`` subclass a frozen dataclass with one field per option."""

    def make(cls: type[T]) -> type[T]:
        cls.OPTIONS = tuple(options)
        cls.__annotations__ = {o.name: "Any" for o in options}
        for o in options:
            setattr(cls, o.name, o.default)
        return dataclass(frozen=True)(cls)

    return make


def option_argv(options: Iterable[Option], values: Mapping[str, Any]) -> list[str]:
    """``--flag value`` for every option whose value is not its default."""
    argv: list[str] = []
    for o in options:
        value = values.get(o.name, o.default)
        if isinstance(value, list):
            value = tuple(value)
        default = o.default if o.parse is None else o.parse(o.default)
        if value == default or value is None:
            continue
        if o.type is bool:
            argv.append(o.cli_flag)
        elif o.repeat:
            for item in value:
                argv += [o.cli_flag, str(item)]
        elif isinstance(value, tuple):
            argv += [o.cli_flag, ",".join(str(v) for v in value)]
        else:
            argv += [o.cli_flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return argv


# --------------------------------------------------------------------------- runtimes


def runtime_names() -> tuple[str, ...]:
    """The registered runtimes (read when asked: a runtime registered later is one too)."""
    return registered_runtimes()


def parse_runtimes(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``cpu,gpu,dsp`` (or a list) as runtime names, checked; None means all of them."""
    known = runtime_names()
    if text is None:
        return known
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise BadInput(
            f"--runtimes takes a comma-separated list of {', '.join(known)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return names


# --------------------------------------------------------------------------- state


def parse_state(value: Any) -> tuple[str, ...]:
    """``--state`` pairs as ``INPUT=OUTPUT`` texts (the job checks the names on the model)."""
    pairs = split_texts(value)
    for text in pairs:
        name_in, sep, name_out = text.partition("=")
        if not sep or not name_in.strip() or not name_out.strip():
            raise BadInput(f"--state takes INPUT=OUTPUT pairs, got {text!r}")
    return pairs


def check_state(stateful: bool, pairs: Iterable[str]) -> None:
    """``--state`` without ``--stateful`` would do nothing: refused."""
    if tuple(pairs) and not stateful:
        raise BadInput("--state names state to carry between inferences: add --stateful")


# --------------------------------------------------------------------------- layer rules


def _layer_rules(flag: str, allowed: tuple[str, ...]) -> Callable[[Any], tuple[str, ...]]:
    """A parser of ``PATTERN=VALUE`` rules (repeatable): PATTERN a layer name,
    ``type:OpType`` or ``re:REGEX``; VALUE one of ``allowed``. Kept as ``PATTERN=VALUE``
    texts (the quantizer resolves the patterns on the model: ``layer_precision.py``)."""

    def parse(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        items = (value,) if isinstance(value, str) else tuple(value)
        rules = []
        for item in items:
            # A TUI field holds several rules separated by blanks; a regex keeps its commas.
            for text in str(item).split():
                pattern, sep, setting = text.rpartition("=")
                setting = setting.strip().lower()
                if not sep or not pattern.strip():
                    raise BadInput(
                        f"{flag} takes PATTERN=VALUE rules (PATTERN a layer name, "
                        f"{TYPE_PATTERN}OpType or {REGEX_PATTERN}REGEX), got {text!r}"
                    )
                if setting not in allowed:
                    raise BadInput(
                        f"{flag} {text!r}: the value must be one of {', '.join(allowed)}"
                    )
                for prefix in (TYPE_PATTERN, REGEX_PATTERN):
                    if pattern.startswith(prefix) and not pattern[len(prefix) :]:
                        raise BadInput(f"{flag} {text!r}: {prefix} needs a name after it")
                if pattern.startswith(REGEX_PATTERN):
                    import re

                    try:
                        re.compile(pattern[len(REGEX_PATTERN) :])
                    except re.error as exc:
                        raise BadInput(f"{flag} {text!r}: bad regular expression ({exc})") from None
                rules.append(f"{pattern}={setting}")
        return tuple(rules)

    return parse


parse_layer_precision = _layer_rules("--layer-precision", LAYER_PRECISIONS)
parse_weights_override = _layer_rules(
    "--weights-bitwidth-override", tuple(str(b) for b in WEIGHT_BITWIDTHS)
)


# --------------------------------------------------------------------------- goals

_GOAL_FORMS = (
    f"METRIC>=VALUE or METRIC<=VALUE (METRIC one of {', '.join(METRICS)}) or "
    f"METRIC{DROP_SUFFIX}<=LOSS"
)


@dataclass(frozen=True)
class Goal:
    """An accuracy goal: ``sqnr>=30`` (a value to reach), ``mae<=0.01`` (an error to stay
    under) or ``top1-drop<=1`` (the metric's loss, in its unit, to stay under)."""

    metric: str
    at_least: bool  # >= (else <=)
    value: float
    drop: bool = False  # on the metric's loss (points for top1, label-accuracy, iou)

    @property
    def text(self) -> str:
        suffix = DROP_SUFFIX if self.drop else ""
        return f"{self.metric}{suffix}{'>=' if self.at_least else '<='}{self.value:g}"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: Any) -> Goal:
        """``BadInput`` (one line, naming the metrics) for a goal that means nothing."""
        raw = str(text if text is not None else "").strip()
        for op in (">=", "<="):
            name, sep, number = raw.partition(op)
            if sep:
                break
        else:
            raise BadInput(f"--goal takes {_GOAL_FORMS}, got {raw!r}")
        name, at_least = name.strip().lower(), op == ">="
        drop = name.endswith(DROP_SUFFIX) and name not in METRICS
        metric = name[: -len(DROP_SUFFIX)] if drop else name
        if metric not in METRICS:
            raise BadInput(
                f"--goal {raw!r}: unknown metric {name!r} (known: {', '.join(METRICS)}; "
                f"METRIC{DROP_SUFFIX} for its loss)"
            )
        try:
            value = float(number)
        except ValueError:
            raise BadInput(f"--goal {raw!r}: {number.strip()!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise BadInput(f"--goal {raw!r}: the value must be a finite number")
        if drop:
            if metric == SQNR:
                raise BadInput(f"--goal {raw!r}: {SQNR} has no drop; write {SQNR}>=DB")
            if at_least:
                raise BadInput(f"--goal {raw!r}: a drop is an upper bound; write {name}<=VALUE")
            if value < 0:
                raise BadInput(f"--goal {raw!r}: a drop cannot be negative")
        elif at_least == (metric in LOWER_IS_BETTER):
            better = "lower" if metric in LOWER_IS_BETTER else "higher"
            want = "<=" if metric in LOWER_IS_BETTER else ">="
            raise BadInput(
                f"--goal {raw!r}: {metric} is better {better}; write {metric}{want}VALUE"
            )
        elif metric in FRACTION_METRICS and not -1.0 <= value <= 1.0:
            raise BadInput(
                f"--goal {raw!r}: {metric} is a fraction; write {metric}>={value / 100:g} "
                f"for {value:g}%"
            )
        return cls(metric, at_least, value, drop)


def parse_goal(value: Any) -> str | None:
    """The ``--goal`` option: checked (``Goal.parse``), kept as its canonical text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return Goal.parse(value).text


# --------------------------------------------------------------------------- the options

ITERATIONS = Option(
    "iterations",
    "Timed inferences after warm-up.",
    int,
    10,
    low=1,
    high=MAX_ITERATIONS,
    label="Iterations",
)
BATCH = Option(
    "batch",
    "Resize the network to this batch at init.",
    int,
    1,
    low=1,
    high=MAX_BATCH,
    label="Batch",
)
CPU_FXP = Option(
    "cpu_fxp",
    "Also measure quantized containers on the CPU in fixed-point mode.",
    bool,
    False,
    label="CPU fixed-point mode (--cpu-fxp)",
)
METRIC = Option(
    "metric",
    "Judge accuracy by this metric (and keep it as the model's decision metric); default: "
    "the model's, proposed from its outputs.",
    str,
    None,
    choices=METRICS,
    metavar="|".join(METRICS),
    show_default=False,
    label="Metric",
    placeholder="the model's",
)
THREADS = Option(
    "threads",
    "Threads to compute with (default: the cores this process may use).",
    int,
    None,
    low=1,
    high=MAX_THREADS,
    metavar="N",
    show_default=False,
    label="Threads",
    placeholder="optional: all cores",
)
LABELS = Option(
    "labels",
    "One integer class per line, line i for input-list line i.",
    path=True,
    metavar="FILE",
    label="Labels",
    placeholder="optional: labels.txt",
)

# The quantizer's options (the manifest records every one of them).
QUANTIZER_OPTIONS = (
    Option("param_quantizer", "", str, TF, choices=SCHEMES, label="Param quantizer"),
    Option("act_quantizer", "", str, TF, choices=SCHEMES, label="Act quantizer"),
    Option(
        "percentile",
        "Clipping percentile for the percentile quantizer.",
        float,
        99.99,
        low=50.0,
        high=100.0,
        low_open=True,
        label="Percentile",
    ),
    Option("weights_bitwidth", "", int, 8, choices=WEIGHT_BITWIDTHS, label="Weights bitwidth"),
    Option("act_bitwidth", "", int, 8, choices=ACT_BITWIDTHS, label="Act bitwidth"),
    Option("bias_bitwidth", "", int, 8, choices=BIAS_BITWIDTHS, label="Bias bitwidth"),
    Option(
        "per_channel",
        "Per-channel (symmetric) weight encodings.",
        bool,
        False,
        label="per-channel weight encodings",
    ),
    Option(
        "algorithms",
        "Cross-layer equalization, bias correction and/or AdaRound (learned weight rounding).",
        str,
        (),
        choices=ALGORITHMS,
        many=True,
        metavar=",".join(ALGORITHMS),
        show_default=False,
        choice_labels=(
            "cross-layer equalization (cle)",
            "bias correction (bc)",
            "learned weight rounding (adaround)",
        ),
    ),
    Option(
        "adaround_seconds",
        "With --algorithms adaround: the seconds it may spend in all (layers it does not "
        "reach keep nearest rounding).",
        float,
        120.0,
        low=0.0,
        high=86400.0,
        low_open=True,
        metavar="S",
        label="AdaRound budget (s)",
    ),
    Option(
        "enable_hta",
        "Write HTA subnet records for the AIP runtime.",
        bool,
        False,
        label="HTA records for AIP (--enable-hta)",
    ),
    Option(
        "override_params",
        "AIMET encodings (0.6.1, 1.0.0, 2.0.0 or 2.1.0) that replace computed ones.",
        path=True,
        metavar="ENC.json",
        label="Override params",
        placeholder="optional: AIMET encodings.json",
    ),
    Option(
        "layer_precision",
        "A layer's activations in int16, int8 or float (repeatable): PATTERN=int16|int8|float, "
        "PATTERN a layer name, type:OpType or re:REGEX; later rules win. A float layer runs "
        "on the CPU on the DSP and AIP, with a convert at each boundary.",
        str,
        (),
        repeat=True,
        metavar="PATTERN=PREC",
        show_default=False,
        label="Layer precision",
        placeholder="optional: e.g. type:Softmax=int16 re:head.*=float",
        parse=parse_layer_precision,
    ),
    Option(
        "weights_bitwidth_override",
        "A layer's weights in 4, 8 or 16 bits (repeatable): PATTERN=4|8|16, PATTERN as for "
        "--layer-precision.",
        str,
        (),
        repeat=True,
        metavar="PATTERN=BITS",
        show_default=False,
        label="Weights bitwidth override",
        placeholder="optional: e.g. conv1=16 type:Gemm=16",
        parse=parse_weights_override,
    ),
    Option(
        "rounding",
        "How values round onto the grid at ties: half away from zero (the vendor's fixed "
        "point), half to even (ONNX QuantizeLinear; exports that match ONNX Runtime to "
        "the bit) or tflite (TensorFlow Lite's integer kernels, what an int8 TFLite model "
        "converted with its own encodings records).",
        str,
        DEFAULT_ROUNDING,
        choices=ROUNDING_MODES,
        label="Rounding",
    ),
)
ANALYZE = Option(
    "analyze",
    "Skip the per-layer analysis (faster).",
    bool,
    True,
    flag="--no-analysis",
    label="per-layer analysis (slower)",
)
EVAL_LIST = Option(
    "eval_list",
    "Input list the result is evaluated on (default: the calibration list, every line).",
    path=True,
    metavar="LIST",
    label="Eval list",
    placeholder="optional: the calibration list",
)
QUANTIZE_OPTIONS = (*QUANTIZER_OPTIONS, ANALYZE, EVAL_LIST, METRIC)  # `workbench quantize`

# A streaming model's state, carried from one input-list line to the next (run, bench).
STATE_OPTIONS = (
    Option(
        "stateful",
        "Carry state from one input-list line to the next (a streaming model).",
        bool,
        False,
        label="carry state line to line (--stateful)",
    ),
    Option(
        "state",
        "With --stateful: a state input fed from the output named (repeatable); "
        "a TFLite model's own state needs none.",
        str,
        (),
        repeat=True,
        metavar="IN=OUT",
        show_default=False,
        label="State pairs",
        placeholder="optional: IN=OUT pairs (ONNX state), blank-separated",
        parse=parse_state,
    ),
)

BENCH_OPTIONS = (
    Option(
        "runtimes",
        "Comma-separated runtimes to measure on.",
        default=None,
        choices=runtime_names,
        many=True,
        metavar="LIST",
        label="Runtimes",
        parse=parse_runtimes,
    ),
    ITERATIONS,
    CPU_FXP,
    BATCH,
    LABELS,
    METRIC,
    Option(
        "per_layer",
        "Also record the mean time of every layer.",
        bool,
        False,
        label="time every layer (--per-layer)",
    ),
    THREADS,
    *STATE_OPTIONS,
)

ADVISE_OPTIONS = (
    LABELS,
    METRIC,
    Option(
        "float",
        "The float twin of a quantized-only model (a container or a model file); "
        "default: the container's own dequantized network.",
        path=True,
        metavar="MODEL",
        label="Float twin",
        placeholder="optional: float twin of a quantized model",
    ),
    Option(
        "quantized",
        "Use this quantized container instead of quantizing.",
        path=True,
        metavar="Q.dlc",
        label="Quantized",
        placeholder="optional: use this Q.dlc",
    ),
    Option(
        "output",
        "Where to write the quantized container (default: <name>_quantized.dlc).",
        path=True,
        must_exist=False,
        short="-o",
        metavar="Q.dlc",
        label="Output",
        placeholder="optional: <name>_quantized.dlc",
    ),
    ITERATIONS,
    Option(
        "max_accuracy_drop",
        "Accuracy loss the quantized container may have, in the decision metric's unit: "
        "points for top1, label-accuracy and iou; 1 - cosine; output units for mae and "
        "max-abs; for sqnr the lowest SQNR (dB) it may reach. Default: the metric's own "
        "(1 pt, 30 dB, 0.001, 1% of the output's range).",
        float,
        DEFAULT_MAX_ACCURACY_DROP,
        low=0.0,
        metavar="X",
        show_default=False,
        label="Max accuracy drop",
        placeholder="the metric's default",
    ),
    Option(
        "experiment",
        "Name of the experiment to save.",
        metavar="NAME",
        show_default=False,
        label="Experiment",
        placeholder="optional: a name",
    ),
)

RUN_OPTIONS = (  # `workbench run`
    Option("runtime", "", str, CPU, choices=runtime_names, label="Runtime"),
    CPU_FXP.but(help="CPU fixed-point mode for quantized containers."),
    BATCH.but(help="Resize the network to this batch at init; lines are grouped."),
    Option("debug", "Also write every layer's output.", bool, False, label="every layer's output"),
    Option(
        "flat_names",
        "Name files prob_0.raw in one folder per line instead of keeping "
        "tensor names as paths (InceptionV3/Predictions/Reshape_1:0.raw, as snpe-net-run "
        "writes them).",
        bool,
        False,
        label="flat file names",
    ),
    THREADS,
    *STATE_OPTIONS,
)

SWEEP_OPTIONS = (  # `workbench sweep SPEC.toml`: where and how wide, not what (the spec)
    Option(
        "jobs",
        "Cells measured at once: worker processes here, or Ray tasks in flight "
        "(default: the cores; on Ray, the cluster's CPUs).",
        int,
        None,
        low=1,
        high=MAX_SWEEP_JOBS,
        metavar="N",
        show_default=False,
        label="Jobs",
        placeholder="optional: all cores",
    ),
    Option(
        "executor",
        "Where the cells run: a process pool on this machine, or Ray tasks "
        "(pip install -e '.[ray]').",
        str,
        LOCAL,
        choices=EXECUTORS,
        label="Executor",
    ),
    Option(
        "address",
        "The Ray cluster to run on (HOST:PORT or ray://HOST:PORT; default: a local Ray "
        "started for the sweep).",
        metavar="ADDR",
        show_default=False,
        label="Ray address",
        placeholder="optional: start a local Ray",
    ),
)

DEBUG_OPTIONS = (  # `workbench debug`
    Option(
        "runtime",
        "The runtime whose integer-true path is compared.",
        str,
        DSP,
        choices=runtime_names,
        label="Runtime",
    ),
    CPU_FXP.but(help="With --runtime cpu: its fixed-point mode (else the CPU runs float)."),
    Option(
        "float_container",
        "The float container (default: the one the quantizer recorded).",
        path=True,
        flag="--float",
        metavar="F.dlc",
        label="Float container",
        placeholder="optional: the recorded source",
    ),
    Option(
        "samples", "Input-list lines to compare on.", int, 4, low=1, metavar="N", label="Samples"
    ),
    METRIC.but(
        help="Judge each layer's contribution by this metric (and keep it as the model's "
        "decision metric); default: the model's. No labels here: label-accuracy is top1."
    ),
    Option(
        "contribution_samples",
        "Lines each layer's metric contribution (the model with only that layer quantized) "
        "is measured on: one fake-quant pass per layer and line; 0 skips it.",
        int,
        1,
        low=0,
        high=MAX_ITERATIONS,
        metavar="N",
        label="Samples per layer",
    ),
    Option(
        "threshold_lsb",
        "A layer diverges when its integer-true error passes this mean, in LSBs of its output.",
        float,
        2.0,
        low=0.0,
        high=1e9,
        low_open=True,
        metavar="LSB",
        label="Threshold (LSB)",
    ),
    Option(
        "drop_db",
        "... or when its SQNR falls this far below its worst input's.",
        float,
        12.0,
        low=0.0,
        high=1e9,
        low_open=True,
        metavar="DB",
        label="SQNR drop (dB)",
    ),
)

AUTOQUANT_OPTIONS = (  # `workbench autoquant`: what to reach, where, within what time
    Option(
        "goal",
        "What the result must reach on the eval list: METRIC>=VALUE (sqnr>=30, top1>=0.99, "
        "iou>=0.9), METRIC<=VALUE (mae<=0.01) or METRIC-drop<=LOSS (label-accuracy-drop<=1, "
        "in points).",
        metavar="GOAL",
        show_default=False,
        label="Goal",
        placeholder="e.g. sqnr>=30 or top1-drop<=1",
        parse=parse_goal,
    ),
    Option(
        "runtime",
        "The target: candidates are evaluated integer-true there (the CPU in fixed-point "
        "mode); a mix it refuses is kept as a refused candidate.",
        str,
        DSP,
        choices=AUTOQUANT_RUNTIMES,
        label="Runtime",
    ),
    LABELS,
    Option(
        "budget_minutes",
        "Stop the search after this many minutes (the candidates measured so far compete).",
        float,
        60.0,
        low=0.0,
        high=7 * 24 * 60.0,
        low_open=True,
        metavar="N",
        label="Budget (minutes)",
    ),
    Option(
        "experiment",
        "Name of the experiment that keeps every candidate (default: made up).",
        metavar="NAME",
        show_default=False,
        label="Experiment",
        placeholder="optional: a name",
    ),
)

DEMO_OPTIONS = (
    ITERATIONS.but(default=5),
    Option(
        "samples",
        "Use only the first N validation images (faster).",
        int,
        None,
        low=1,
        metavar="N",
        label="Samples",
    ),
)


# --------------------------------------------------------------------------- objects


@declared(*QUANTIZER_OPTIONS)
class QuantOptions(DeclaredOptions):
    """Every option of the quantizer; invalid values raise ``BadInput``."""

    WHAT = "quantizer"

    @property
    def cle(self) -> bool:
        return CLE in self.algorithms

    @property
    def bc(self) -> bool:
        return BC in self.algorithms

    @property
    def adaround(self) -> bool:
        return ADAROUND in self.algorithms

    def observer_options(self, scheme: str) -> dict[str, Any]:
        return {"percentile": self.percentile} if scheme == PERCENTILE else {}


@declared(*BENCH_OPTIONS)
class BenchOptions(DeclaredOptions):
    """What ``workbench bench`` measures and how."""

    WHAT = "bench"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_state(self.stateful, self.state)


@declared(*RUN_OPTIONS)
class RunOptions(DeclaredOptions):
    """How ``workbench run`` runs a container."""

    WHAT = "run"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_state(self.stateful, self.state)


@declared(*DEBUG_OPTIONS)
class DebugOptions(DeclaredOptions):
    """What ``workbench debug`` compares, on which runtime, with which thresholds."""

    WHAT = "debug"


@declared(*ADVISE_OPTIONS)
class AdviseOptions(DeclaredOptions):
    """What ``workbench advise`` compares, and against what accuracy loss."""

    WHAT = "advise"


@declared(*AUTOQUANT_OPTIONS)
class AutoquantOptions(DeclaredOptions):
    """What ``workbench autoquant`` must reach, on which runtime, within what time."""

    WHAT = "autoquant"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.goal is None:
            raise BadInput(f"--goal is required: {_GOAL_FORMS}")

    @property
    def parsed_goal(self) -> Goal:
        return Goal.parse(self.goal)


@declared(*SWEEP_OPTIONS)
class SweepOptions(DeclaredOptions):
    """How ``workbench sweep`` runs its cells: how many at once, and where."""

    WHAT = "sweep"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.address is not None and self.executor == LOCAL:
            raise BadInput("--address names a Ray cluster: add --executor ray")
