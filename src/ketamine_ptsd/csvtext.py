"""The long format as CSV text, compiled: rows ``id,time_h,value,...`` straight from the
engine's outputs-major chunk buffer; and float32 columns as JSON numbers.

Each float32 value is written as its shortest decimal text that reads back to the same float32
(Ryu, Ulf Adams, "Ryū: fast float-to-string conversion", PLDI 2018, its 32-bit variant ``f2s``),
laid out as Arrow's CSV writer lays it out (positional for decimal exponents -6 to 9, else
``1.5e+10``/``1e-7``; ``nan``, ``inf``, ``-inf``, ``-0``), so the files are those Arrow writes, byte for
byte (a test compares them), at a third of its cost: Arrow spent ~64 ns per value here, five
times the engine's cost per value at hourly outputs.
"""

from __future__ import annotations

import numba
import numpy as np

_MANTISSA_BITS = 23
_BIAS = 127
_POW5_INV_BITCOUNT = 59
_POW5_BITCOUNT = 61


@numba.njit(inline="always")
def _pow5bits(e):
    """The bit length of 5^e (for 0 <= e <= 3528)."""
    return ((e * 1217359) >> 19) + 1


# 2^k / 5^q rounded up and 5^i / 2^k rounded down, each 59 to 61 bits (Ryu's f2s tables, computed
# here from their definition rather than copied).
_bits5 = _pow5bits.py_func
_POW5_INV_SPLIT = np.array([(1 << (_bits5(q) - 1 + _POW5_INV_BITCOUNT)) // 5 ** q + 1 for q in range(31)],
                           dtype=np.uint64)
_POW5_SPLIT = np.array([5 ** i >> (_bits5(i) - _POW5_BITCOUNT) if _bits5(i) >= _POW5_BITCOUNT
                        else 5 ** i << (_POW5_BITCOUNT - _bits5(i)) for i in range(47)], dtype=np.uint64)

_U32 = np.uint64(0xFFFFFFFF)


@numba.njit(inline="always")
def _mul_shift(m, factor, shift):
    """(m * factor) >> shift for a 32-bit m and 64-bit factor, shift > 32, without 128 bits."""
    lo = np.uint64(m) * (factor & _U32)
    hi = np.uint64(m) * (factor >> np.uint64(32))
    return ((lo >> np.uint64(32)) + hi) >> np.uint64(shift - 32)


@numba.njit(inline="always")
def _pow5_factor(v):
    """How many times 5 divides ``v`` (> 0)."""
    count = 0
    while v % np.uint64(5) == np.uint64(0):
        v //= np.uint64(5)
        count += 1
    return count


@numba.njit(inline="always")
def _drop_digit(vr, vp, vm):
    """The last digit of ``vr``, and ``vr``, ``vp``, ``vm`` without their last digit."""
    ten = np.uint64(10)
    return int(vr % ten), vr // ten, vp // ten, vm // ten


@numba.njit
def shortest(bits):
    """The shortest decimal ``digits * 10**exponent`` that rounds to the positive finite float32
    with IEEE bits ``bits`` (the sign bit clear): (digits, exponent)."""
    mantissa = np.uint64(bits & 0x7FFFFF)
    biased = (bits >> 23) & 0xFF
    if biased == 0:
        e2 = 1 - _BIAS - _MANTISSA_BITS - 2
        m2 = mantissa
    else:
        e2 = biased - _BIAS - _MANTISSA_BITS - 2
        m2 = mantissa | np.uint64(1 << _MANTISSA_BITS)
    accept = (m2 & np.uint64(1)) == np.uint64(0)
    mv = np.uint64(4) * m2
    mm_shift = np.uint64(1) if (mantissa != np.uint64(0) or biased <= 1) else np.uint64(0)
    mp = mv + np.uint64(2)
    mm = mv - np.uint64(1) - mm_shift
    vm_zeros = False
    vr_zeros = False
    last = 0
    if e2 >= 0:
        q = (e2 * 78913) >> 18
        e10 = q
        k = _POW5_INV_BITCOUNT + _pow5bits(q) - 1
        i = -e2 + q + k
        vr = _mul_shift(mv, _POW5_INV_SPLIT[q], i)
        vp = _mul_shift(mp, _POW5_INV_SPLIT[q], i)
        vm = _mul_shift(mm, _POW5_INV_SPLIT[q], i)
        if q != 0 and (vp - np.uint64(1)) // np.uint64(10) <= vm // np.uint64(10):
            ll = _POW5_INV_BITCOUNT + _pow5bits(q - 1) - 1
            last = int(_mul_shift(mv, _POW5_INV_SPLIT[q - 1], -e2 + q - 1 + ll) % np.uint64(10))
        if q <= 9:
            if mv % np.uint64(5) == np.uint64(0):
                vr_zeros = _pow5_factor(mv) >= q
            elif accept:
                vm_zeros = _pow5_factor(mm) >= q
            else:
                vp -= np.uint64(1) if _pow5_factor(mp) >= q else np.uint64(0)
    else:
        q = (-e2 * 732923) >> 20
        e10 = q + e2
        i = -e2 - q
        k = _pow5bits(i) - _POW5_BITCOUNT
        j = q - k
        vr = _mul_shift(mv, _POW5_SPLIT[i], j)
        vp = _mul_shift(mp, _POW5_SPLIT[i], j)
        vm = _mul_shift(mm, _POW5_SPLIT[i], j)
        if q != 0 and (vp - np.uint64(1)) // np.uint64(10) <= vm // np.uint64(10):
            j = q - 1 - (_pow5bits(i + 1) - _POW5_BITCOUNT)
            last = int(_mul_shift(mv, _POW5_SPLIT[i + 1], j) % np.uint64(10))
        if q <= 1:
            vr_zeros = True
            if accept:
                vm_zeros = mm_shift == np.uint64(1)
            else:
                vp -= np.uint64(1)
        elif q < 31:
            vr_zeros = (mv & ((np.uint64(1) << np.uint64(q - 1)) - np.uint64(1))) == np.uint64(0)
    removed = 0
    ten = np.uint64(10)
    if vm_zeros or vr_zeros:
        while vp // ten > vm // ten:
            vm_zeros = vm_zeros and vm % ten == np.uint64(0)
            vr_zeros = vr_zeros and last == 0
            last, vr, vp, vm = _drop_digit(vr, vp, vm)
            removed += 1
        if vm_zeros:
            while vm % ten == np.uint64(0):
                vr_zeros = vr_zeros and last == 0
                last, vr, vp, vm = _drop_digit(vr, vp, vm)
                removed += 1
        if vr_zeros and last == 5 and vr % np.uint64(2) == np.uint64(0):
            last = 4  # round half to even
        up = (vr == vm and (not accept or not vm_zeros)) or last >= 5
    else:
        while vp // ten > vm // ten:
            last, vr, vp, vm = _drop_digit(vr, vp, vm)
            removed += 1
        up = vr == vm or last >= 5
    return vr + (np.uint64(1) if up else np.uint64(0)), e10 + removed


#: "00" to "99": two digits per division when writing a number.
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), dtype=np.uint8).copy()


