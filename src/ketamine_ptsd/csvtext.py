"""The long format as CSV text, compiled: rows ``id,time_h,value,...`` straight from the
engine's outputs-major chunk buffer; and float32 columns as JSON numbers.

Each float32 value is written as its shortest decimal text that reads back to the same float32
(Schubfach: Raffaello Giulietti, "The Schubfach way to render doubles", 2020, in its 32-bit form:
three 64 x 32-bit products and a few comparisons, no loop over digits), laid out as Arrow's CSV
writer lays it out (positional for decimal exponents -6 to 9, else ``1.5e+10``/``1e-7``; ``nan``,
``inf``, ``-inf``, ``-0``), so the files are those Arrow writes, byte for byte (a test compares
them). The positional text is written with fixed-width stores rather than a loop per digit:
the digits are converted once, eight of them in one 64-bit register (SWAR), and stored as whole
words at the offsets the layout needs; the next value's text overwrites what lies past this
one's end, so a buffer needs :data:`SLACK` bytes beyond its bound. About 14 ns per value of
model output on an Intel Xeon (docs/benchmarks.md).
"""

from __future__ import annotations

from fractions import Fraction

import numba
import numpy as np

from .numba_views import borrowed as _borrowed

_U = np.uint64
_LO32 = _U(0xFFFFFFFF)


def _ceil_pow10_64(k: int) -> int:
    """ceil(10^k / 2^r) with r chosen so that the result lies in [2^63, 2^64)."""
    x = Fraction(10) ** k
    r = x.numerator.bit_length() - x.denominator.bit_length() - 63
    while Fraction(2) ** (r + 63) > x:
        r -= 1
    while Fraction(2) ** (r + 64) <= x:
        r += 1
    g = x / Fraction(2) ** r
    return -(-g.numerator // g.denominator)


#: 10^k as a 64-bit significand rounded up, for k from -31 to 45 (every k a float32 needs);
#: computed here from the definition.
_G_MIN = -31
_G = np.array([_ceil_pow10_64(k) for k in range(_G_MIN, 46)], dtype=np.uint64)


@numba.njit(inline="always")
def _round_to_odd(g, cp):
    """The upper 32 bits of the 96-bit product g * cp (cp < 2^32), rounded to odd."""
    b01 = (g & _LO32) * cp
    b11 = (g >> _U(32)) * cp
    hi = b11 + (b01 >> _U(32))
    return (hi >> _U(32)) | (_U(1) if (hi & _LO32) > _U(1) else _U(0))


@numba.njit(inline="always")
def _strip_zeros(d, e):
    """``d * 10**e`` without the trailing zeros of ``d`` (> 0)."""
    ten = _U(10)
    while d % ten == _U(0):
        d //= ten
        e += 1
    return d, e


@numba.njit(inline="always")
def shortest(bits):
    """The shortest decimal ``digits * 10**exponent`` that rounds to the positive finite float32
    with IEEE bits ``bits`` (the sign bit clear), the closest to it where several are as short
    (ties to an even last digit): (digits, exponent), ``digits`` without trailing zeros.
    Inlined into its callers: called out of line, numba returns the pair through memory it
    zeroes first and clears the upper vector registers around the call, per value."""
    mantissa = _U(bits & 0x7FFFFF)
    biased = (bits >> 23) & 0xFF
    if biased != 0:
        c = mantissa | _U(1 << 23)
        q = biased - 150
        if -23 <= q <= 0 and (c & ((_U(1) << _U(-q)) - _U(1))) == _U(0):
            return _strip_zeros(c >> _U(-q), 0)  # a whole number below 2^24
    else:
        c = mantissa
        q = -149
    odd = _U(c & _U(1))
    closer = mantissa == _U(0) and biased > 1  # the lower neighbour is half as far
    cb = _U(4) * c
    cbl = cb - _U(2) + (_U(1) if closer else _U(0))
    k = (q * 1262611 - (524031 if closer else 0)) >> 22  # floor(log10(2^q)), or of 3/4 2^q
    h = q + ((-k * 1741647) >> 19) + 1  # 1 to 4
    g = _G[-k - _G_MIN]
    vb = _round_to_odd(g, cb << _U(h))
    lower = _round_to_odd(g, cbl << _U(h)) + odd
    upper = _round_to_odd(g, (cb + _U(2)) << _U(h)) - odd
    s = vb >> _U(2)
    # Both candidates are computed and one is selected without a branch: whether the value has
    # a shorter decimal (``shorter``) depends on its digits, a coin toss for a branch predictor
    # on model output (7 and 8 digits alike common). At most one of the shorter digit's two
    # neighbours lies in the interval; else the nearer of ``s`` and ``s + 1`` (ties to even).
    sp = s // _U(10)
    up_in = lower <= _U(40) * sp
    wp_in = _U(40) * sp + _U(40) <= upper
    shorter = (s >= _U(10)) & (up_in != wp_in)
    u_in = lower <= _U(4) * s
    w_in = _U(4) * s + _U(4) <= upper
    mid = _U(4) * s + _U(2)
    up = (vb > mid) | ((vb == mid) & ((s & _U(1)) != _U(0)))
    near = w_in if u_in != w_in else up
    digits = sp + _U(wp_in) if shorter else s + _U(near)
    return _strip_zeros(digits, k + (1 if shorter else 0))


#: "00" to "99": two digits per division when writing a number.
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), dtype=np.uint8).copy()


