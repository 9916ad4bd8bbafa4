"""What to tell a user whose model has inputs of unknown size (``--input-dim``).

Every unresolved input is listed at once, each with a proposed ``--input-dim`` value:
a dimension the model fixes stays; a batch dimension (the first, symbolic) is 1, the
batch quantization needs; a size the model's metadata records (``imgsz``,
``image_size``, ``input_size``, ``sample_rate``...) is taken from there, saying which
key; anything else is a named placeholder (``H``, ``W``, ``SEQ``, ``SAMPLES``) the
user must fill in. A spatial or sequence size is never silently 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Dim = int | str | None  # a fixed size, a symbolic name, or unknown

# Metadata keys that record an input's spatial size (first match wins), and how many
# values they hold.
_SIZE_KEYS = ("imgsz", "image_size", "img_size", "input_size", "input_shape", "size")
_BATCH = "batch: 1, as quantization needs (resize at run time with --batch N)"


@dataclass(frozen=True)
class Proposal:
    """One input's proposed ``--input-dim`` value, with the reasons for its parts."""

    name: str
    declared: tuple[str, ...]  # as the model declares it, for the message
    values: tuple[str, ...]  # a number, or a placeholder to fill in
    reasons: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return all(v.isdigit() for v in self.values)

    def flag(self) -> str:
        return f"--input-dim {self.name} {','.join(self.values)}"


def _metadata_sizes(metadata: Mapping[str, str]) -> tuple[list[int], str] | None:
    for key in _SIZE_KEYS:
        for k, v in metadata.items():
            if k.lower() != key:
                continue
            numbers = [int(n) for n in re.findall(r"\d+", str(v))]
            if numbers and all(0 < n <= 1 << 16 for n in numbers):
                return numbers, k
    return None


def _layout(dims: Sequence[Dim]) -> str:
    """``nchw`` or ``nhwc`` for a rank-4 input whose channel count alone is fixed."""
    if len(dims) == 4:
        fixed = [isinstance(d, int) and d > 0 for d in dims]
        if fixed[1] and not fixed[2] and not fixed[3]:
            return "nchw"
        if fixed[3] and not fixed[1] and not fixed[2]:
            return "nhwc"
    return "other"


def propose(
    name: str,
    dims: Sequence[Dim],
    metadata: Mapping[str, str] | None = None,
    batch_symbols: frozenset[str] = frozenset(),
) -> Proposal:
    """A proposed full shape for input ``name`` whose ``dims`` are partly unknown.

    ``batch_symbols`` are symbolic names some input has as its first dimension: the
    same name elsewhere (a state tensor's ``[2, batch, 128]``) is the batch too.
    """
    metadata = metadata or {}
    values: list[str] = []
    reasons: list[str] = []
    layout = _layout(dims)
    spatial = {"nchw": (2, 3), "nhwc": (1, 2)}.get(layout, ())
    sizes = _metadata_sizes(metadata) if spatial else None
    for i, d in enumerate(dims):
        if isinstance(d, int) and d > 0:
            values.append(str(d))
            continue
        if (i == 0 and len(dims) > 1) or (isinstance(d, str) and d in batch_symbols):
            values.append("1")
            if _BATCH not in reasons:
                reasons.append(_BATCH)
            continue
        if i in spatial:
            axis = spatial.index(i)
            if sizes is not None:
                numbers, key = sizes
                value = numbers[axis] if len(numbers) > axis else numbers[0]
                values.append(str(value))
                note = f"{'H' if axis == 0 else 'W'} {value} from the model's metadata {key!r}"
                reasons.append(note)
                continue
            values.append("H" if axis == 0 else "W")
            continue
        placeholder = "SEQ" if len(dims) == 2 and i == 1 else f"D{i}"
        if isinstance(d, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", d):
            low = d.lower()
            if any(w in low for w in ("sample", "audio", "wav")):
                placeholder = "SAMPLES"
            elif any(w in low for w in ("seq", "len", "token", "time", "frame")):
                placeholder = "SEQ"
        values.append(placeholder)
    unknown = sorted({v for v in values if not v.isdigit()})
    if "H" in unknown or "W" in unknown:
        reasons.append("H, W: the image size the model was trained for (not recorded in it)")
    if "SEQ" in unknown:
        reasons.append("SEQ: the sequence length you will run")
    if "SAMPLES" in unknown:
        reasons.append("SAMPLES: the audio frame length you will run")
    others = [v for v in unknown if v not in ("H", "W", "SEQ", "SAMPLES")]
    if others:
        reasons.append(f"{', '.join(others)}: sizes the model does not record")
    declared = tuple("?" if d is None else str(d) for d in dims)
    return Proposal(name, declared, tuple(values), tuple(reasons))


def advice(proposals: Sequence[Proposal]) -> str:
    """One line naming every unresolved input with its proposed ``--input-dim``."""
    listed = "; ".join(f"{p.name} [{', '.join(p.declared)}]" for p in proposals)
    flags = " ".join(p.flag() for p in proposals)
    reasons = list(dict.fromkeys(r for p in proposals for r in p.reasons))
    why = f" ({'; '.join(reasons)})" if reasons else ""
    noun = "input has" if len(proposals) == 1 else f"{len(proposals)} inputs have"
    return f"{noun} unresolved dimensions: {listed}; give them with {flags}{why}"


def onnx_metadata(props: Sequence[object]) -> dict[str, str]:
    """``metadata_props`` of an ONNX model as a dict (values parsed when JSON)."""
    found: dict[str, str] = {}
    for p in props:
        key, value = getattr(p, "key", ""), getattr(p, "value", "")
        try:
            parsed = json.loads(value)
            value = json.dumps(parsed) if not isinstance(parsed, str) else parsed
        except (ValueError, TypeError):
            pass
        found[str(key)] = str(value)
    return found