@numba.njit(inline="always")
def _length(v):
    """The number of decimal digits of ``v`` (unsigned, below 10^10)."""
    if v >= np.uint64(100000):
        if v >= np.uint64(10000000):
            if v >= np.uint64(1000000000):
                return 10
            return 9 if v >= np.uint64(100000000) else 8
        return 7 if v >= np.uint64(1000000) else 6
    if v >= np.uint64(100):
        if v >= np.uint64(10000):
            return 5
        return 4 if v >= np.uint64(1000) else 3
    return 2 if v >= np.uint64(10) else 1


@numba.njit(inline="always")
def _digits(out, end, v, count):
    """The last ``count`` decimal digits of ``v`` into ``out[end - count:end]``; returns ``v``
    without them."""
    k = end
    while count >= 2:
        r = v % np.uint64(100)
        v //= np.uint64(100)
        out[k - 2] = _PAIRS[2 * r]
        out[k - 1] = _PAIRS[2 * r + 1]
        k -= 2
        count -= 2
    if count:
        out[k - 1] = 48 + np.uint8(v % np.uint64(10))
        v //= np.uint64(10)
    return v


@numba.njit(inline="always")
def _put_uint(out, pos, v):
    """The decimal digits of ``v`` (unsigned) at ``out[pos:]``; returns the position after."""
    if v < np.uint64(10000000000):
        n = _length(v)
    else:
        n = 10
        t = v // np.uint64(10000000000)
        while t:
            t //= np.uint64(10)
            n += 1
    _digits(out, pos + n, v, n)
    return pos + n