#: 10^0 to 10^19 (every power of ten below 2^64).
_POW10 = np.array([10 ** i for i in range(20)], dtype=np.uint64)


@numba.njit(inline="always")
def _digit_count(v, most):
    """The number of decimal digits of ``v`` (at most ``most``), without branches."""
    n = 1
    for i in range(1, most):
        n += 1 if v >= _POW10[i] else 0
    return n


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
    n = _digit_count(v, 20)
    _digits(out, pos + n, v, n)
    return pos + n


#: Eight ASCII '0's, and "0.000000", each as one little-endian word; masks of the SWAR split.
_ZEROS = _U(0x3030303030303030)
_ZERO_POINT = _U(0x3030303030302E30)
_M7F = _U(0x0000007F0000007F)
_M0F = _U(0x000F000F000F000F)

#: Bytes :func:`put_float32` may write past the end of a value's text (at most 16; the next
#: value overwrites them): every buffer it writes into needs this much room beyond its bound.
SLACK = 32


@numba.njit(inline="always")
def _eight_digits(x):
    """The 8 decimal digits of ``x`` < 10^8, zero-padded, as the ASCII bytes of one little-endian
    word (most significant digit first in memory): 4+4 digits in two 32-bit lanes, 2+2 in 16-bit
    lanes, 1+1 in bytes, each split by a multiply and shift that is exact in its range."""
    a = x // _U(10000)
    m = a | ((x - a * _U(10000)) << _U(32))
    q = ((m * _U(10486)) >> _U(20)) & _M7F  # lane // 100 for lanes < 10^4
    m = q | ((m - q * _U(100)) << _U(16))
    t = ((m * _U(103)) >> _U(10)) & _M0F  # lane // 10 for lanes < 100
    return (t | ((m - t * _U(10)) << _U(8))) + _ZEROS


@numba.njit(inline="always")
def _put_word(out, pos, w):
    """The 8 bytes of ``w`` at ``out[pos:pos + 8]`` (unsigned indices: LLVM merges the byte
    stores into one only when it need not handle numba's wraparound of negative indices)."""
    p = _U(pos)
    for j in range(8):
        out[p + _U(j)] = np.uint8((w >> _U(8 * j)) & _U(0xFF))


