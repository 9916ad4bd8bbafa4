"""Surviving mutants that are equivalent: no caller can see the change.

``EQUIVALENT[area][mutant] = (text of the mutated line, why it changes nothing)``. The
mutant's name is mutmut's (``x_<function>__mutmut_<n>`` or ``xǁ<Class>ǁ<method>__mutmut_<n>``,
numbered in source order); ``run.py`` checks that the mutated line still contains the
text, so an entry outlives neither a code change that renumbers the mutants nor a new
test that kills it (both are reported as stale). A survivor not listed here is a missing
test until shown otherwise.
"""

from __future__ import annotations

RQ_D_REAL = "real arrives as a Python float or a float64/float32 array; frexp, ldexp and floor(x + 0.5) of f * 2**31 are exact in either width: the same M and shift"
RQ_D_CAST = "cast to int64 again two lines below (np.where(...).astype(np.int64)): the same values"
RQ_D_LDEXP = (
    "np.ldexp takes an int64 mantissa as float64 and any integer exponent: the same exact value"
)
RQ_D_S = "s is 31 + an int64 shift on every call: already int64"
RQ_D_INT64 = "multiplier and shift are int64 (quantize_multiplier) or Python ints on every path: already int64"
RQ_D_WIDEIN = "requantize passes its own int64 copy of acc and int64 M and shift: already int64"
RQ_D_V2 = "_v2 gets quantize_multiplier's int64 M; log2 of a power of two is exact in float64 and is cast back into the int64 result"
RQ_D_F64 = "acc times the float64 real_q is float64 for every accumulator dtype the plans pass: the same product"
RQ_PATH = "only which exact path runs: requantize_wide gives the same numbers as the single int64 product wherever that product is exact (s of 62 or 63, |acc| of 2**31, small accumulators)"
RQ_EPS = "after one rounded product and one exact addition t lies on a grid the integers belong to, so floor(t) is wrong only where frac == 0 exactly; any eps > 0 catches those (the formula is a margin)"
RQ_MORE = (
    "more elements recomputed exactly (a wider window, or every element): slower, the same numbers"
)
RQ_ENDS = "the elements no longer recomputed sit at a clip end (t == qmin - 1, t == qmin, t == qmax + 2), where floor(t) and the exact rule, one apart, clamp to the same code"
RQ_STRICT = "a larger bound only makes the float path rarer (the exact int64 path runs instead): the same numbers"
RT_LABEL = "the default label is never shown: check_runtime names the runtime's own label first, and _aip's call only runs on a container that passed it"
RT_READ = "read_hta_record already indexes index['layers'] and every layer's ['sections'] (a non-dict index or layer raises TypeError/KeyError there, refused as malformed), so a record reaching this check has dict layers: the check cannot fail"
RT_LAYERS = "read_hta_record refuses an index without 'layers' (KeyError, malformed), so the default is never used"
RT_ARRAYS = "read_hta_record returns an entry in arrays for every layer of the index, so the default is never used"
RT_WEIGHT = (
    "weight None with stored present (or the reverse) fails np.array_equal anyway: the same refusal"
)
RT_AXIS = "the quantizer writes weight_axis with every Conv/Gemm entry, and a per-channel weight encoding is symmetric: every channel's offset is -2**(bw-1), so offsetting by the first channel's is the same"
RT_OFFSET = (
    "the quantizer writes weight_offset with every Conv/Gemm entry: the default is never used"
)
RT_DTYPE = "the record's sections are int32 arrays: astype(None) gives float64 as before, and requantize casts multiplier and shift to int64 itself"
RR_PRECISION = "with the registered runtimes: a float container has no recorded precision mix (check_precision returns), a runtime without a precision rule returns at once, and the one runtime that dequantizes a quantized container and has a rule (CPU) accepts every mix the quantizer writes (8/16-bit activations, any weights)"
TQ_SYM = "Encoding turns symmetric into bool(...): None and the default are False, as written"
TQ_WRAP = "the result is cast to uint8 (uint16): adding or subtracting 128 (32768) is the same modulo 256 (65536)"
TQ_WIDE = "astype(None) is float64, which holds every int8/int16 code exactly before the cast back"
TQ_F64 = (
    "the stored integers are int8/uint8/int16/int32: astype(None) (float64) is the dtype written"
)
TQ_ONE = "one scale on the per-channel path broadcasts as a (1, ..., 1) array: the same product"
CT_CLOSE = "the file under the ZipFile is closed either way; the ZipFile holds no other descriptor"
CT_LIMIT = "the declared size equals the index's (checked in _check_index) and the manifest is read with its own size as the limit: never larger"
CT_ZIPREAD = "zipfile's reader stops at the declared file_size: another read returns b'', and read(None) or a larger request return the same bytes"
CT_SHORT = "a stream that ends early raises in zipfile (EOFError / BadZipFile: refused as corrupt) before read returns b''"
CT_CRC = "zipfile checks the CRC when the entry's last byte is read (a flipped byte is refused as 'Bad CRC-32', tested), and the extra read returns b'' at the end whatever it asks"
CT_NOTIMPL = "zipfile raises NotImplementedError only for compression methods, refused by name before any read (_check_names)"
CT_UNREACH = "got == size and no byte beyond it are guaranteed by zipfile (see the reads above): the size-mismatch branch is never reached"
OX_SHAPELESS = "the ONNX checker, run first, refuses a graph input without a shape ('Field shape of type is required'): this branch is never reached"
OX_ZIP = "the lengths were checked equal just above (the rank refusal): zip's strictness never acts"
OX_UTF8 = "bytes.decode() defaults to UTF-8, and 'UTF-8' names the same codec"
OX_HIDDEN = (
    "the caller catches _Unconvertible and reports the node's operator: its text is never shown"
)
OX_CONTIG = (
    "numpy_helper.to_array returns C-contiguous arrays: copying or not gives the same values"
)
OX_VALUE = "ONNX's Constant schema gives the TENSOR type to 'value' alone (the checker refuses another attribute of that type)"
OX_F32 = "the importer keeps float parameters as float32 whatever numpy type the list makes (planted by hand: graph.params stays float32)"
OX_I64 = "np.array of Python ints is int64 on this platform"