@numba.njit(inline="always")
def put_float32(out, pos, raw):
    """The float32 with IEEE bits ``raw`` as Arrow writes it into CSV, at ``out[pos:]``;
    returns the position after."""
    bits = np.int64(raw)
    biased = (bits >> 23) & 0xFF
    mantissa = bits & 0x7FFFFF
    if biased == 0xFF and mantissa:
        out[pos] = 110  # nan, whatever its sign
        out[pos + 1] = 97
        out[pos + 2] = 110
        return pos + 3
    if bits >> 31:
        out[pos] = 45  # '-'
        pos += 1
    if biased == 0xFF:
        out[pos] = 105  # inf
        out[pos + 1] = 110
        out[pos + 2] = 102
        return pos + 3
    if biased == 0 and mantissa == 0:
        out[pos] = 48
        return pos + 1
    digits, exponent = shortest(bits & 0x7FFFFFFF)
    n = _length(digits)
    point = n + exponent  # digits before the decimal point (<= 0: a leading "0." and zeros)
    sci = point - 1
    if -6 <= sci <= 9:
        if point <= 0:
            out[pos] = 48
            out[pos + 1] = 46
            pos += 2
            for _ in range(-point):
                out[pos] = 48
                pos += 1
            _digits(out, pos + n, digits, n)
            return pos + n
        if exponent >= 0:
            _digits(out, pos + n, digits, n)
            pos += n
            for _ in range(exponent):
                out[pos] = 48
                pos += 1
            return pos
        end = pos + n + 1
        rest = _digits(out, end, digits, -exponent)
        out[end + exponent - 1] = 46
        _digits(out, pos + point, rest, point)
        return end
    # d[.ddd]e(+|-)x
    if n == 1:
        out[pos] = 48 + np.uint8(digits)
        pos += 1
    else:
        end = pos + n + 1
        first = _digits(out, end, digits, n - 1)
        out[pos] = 48 + np.uint8(first)
        out[pos + 1] = 46
        pos = end
    out[pos] = 101  # 'e'
    out[pos + 1] = 43 if sci >= 0 else 45
    return _put_uint(out, pos + 2, np.uint64(abs(sci)))


@numba.njit("int64(int64[::1], uint8[::1], int64[::1], uint32[:, :, :], uint8[::1])", cache=True, nogil=True)
def format_rows(ids, time_text, time_start, by_output, out):
    """The CSV rows of one chunk into ``out`` (uint8, large enough): for each patient ``p`` and
    time ``t``, ``ids[p]``, the time's text ``time_text[time_start[t]:time_start[t + 1]]`` and
    the float32 whose bits are ``by_output[k, p, t]`` (uint32) for each output ``k``,
    comma-separated, one line each. Returns the number of bytes written. (One signature, any
    layout of ``by_output``: compiled once.)"""
    n_out, n_pat, n_times = by_output.shape
    pos = 0
    for p in range(n_pat):
        id_start = pos
        neg = ids[p] < 0
        if neg:
            out[pos] = 45
            pos += 1
        pos = _put_uint(out, pos, np.uint64(abs(ids[p])))
        id_len = pos - id_start
        for t in range(n_times):
            if t:
                for k in range(id_len):
                    out[pos + k] = out[id_start + k]
                pos += id_len
            out[pos] = 44
            pos += 1
            for k in range(time_start[t], time_start[t + 1]):
                out[pos] = time_text[k]
                pos += 1
            for k in range(n_out):
                out[pos] = 44
                pos = put_float32(out, pos + 1, by_output[k, p, t])
            out[pos] = 10
            pos += 1
    return pos



@numba.njit("int64(uint32[::1], uint8[::1])", cache=True, nogil=True)
def format_json_numbers(bits, out):
    """The float32 values whose bits are ``bits`` as JSON numbers as Python's ``json`` writes
    floats (``1.0``, never ``1``; ``NaN``, ``Infinity``, ``-Infinity``), each followed by a comma,
    into ``out``; returns the number of bytes written."""
    pos = 0
    for i in range(bits.size):
        raw = np.int64(bits[i])
        if (raw >> 23) & 0xFF == 0xFF:
            if raw & 0x7FFFFF:
                token = "NaN,"
            elif raw >> 31:
                token = "-Infinity,"
            else:
                token = "Infinity,"
            for ch in token:
                out[pos] = ord(ch)
                pos += 1
            continue
        start = pos
        pos = put_float32(out, pos, raw)
        plain = True
        for k in range(start, pos):
            if out[k] == 46 or out[k] == 101:  # '.' or 'e'
                plain = False
        if plain:
            out[pos] = 46
            out[pos + 1] = 48
            pos += 2
        out[pos] = 44
        pos += 1
    return pos

#: Longest text of one value and its comma: 16 bytes, e.g. "-0.0000010000001" (found by writing
#: every negative float32; a test checks the binade that reaches it), plus the comma. JSON's
#: longest are shorter: "-Infinity," and an integral value such as "-1234567900.0,".
VALUE_BYTES = 17
#: Longest text of an int64 id and its comma.
ID_BYTES = 21
