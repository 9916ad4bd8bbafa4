"""LSTM, GRU and RNN as the DSP runs them: 8-bit weights, state kept in 16-bit codes.

The quantizer stores a recurrent layer's W, R and B as 8-bit data parameters and
calibrates its outputs (the sequence ``Y``, the last state ``Y_h`` and ``Y_c``) at 16
bits. This kernel takes the input's codes, runs the gate arithmetic on the weights'
grid values, and after *every* time step puts the hidden and cell state on the 16-bit
grid of ``Y_h`` / ``Y_c``: the state the next step reads is what a fixed-point runtime
stores, so state quantization error accumulates over the sequence as it does there.
The outputs come out as codes of their encodings; ties round by the container's mode
(``IntContext.rounding``). (Gate nonlinearities are computed in
float: the emulator's stand-in for the DSP's lookup tables.)
"""

from __future__ import annotations

import numpy as np

from workbench.engine.ops.recurrent import cell_from, layer_weights, run_layer
from workbench.engine.quant.encoding import dequantize, fake_quantize, quantize
from workbench.engine.quant.int_ops import IntContext, NotInteger, register_int


@register_int("LSTM", "GRU", "RNN")
def recurrent(ictx: IntContext):
    kind = ictx.node.op_type
    fop = ictx.float_op
    cell = cell_from(fop, kind)
    consts = [1, 2, 3, 7] if kind == "LSTM" else [1, 2, 3]
    if any(fop.has_input(i) and fop.const(i) is None for i in consts):
        raise NotInteger("weights are not constants")
    has_p = kind == "LSTM" and fop.has_input(7)
    weights = layer_weights(
        cell,
        fop.const(1),
        fop.const(2),
        fop.const(3) if fop.has_input(3) else None,
        fop.const(7) if has_p else None,
    )
    n_out = len(ictx.node.outputs)
    out_encs = [ictx.out_encs[i] if i < len(ictx.out_encs) else None for i in range(n_out)]
    if any(enc is None for o, enc in zip(ictx.node.outputs, out_encs, strict=True) if o):
        raise NotInteger("an output has no encoding")
    in_encs = [ictx.in_enc(i) for i in range(len(ictx.node.inputs))]
    h_enc = out_encs[1] if n_out > 1 else None
    c_enc = out_encs[2] if n_out > 2 else None

    rounding = ictx.rounding

    def grid(h: np.ndarray, c: np.ndarray | None):
        h = fake_quantize(h, h_enc, rounding) if h_enc is not None else h
        if c is not None and c_enc is not None:
            c = fake_quantize(c, c_enc, rounding)
        return h, c

    def real(i: int, value: np.ndarray | None) -> np.ndarray | None:
        if value is None or in_encs[i] is None or i in consts:
            return value
        return dequantize(value, in_encs[i])

    def run(x, w=None, r=None, b=None, seq_lens=None, h0=None, c0=None, p=None):
        outs = run_layer(cell, weights, real(0, x), seq_lens, real(5, h0), real(6, c0), n_out, grid)
        return tuple(
            quantize(v, enc, rounding) if enc is not None else v
            for v, enc in zip(outs, out_encs, strict=False)
        )

    return run
