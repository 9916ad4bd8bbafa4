"""Encodings and calibration: the TF / AIMET fixed-point arithmetic and its observers.

``encoding``  the Encoding values and quantize / dequantize / fake_quantize.
``observers`` streaming calibration observers, one per quantization scheme.
``sqnr``      accuracy metrics (SQNR, cosine, max-abs error, RMSE in steps).
"""

from workbench.engine.quant.encoding import (
    MIN_RANGE,
    AnyEncoding,
    ChannelEncoding,
    Encoding,
    bias_encoding_8bit,
    bias_encoding_32bit,
    check_finite,
    dequantize,
    encoding_from_dict,
    fake_quantize,
    from_signed,
    per_channel_symmetric,
    quantize,
    round_half_away,
    symmetric_encoding,
    tf_encoding,
    tf_encoding_of,
    to_signed,
)
from workbench.engine.quant.observers import (
    EnhancedObserver,
    Observer,
    PercentileObserver,
    SymmetricObserver,
    TfObserver,
    make_observer,
)
from workbench.engine.quant.sqnr import cosine, max_abs_err, rmse_over_scale, sqnr_db

__all__ = [
    "MIN_RANGE",
    "AnyEncoding",
    "ChannelEncoding",
    "Encoding",
    "EnhancedObserver",
    "Observer",
    "PercentileObserver",
    "SymmetricObserver",
    "TfObserver",
    "bias_encoding_8bit",
    "bias_encoding_32bit",
    "check_finite",
    "cosine",
    "dequantize",
    "encoding_from_dict",
    "fake_quantize",
    "from_signed",
    "make_observer",
    "max_abs_err",
    "per_channel_symmetric",
    "quantize",
    "rmse_over_scale",
    "round_half_away",
    "sqnr_db",
    "symmetric_encoding",
    "tf_encoding",
    "tf_encoding_of",
    "to_signed",
]
