"""How a runtime is declared: the guide's rules as data (no numpy here).

A runtime module fills one ``Runtime``: for each kind of container (float, quantized,
and quantized in fixed-point mode where the runtime has one) a ``KindRule`` says what
the runtime does with it at init (``NATIVE``, ``DEQUANTIZE``, ``QUANTIZE``, ``CAST``
or ``REFUSE`` with the guide's reason), the phases that work is timed as, and the
function that does it. ``check_runtime``, ``load_network``, the bench job, the
advisor, the CLI and the TUI all read these declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.engine.container import Container
    from workbench.engine.runtimes.network import InitRequest, Network

# What a runtime does with a kind of container at init (the guide's table).
NATIVE = "native"  # runs it as stored
DEQUANTIZE = "dequantize"  # every quantized parameter back to float
QUANTIZE = "quantize"  # every float parameter quantized at init
CAST = "cast"  # float parameters stored in another float type (float16)
REFUSE = "refuse"  # incompatible: RuntimeRefused with the guide's reason
ACTIONS = (NATIVE, DEQUANTIZE, QUANTIZE, CAST, REFUSE)

# The kinds of container.
FLOAT = "float"
QUANTIZED = "quantized"

# When a runtime accepts a batch above 1.
ANY_BATCH = "any"
ALL_HTA = "all_hta"  # only when every layer is in an HTA subnet

Init = Callable[["Container", "InitRequest"], "Network"]


def _refused(container: Container, request: InitRequest) -> Network:  # pragma: no cover
    raise AssertionError("check_runtime refuses before init")


@dataclass(frozen=True)
class VendorName:
    """A runtime name the vendor's snpe_bench.py writes, and the mode it stands for.

    The names are the SDKs' ``snpebm_constants.py`` ``RUNTIMES``; one runtime of ours
    may stand for several (the DSP's 8-bit, 16-bit-activation and float16 modes).
    """

    name: str  # as the SDK spells it: DSP_FP16
    precision: str  # vocabulary.PRECISIONS
    mode: str  # in words: "float16 on the HTP"
    sdk: str = "1.x, 2.x"  # the SDKs that write it
    layer_cycles: bool = False  # its per-layer rows are HTP cycles on SNPE 2.x


@dataclass(frozen=True)
class KindRule:
    """What a runtime does at init with one kind of container."""

    action: str  # one of ACTIONS
    compatibility: str  # the advisor's words: "native: float32", "refused"...
    phases: tuple[str, ...] = ()  # timed init phases in order (``resize`` comes with a batch)
    conversion: tuple[str, ...] = ()  # those of the phases that convert parameters
    init: Init = _refused
    reason: str = ""  # REFUSE: the guide's reason, the user's message
    advice: str = ""  # why to choose this kind here, when it is the runtime's native one
    converting: str = "converting"  # what the conversion does, as in "spends 3 ms <converting>"
    label: str = ""  # a table row of its own (fixed-point mode): "CPU --cpu-fxp"
    vendor_names: tuple[VendorName, ...] = ()  # snpe_bench.py's names for this mode

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown init action {self.action!r} (one of {', '.join(ACTIONS)})")
        if self.action == REFUSE and not self.reason:
            raise ValueError("a refusal needs the guide's reason")
        unknown = set(self.conversion) - set(self.phases)
        if unknown:
            raise ValueError(f"conversion phases {sorted(unknown)} are not among the phases")


@dataclass(frozen=True)
class BatchRule:
    """When a runtime accepts a batch above 1; ``refusal`` may name ``{first}`` layer."""

    condition: str = ANY_BATCH  # ANY_BATCH | ALL_HTA
    refusal: str = ""


# What a fixed-point mode does with a layer kept in float (``--layer-precision X=float``).
CPU_FALLBACK = "cpu_fallback"  # the layer runs on the CPU, a convert at each boundary
FLOAT_NATIVE = "native"  # the processor computes float itself (the CPU)


@dataclass(frozen=True)
class PrecisionRule:
    """The per-layer precision a runtime's fixed-point mode runs (the vendor's rules).

    ``load.check_precision`` applies it to a container with per-layer precision (a mix):
    an activation bitwidth outside ``activation_bits`` is refused, and so, with
    ``wide_weights_need_wide_acts``, is a layer whose weights are wider than 8 bits while
    its input activations are 8-bit (the HTP's A16W16 exists, A8W16 does not). ``hta_bits``:
    the HTA subnets hold only layers this narrow; wider ones run in HNN subnets (the
    quantizer's partition, ``hta.not_8_bit``).
    """

    activation_bits: tuple[int, ...] = (8, 16)
    float_layers: str = CPU_FALLBACK
    wide_weights_need_wide_acts: bool = False
    hta_bits: int | None = None
    processor: str = ""  # in messages: "the DSP (HTP)"


@dataclass(frozen=True)
class Runtime:
    """One runtime: its names and the guide's rules for it."""

    name: str  # as typed: --runtime dsp
    label: str  # as tables show it: "DSP"
    native: str  # FLOAT | QUANTIZED: the guide's native format
    float: KindRule
    quantized: KindRule
    fixed_point: KindRule | None = None  # --cpu-fxp: quantized, run natively in fixed point
    needs_hta_records: bool = False  # a quantized container must carry quantize --enable-hta's
    batch: BatchRule = field(default_factory=BatchRule)
    vendor_names: tuple[VendorName, ...] = ()  # snpe_bench.py's names for it
    # The per-layer precision its integer mode runs (None: it computes a quantized
    # container in float, any mix runs).
    precision: PrecisionRule | None = None

    def rule(self, quantized: bool, cpu_fxp: bool = False) -> KindRule:
        """The rule for a container of this kind (``cpu_fxp``: the fixed-point mode)."""
        if quantized and cpu_fxp and self.fixed_point is not None:
            return self.fixed_point
        return self.quantized if quantized else self.float

    def vendor_modes(self) -> tuple[tuple[bool, VendorName], ...]:
        """``(cpu_fxp, name)`` for every name snpe_bench.py writes for this runtime."""
        fixed = self.fixed_point.vendor_names if self.fixed_point is not None else ()
        return tuple((False, v) for v in self.vendor_names) + tuple((True, v) for v in fixed)

    def modes(self) -> tuple[tuple[bool, KindRule], ...]:
        """``(cpu_fxp, rule for a quantized container)``: its table rows."""
        rows: tuple[tuple[bool, KindRule], ...] = ((False, self.quantized),)
        if self.fixed_point is not None:
            rows += ((True, self.fixed_point),)
        return rows