EQUIVALENT: dict[str, dict[str, tuple[str, str]]] = {
    "requant": {
        "x_quantize_multiplier__mutmut_3": (
            "r = np.asarray(real, dtype=None)",
            RQ_D_REAL,
        ),
        "x_quantize_multiplier__mutmut_5": (
            "r = np.asarray(real, )",
            RQ_D_REAL,
        ),
        "x_quantize_multiplier__mutmut_21": (
            "m = np.floor(np.ldexp(f, _Q) + 0.5).astype(None)",
            RQ_D_CAST,
        ),
        "x_quantize_multiplier__mutmut_45": (
            "shift = (-e - carry).astype(None)",
            RQ_D_CAST,
        ),
        "x_multiplier_value__mutmut_6": (
            "return np.ldexp(np.asarray(m, dtype=None), -(_Q + np.asarray(shift, dtype=np.int64)))",
            RQ_D_LDEXP,
        ),
        "x_multiplier_value__mutmut_8": (
            "return np.ldexp(np.asarray(m, ), -(_Q + np.asarray(shift, dtype=np.int64)))",
            RQ_D_LDEXP,
        ),
        "x_multiplier_value__mutmut_12": (
            "return np.ldexp(np.asarray(m, dtype=np.float64), -(_Q + np.asarray(shift, dtype=None)))",
            RQ_D_LDEXP,
        ),
        "x_multiplier_value__mutmut_14": (
            "return np.ldexp(np.asarray(m, dtype=np.float64), -(_Q + np.asarray(shift, )))",
            RQ_D_LDEXP,
        ),
        "x_rounding_shift__mutmut_3": (
            "s = np.asarray(s, dtype=None)",
            RQ_D_S,
        ),
        "x_rounding_shift__mutmut_5": (
            "s = np.asarray(s, )",
            RQ_D_S,
        ),
        "x_rounding_shift__mutmut_31": (
            "if floor.shape != p.shape:",
            "floor has p's shape on every call (requantize multiplies p by M in place, so s broadcasts into p's shape): written in place or returned, the same numbers",
        ),
        "x_rounding_shift__mutmut_35": (
            "negative = p <= 0",
            "only p == 0 changes: (2**(s-1) - 1) >> s and 2**(s-1) >> s are both 0 for every s >= 1",
        ),
        "x_rounding_shift__mutmut_36": (
            "negative = p < 1",
            "only p == 0 changes: (2**(s-1) - 1) >> s and 2**(s-1) >> s are both 0 for every s >= 1",
        ),
        "x_requantize__mutmut_8": (
            "m = np.asarray(multiplier, dtype=None)",
            RQ_D_INT64,
        ),
        "x_requantize__mutmut_10": (
            "m = np.asarray(multiplier, )",
            RQ_D_INT64,
        ),
        "x_requantize__mutmut_14": (
            "s = _Q + np.asarray(shift, dtype=None)",
            RQ_D_INT64,
        ),
        "x_requantize__mutmut_16": (
            "s = _Q + np.asarray(shift, )",
            RQ_D_INT64,
        ),
        "x_requantize__mutmut_20": (
            "if p.size and (int(s.max(initial=None)) > 62 or int(np.abs(p).max()) >= 2**31):",
            "the initial value only matters for an empty shift array, which cannot broadcast against a non-empty accumulator",
        ),
        "x_requantize__mutmut_21": (
            "if p.size and (int(s.max(initial=1)) > 62 or int(np.abs(p).max()) >= 2**31):",
            "s >= 1 always (shift >= -30), so an initial 1 never wins the max",
        ),
        "x_requantize__mutmut_22": (
            "if p.size and (int(s.max(initial=0)) >= 62 or int(np.abs(p).max()) >= 2**31):",
            RQ_PATH,
        ),
        "x_requantize__mutmut_23": (
            "if p.size and (int(s.max(initial=0)) > 63 or int(np.abs(p).max()) >= 2**31):",
            RQ_PATH,
        ),
        "x_requantize__mutmut_26": (
            "if p.size and (int(s.max(initial=0)) > 62 or int(np.abs(p).max()) > 2**31):",
            RQ_PATH,
        ),
        "x_requantize__mutmut_27": (
            "if p.size and (int(s.max(initial=0)) > 62 or int(np.abs(p).max()) >= 2 * 31):",
            RQ_PATH,
        ),
        "x_requantize_wide__mutmut_3": (
            "a = np.asarray(acc, dtype=None)",
            RQ_D_WIDEIN,
        ),
        "x_requantize_wide__mutmut_5": (
            "a = np.asarray(acc, )",
            RQ_D_WIDEIN,
        ),
        "x_requantize_wide__mutmut_16": (
            "m = np.asarray(multiplier, dtype=None)",
            RQ_D_WIDEIN,
        ),
        "x_requantize_wide__mutmut_18": (
            "m = np.asarray(multiplier, )",
            RQ_D_WIDEIN,
        ),
        "x_requantize_wide__mutmut_24": (
            "u = _Q - 1 + np.asarray(shift, dtype=None)",
            RQ_D_WIDEIN,
        ),
        "x_requantize_wide__mutmut_26": (
            "u = _Q - 1 + np.asarray(shift, )",
            RQ_D_WIDEIN,
        ),
        "x_requantize_wide__mutmut_56": (
            "big = u > _Q",
            "u == 31 on the small branch gives the same T and sticky: (Q << 0) + (L >> 31) is Q for L < 2**31, and |Q| < 2**62 leaves the clamp idle",
        ),
        "x_requantize_wide__mutmut_59": (
            "hi_shift = np.clip(u - _Q, None, 62)",
            "hi_shift only matters on lanes with u >= 31 (np.where takes the other branch elsewhere), where it is >= 0 already",
        ),
        "x_requantize_wide__mutmut_60": (
            "hi_shift = np.clip(u - _Q, 0, None)",
            "u - 31 <= 61 for every shift quantize_multiplier gives (s <= 93): the upper clip never acts",
        ),
        "x_requantize_wide__mutmut_66": (
            "hi_shift = np.clip(u - _Q, 0, 63)",
            "u - 31 <= 61 for every shift quantize_multiplier gives (s <= 93): the upper clip never acts",
        ),
        "x_requantize_wide__mutmut_67": (
            "if np.all(None):",
            "np.all(big) only picks the all-big shortcut; the general branch computes the same T and sticky",
        ),
        "x_requantize_wide__mutmut_90": (
            "uu = np.clip(u, None, _Q)",
            "u >= 0 for every shift >= -30: the lower clip never acts",
        ),
        "x_requantize_wide__mutmut_91": (
            "uu = np.clip(u, 0, None)",
            "uu only matters on lanes with u < 31 (np.where discards the others), where it is below 31 already",
        ),
        "x_requantize_wide__mutmut_186": (
            "t += b & ((a > 0) | ~sticky)",
            "a == 0 makes X = 0, so b = 0 and the added term is 0 whatever the comparison",
        ),
        "x_requantize_wide__mutmut_187": (
            "t += b & ((a >= 1) | ~sticky)",
            "a == 0 makes X = 0, so b = 0 and the added term is 0 whatever the comparison",
        ),
        "x__v2__mutmut_3": (
            "m = np.asarray(m, dtype=None)",
            RQ_D_V2,
        ),
        "x__v2__mutmut_5": (
            "m = np.asarray(m, )",
            RQ_D_V2,
        ),
        "x__v2__mutmut_12": (
            "out = np.full(m.shape, 63, dtype=None)",
            RQ_D_V2,
        ),
        "x__v2__mutmut_15": (
            "out = np.full(m.shape, 63, )",
            RQ_D_V2,
        ),
        "x__v2__mutmut_21": (
            "out[nz] = np.log2(low[nz].astype(np.float64)).astype(None)",
            RQ_D_V2,
        ),
        "x__v2__mutmut_23": (
            "out[nz] = np.log2(low[nz].astype(None)).astype(np.int64)",
            RQ_D_V2,
        ),
        "x__v2__mutmut_16": (
            "out = np.full(m.shape, 64, dtype=np.int64)",
            "_v2 is only called on live (nonzero) multipliers: the value given to 0 is never read",
        ),
        "x__v2__mutmut_17": (
            "nz = None",
            "_v2 is only called on live (nonzero) multipliers: selecting every element (None) selects exactly the nonzero ones",
        ),
        "xǁRequantizerǁ__call____mutmut_4": (
            "y = np.multiply(acc, self.real_q, dtype=None)",
            RQ_D_F64,
        ),
        "xǁRequantizerǁ__call____mutmut_7": (
            "y = np.multiply(acc, self.real_q, )",
            RQ_D_F64,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_6": (
            "t = np.multiply(acc, self.real_q, dtype=None)",
            RQ_D_F64,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_9": (
            "t = np.multiply(acc, self.real_q, )",
            RQ_D_F64,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_22": (
            "eps = 2.0**-50 / (abs(self.qmax) + 2 * abs(self.zero_point) + 4)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_24": (
            "eps = 3.0**-50 * (abs(self.qmax) + 2 * abs(self.zero_point) + 4)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_26": (
            "eps = 2.0**-51 * (abs(self.qmax) + 2 * abs(self.zero_point) + 4)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_27": (
            "eps = 2.0**-50 * (abs(self.qmax) + 2 * abs(self.zero_point) - 4)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_31": (
            "eps = 2.0**-50 * (abs(self.qmax) + 3 * abs(self.zero_point) + 4)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_33": (
            "eps = 2.0**-50 * (abs(self.qmax) + 2 * abs(self.zero_point) + 5)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_25": (
            "eps = 2.0**+50 * (abs(self.qmax) + 2 * abs(self.zero_point) + 4)",
            RQ_MORE,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_36": (
            "edge = (frac <= eps) | (frac > 1.0 - eps)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_37": (
            "edge = (frac < eps) | (frac >= 1.0 - eps)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_38": (
            "edge = (frac < eps) | (frac > 1.0 + eps)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_39": (
            "edge = (frac < eps) | (frac > 2.0 - eps)",
            RQ_EPS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_40": (
            "edge = t >= self.qmin - 1",
            RQ_MORE,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_41": (
            "edge |= t >= self.qmin - 1",
            RQ_MORE,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_44": (
            "edge &= t >= self.qmin - 2",
            RQ_MORE,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_45": (
            "edge = t <= self.qmax + 2",
            RQ_MORE,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_46": (
            "edge |= t <= self.qmax + 2",
            RQ_MORE,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_49": (
            "edge &= t <= self.qmax + 3",
            RQ_MORE,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_42": (
            "edge &= t > self.qmin - 1",
            RQ_ENDS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_43": (
            "edge &= t >= self.qmin + 1",
            RQ_ENDS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_47": (
            "edge &= t < self.qmax + 2",
            RQ_ENDS,
        ),
        "xǁRequantizerǁ_wide_fast__mutmut_62": (
            "where = None",
            "with where = None the exact path recomputes the whole array (acc[None]) whenever an element is at an edge: the same numbers",
        ),
        "x__fast_ok__mutmut_24": (
            "reach = max(zp + qmin, qmax - zp) + 2",
            RQ_STRICT,
        ),
        "x__fast_ok__mutmut_26": (
            "reach = max(zp - qmin, qmax - zp) + 3",
            RQ_STRICT,
        ),
        "x__fast_ok__mutmut_30": (
            "top = qmax + reach + 3",
            RQ_STRICT,
        ),
        "x_rescale_table__mutmut_4": (
            "codes = np.arange(in_qmin, in_qmax + 1, dtype=None)",
            "np.arange of Python ints is int64 already",
        ),
        "x_rescale_table__mutmut_7": (
            "codes = np.arange(in_qmin, in_qmax + 1, )",
            "np.arange of Python ints is int64 already",
        ),
        "x_rescale_table__mutmut_21": (
            "codes = np.clip(codes, lo if (lo is not None) or True else in_qmin, hi if hi is not None else in_qmax)",
            "np.clip takes None as no bound, and the codes already lie within [in_qmin, in_qmax]",
        ),
        "x_rescale_table__mutmut_24": (
            "codes = np.clip(codes, lo if lo is not None else in_qmin, hi if (hi is not None) or True else in_qmax)",
            "np.clip takes None as no bound, and the codes already lie within [in_qmin, in_qmax]",
        ),
    },
    "runtimes": {
        "x_subnets_doc__mutmut_1": (
            'def subnets_doc(container: Container, label: str = "XXAIPXX") -> dict[str, Any]:',
            RT_LABEL,
        ),
        "x_subnets_doc__mutmut_2": (
            'def subnets_doc(container: Container, label: str = "aip") -> dict[str, Any]:',
            RT_LABEL,
        ),
        "x__hta_layers__mutmut_30": (
            "if not isinstance(index, dict) and not all(",
            RT_READ,
        ),
        "x__hta_layers__mutmut_34": (
            "isinstance(e, dict) for e in index.get(None, [])",
            RT_READ,
        ),
        "x__hta_layers__mutmut_35": (
            'isinstance(e, dict) for e in index.get("layers", None)',
            RT_READ,
        ),
        "x__hta_layers__mutmut_37": (
            'isinstance(e, dict) for e in index.get("layers", )',
            RT_READ,
        ),
        "x__hta_layers__mutmut_38": (
            'isinstance(e, dict) for e in index.get("XXlayersXX", [])',
            RT_READ,
        ),
        "x__hta_layers__mutmut_39": (
            'isinstance(e, dict) for e in index.get("LAYERS", [])',
            RT_READ,
        ),
        "x__hta_layers__mutmut_40": (
            "raise ValueError(None)",
            RT_READ,
        ),
        "x__hta_layers__mutmut_41": (
            'raise ValueError("XXlayers must be objectsXX")',
            RT_READ,
        ),
        "x__hta_layers__mutmut_42": (
            'raise ValueError("LAYERS MUST BE OBJECTS")',
            RT_READ,
        ),
        "x__hta_layers__mutmut_49": (
            'for entry in index.get("layers", None):',
            RT_LAYERS,
        ),
        "x__hta_layers__mutmut_51": (
            'for entry in index.get("layers", ):',
            RT_LAYERS,
        ),
        "x__hta_layers__mutmut_77": (
            "secs = arrays.get(name, None)",
            RT_ARRAYS,
        ),
        "x__hta_layers__mutmut_79": (
            "secs = arrays.get(name, )",
            RT_ARRAYS,
        ),
        "x__hta_layers__mutmut_88": (
            "if weight is None and stored is None or not np.array_equal(weight, stored):",
            RT_WEIGHT,
        ),
        "x__hta_layers__mutmut_108": (
            'weight, entry.get("weight_offset", 0), None',
            RT_AXIS,
        ),
        "x__hta_layers__mutmut_113": (
            'weight, entry.get("weight_offset", None), entry.get("weight_axis")',
            RT_OFFSET,
        ),
        "x__hta_layers__mutmut_115": (
            'weight, entry.get("weight_offset", ), entry.get("weight_axis")',
            RT_OFFSET,
        ),
        "x__hta_layers__mutmut_118": (
            'weight, entry.get("weight_offset", 1), entry.get("weight_axis")',
            RT_OFFSET,
        ),
        "x__hta_layers__mutmut_119": (
            'weight, entry.get("weight_offset", 0), entry.get(None)',
            RT_AXIS,
        ),
        "x__hta_layers__mutmut_120": (
            'weight, entry.get("weight_offset", 0), entry.get("XXweight_axisXX")',
            RT_AXIS,
        ),
        "x__hta_layers__mutmut_121": (
            'weight, entry.get("weight_offset", 0), entry.get("WEIGHT_AXIS")',
            RT_AXIS,
        ),
        "x__hta_layers__mutmut_124": (
            'bias=secs["bias"].astype(None) if "bias" in secs else None,',
            RT_DTYPE,
        ),
        "x__hta_layers__mutmut_131": (
            'multiplier=np.asarray(secs["multiplier"], dtype=None),',
            RT_DTYPE,
        ),
        "x__hta_layers__mutmut_133": (
            'multiplier=np.asarray(secs["multiplier"], ),',
            RT_DTYPE,
        ),
        "x__hta_layers__mutmut_137": (
            'shift=np.asarray(secs["shift"], dtype=None),',
            RT_DTYPE,
        ),
        "x__hta_layers__mutmut_139": (
            'shift=np.asarray(secs["shift"], ),',
            RT_DTYPE,
        ),
    },
    "runtime-rules": {
        "x_check_runtime__mutmut_33": (
            "if container.quantized and rt.precision is not None or rule.action == NATIVE:",
            RR_PRECISION,
        ),
        "x_check_runtime__mutmut_34": (
            "if container.quantized or rt.precision is not None and rule.action == NATIVE:",
            RR_PRECISION,
        ),
    },
    "tflite-quant": {
        "x_activation_encoding__mutmut_20": (
            "return Encoding(offset * scale, (offset + levels) * scale, scale, offset, bitwidth, None)",
            TQ_SYM,
        ),
        "x_activation_encoding__mutmut_26": (
            "return Encoding(offset * scale, (offset + levels) * scale, scale, offset, bitwidth, )",
            TQ_SYM,
        ),
        "x_codes__mutmut_3": (
            "return (data.astype(np.int16) - 128).astype(np.uint8)",
            TQ_WRAP,
        ),
        "x_codes__mutmut_8": (
            "return (data.astype(np.int32) - 32768).astype(np.uint16)",
            TQ_WRAP,
        ),
        "x_codes__mutmut_4": (
            "return (data.astype(None) + 128).astype(np.uint8)",
            TQ_WIDE,
        ),
        "x_codes__mutmut_9": (
            "return (data.astype(None) + 32768).astype(np.uint16)",
            TQ_WIDE,
        ),
        "x_dequantize__mutmut_2": (
            "q = data.astype(None)",
            TQ_F64,
        ),
        "x_dequantize__mutmut_3": (
            "if quant.scale.size >= 1:",
            TQ_ONE,
        ),
    },
    "container": {
        "xǁ_Archiveǁclose__mutmut_1": (
            'if getattr(None, "_zip", None) is not None:',
            CT_CLOSE,
        ),
        "xǁ_Archiveǁclose__mutmut_6": (
            'if getattr(self, "XX_zipXX", None) is not None:',
            CT_CLOSE,
        ),
        "xǁ_Archiveǁclose__mutmut_7": (
            'if getattr(self, "_ZIP", None) is not None:',
            CT_CLOSE,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_5": (
            "raise ContainerError(None)",
            CT_LIMIT,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_17": (
            "while got <= size:",
            CT_ZIPREAD,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_19": (
            "chunk = f.read(None)",
            CT_ZIPREAD,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_24": (
            "chunk = f.read(min(_CHUNK, size + got))",
            CT_ZIPREAD,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_26": (
            "return",
            CT_SHORT,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_31": (
            "extra = None",
            CT_CRC,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_32": (
            "extra = f.read(None)",
            CT_CRC,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_33": (
            "extra = f.read(2)",
            CT_CRC,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_35": (
            "raise ContainerError(None) from e",
            CT_NOTIMPL,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_36": (
            "if got != size and extra:",
            CT_UNREACH,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_38": (
            "shown = None",
            CT_UNREACH,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_39": (
            'shown = f"more than {size}" if (extra) and False else str(got)',
            CT_UNREACH,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_40": (
            'shown = f"more than {size}" if (extra) or True else str(got)',
            CT_UNREACH,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_41": (
            'shown = f"more than {size}" if extra else str(None)',
            CT_UNREACH,
        ),
        "xǁ_Archiveǁ_read_raw__mutmut_42": (
            "raise ContainerError(None)",
            CT_UNREACH,
        ),
    },
    "onnx-parsers": {
        "x__fix_input_dims__mutmut_25": (
            'declared = tensor_type.shape.dim if (tensor_type.HasField("shape")) or True else None',
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_79": (
            "unresolved.append(None)",
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_80": (
            "unresolved.append(propose(None, [None], metadata))",
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_81": (
            "unresolved.append(propose(value.name, None, metadata))",
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_82": (
            "unresolved.append(propose(value.name, [None], None))",
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_83": (
            "unresolved.append(propose([None], metadata))",
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_84": (
            "unresolved.append(propose(value.name, metadata))",
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_85": (
            "unresolved.append(propose(value.name, [None], ))",
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_86": (
            "break",
            OX_SHAPELESS,
        ),
        "x__fix_input_dims__mutmut_45": (
            "for d, n in zip(declared, dims, strict=None):",
            OX_ZIP,
        ),
        "x__fix_input_dims__mutmut_48": (
            "for d, n in zip(declared, dims, ):",
            OX_ZIP,
        ),
        "x__fix_input_dims__mutmut_49": (
            "for d, n in zip(declared, dims, strict=False):",
            OX_ZIP,
        ),
        "x__attr_value__mutmut_9": (
            'return a.s.decode(errors="replace")',
            OX_UTF8,
        ),
        "x__attr_value__mutmut_12": (
            'return a.s.decode("UTF-8", errors="replace")',
            OX_UTF8,
        ),
        "x__attr_value__mutmut_24": (
            'return [s.decode(errors="replace") for s in a.strings]',
            OX_UTF8,
        ),
        "x__attr_value__mutmut_27": (
            'return [s.decode("UTF-8", errors="replace") for s in a.strings]',
            OX_UTF8,
        ),
        "x__attr_value__mutmut_30": (
            "raise _Unconvertible(None)",
            OX_HIDDEN,
        ),
        "x__to_array__mutmut_17": (
            "return array if (array.flags.c_contiguous) and False else array.copy()",
            OX_CONTIG,
        ),
        "x__to_array__mutmut_18": (
            "return array if (array.flags.c_contiguous) or True else array.copy()",
            OX_CONTIG,
        ),
        "x__constant_value__mutmut_6": (
            'if a.name == "value" or a.type == AttributeProto.TENSOR:',
            OX_VALUE,
        ),
        "x__constant_value__mutmut_23": (
            "return np.array(list(a.floats), dtype=None)",
            OX_F32,
        ),
        "x__constant_value__mutmut_25": (
            "return np.array(list(a.floats), )",
            OX_F32,
        ),
        "x__constant_value__mutmut_31": (
            "return np.array(a.i, dtype=None)",
            OX_I64,
        ),
        "x__constant_value__mutmut_33": (
            "return np.array(a.i, )",
            OX_I64,
        ),
        "x__constant_value__mutmut_38": (
            "return np.array(list(a.ints), dtype=None)",
            OX_I64,
        ),
        "x__constant_value__mutmut_40": (
            "return np.array(list(a.ints), )",
            OX_I64,
        ),
    },
}