@numba.njit(inline="always")
def put_float32(out, pos, raw):
    """The float32 with IEEE bits ``raw`` as Arrow writes it into CSV, at ``out[pos:]``;
    returns the position after (and may write up to :data:`SLACK` bytes past it)."""
    bits = np.int64(raw)
    magnitude = bits & 0x7FFFFFFF
    biased = (bits >> 23) & 0xFF
    p = _U(pos)
    if biased == 0xFF or magnitude == 0:
        if magnitude > 0x7F800000:
            out[p] = 110  # nan, whatever its sign
            out[p + _U(1)] = 97
            out[p + _U(2)] = 110
            return pos + 3
        if bits >> 31:
            out[p] = 45  # '-'
            p += _U(1)
            pos += 1
        if biased == 0xFF:
            out[p] = 105  # inf
            out[p + _U(1)] = 110
            out[p + _U(2)] = 102
            return pos + 3
        out[p] = 48
        return pos + 1
    out[p] = 45  # '-', kept only when negative
    pos += bits >> 31
    digits, exponent = shortest(magnitude)
    n = _digit_count(digits, 9)  # a float32's shortest digits: 9 at most
    point = n + exponent  # digits before the decimal point (<= 0: a leading "0." and zeros)
    if -5 <= point <= 10:
        # The digits once, left-aligned in nine characters (then '0's): the first, and eight
        # in one word. Before the point they go out as they are; after it, the word shifted.
        left = digits * _POW10[9 - n]
        first = left // _U(100000000)
        word = _eight_digits(left - first * _U(100000000))
        if point <= 0:  # "0." and -point zeros before the digits
            _put_word(out, pos, _ZERO_POINT)
            pos += 2 - point
            out[_U(pos)] = np.uint8(48) + np.uint8(first)
            _put_word(out, pos + 1, word)
            return pos + n
        out[_U(pos)] = np.uint8(48) + np.uint8(first)
        _put_word(out, pos + 1, word)
        if point >= n:  # a whole number: its zeros, a tenth one past the nine characters
            _put_word(out, pos + 9, _ZEROS)
            return pos + point
        out[_U(pos + point)] = 46
        _put_word(out, pos + point + 1, word >> _U(8 * (point - 1)))  # point <= 8 here
        return pos + n + 1
    # d[.ddd]e(+|-)x
    sci = point - 1
    if n == 1:
        out[_U(pos)] = 48 + np.uint8(digits)
        pos += 1
    else:
        end = pos + n + 1
        first = _digits(out, end, digits, n - 1)
        out[_U(pos)] = 48 + np.uint8(first)
        out[_U(pos + 1)] = 46
        pos = end
    out[_U(pos)] = 101  # 'e'
    out[_U(pos + 1)] = 43 if sci >= 0 else 45
    return _put_uint(out, pos + 2, _U(abs(sci)))


@numba.njit("int64(int64[::1], uint8[::1], int64[::1], uint32[:, :, :], uint8[::1])", cache=True, nogil=True)
def format_rows(ids, time_text, time_start, by_output, out):
    """The CSV rows of one chunk into ``out`` (uint8, large enough): for each patient ``p`` and
    time ``t``, ``ids[p]``, the time's text ``time_text[time_start[t]:time_start[t + 1]]`` and
    the float32 whose bits are ``by_output[k, p, t]`` (uint32) for each output ``k``,
    comma-separated, one line each. Returns the number of bytes written. (One signature, any
    layout of ``by_output``: compiled once.)"""
    # Owner-less views: numba would otherwise count references on ``out`` atomically around each
    # inlined call that is given it, twice per value (13 ns, half the cost of a value).
    out, ids, time_text, time_start, by_output = (_borrowed(out), _borrowed(ids), _borrowed(time_text),
                                                  _borrowed(time_start), _borrowed(by_output))
    n_out, n_pat, n_times = by_output.shape
    pos = 0
    for p in range(n_pat):
        id_start = pos
        neg = ids[p] < 0
        if neg:
            out[_U(pos)] = 45
            pos += 1
        pos = _put_uint(out, pos, _U(abs(ids[p])))
        id_len = pos - id_start
        for t in range(n_times):
            if t:
                for k in range(id_len):
                    out[_U(pos + k)] = out[_U(id_start + k)]
                pos += id_len
            out[_U(pos)] = 44
            pos += 1
            for k in range(time_start[t], time_start[t + 1]):
                out[_U(pos)] = time_text[_U(k)]
                pos += 1
            for k in range(n_out):
                out[_U(pos)] = 44
                pos = put_float32(out, pos + 1, by_output[k, p, t])
            out[_U(pos)] = 10
            pos += 1
    return pos



@numba.njit("int64(uint32[::1], uint8[::1])", cache=True, nogil=True)
def format_json_numbers(bits, out):
    """The float32 values whose bits are ``bits`` as JSON numbers as Python's ``json`` writes
    floats (``1.0``, never ``1``; ``NaN``, ``Infinity``, ``-Infinity``), each followed by a comma,
    into ``out``; returns the number of bytes written."""
    out, bits = _borrowed(out), _borrowed(bits)  # as in format_rows
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
