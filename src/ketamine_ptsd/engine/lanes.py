"""The model's right-hand side and outputs flattened into loops over SIMD lanes, generated
from the model's own source for the lockstep kernel (``lockstep_kernel.py``).

The model's functions are run once as plain Python (:mod:`ketamine_ptsd.engine.plain`, as the
JAX backend and the SBML export run them) on symbolic values that write down every operation
they see as one line of straight-line code: states, parameters and inputs are loaded from
lane arrays laid out by variable and lane (``Y[i * LANES + l]``), every call of a model
function disappears (its body is traced where it is called), ``max`` and ``min`` become
numba's two-argument selects and ``power(x, h)`` with a parameter exponent becomes
multiplications and selects over the exponent's binary digits (exact for whole exponents
0-31; the engine checks the patients' exponents before it uses this kernel). The result is
one loop over the lanes with no calls, which LLVM vectorises (a test reads the compiled code
for packed double-precision arithmetic). The lane count is passed in (``nl``) rather than
fixed: with a constant trip count LLVM unrolls the loop completely and then cannot prove the
arrays apart, so nothing vectorises.

``observe`` is traced once per output group (the outputs it writes together when one of them
is asked for), each group becoming its own lane loop behind the ``need`` flags. ``exp`` is
written as a Cody-Waite reduction and a polynomial in straight-line code (within 2 units in
the last place of ``math.exp``; a test), since this LLVM has no vector ``exp`` (no SVML), so
the PTSD and depression scores vectorise too. In the outputs, powers of the right-hand side's
whole-number exponents are selects as there; any other (the CADSS curve's fractional Hill
coefficient) is exp(h log x), with ``log`` written out the same way (the exponent and
mantissa read from the double's bits, an atanh series), so that group vectorises as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Bits of a whole power exponent that the lane code handles (exponents 0 to 2**bits - 1).
POWER_BITS = 5

# exp(x) = 2**k exp(r), r = x - k ln 2 with |r| <= ln(2)/2 (Cody & Waite 1980); exp(r) by its
# Taylor series to r**13 / 13!, whose remainder is below 2e-17 relative on that interval.
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: k * LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634
_EXP_TERMS = 13
#: Terms of the polynomials below written by Horner's scheme, the rest by Estrin's (``_polynomial``).
_HORNER_TERMS = 3
# log: 2 atanh(s) by its series to s**(2 * _LOG_TERMS - 1); the bit patterns of 1.0 and 2**52
# and the mantissa field, for reading a double's exponent and mantissa.
_LOG_TERMS = 12
_SMALLEST_NORMAL = 2.2250738585072014e-308
_ONE_BITS, _TWO52_BITS, _MANTISSA_MASK = 0x3FF0000000000000, 0x4330000000000000, 0x000FFFFFFFFFFFFF
#: exp's range: below it the result would be subnormal and is 0, above it infinite.
_EXP_LOW, _EXP_HIGH = -708.39, 709.782712893384


def _text(value) -> str:
    if isinstance(value, Sym):
        return value.name
    if isinstance(value, bool):
        raise TypeError("a boolean in model arithmetic cannot be traced")
    text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


@dataclass
class Tape:
    """Straight-line code being written: one assignment per line, repeated expressions
    written once."""

    lines: list[str] = field(default_factory=list)
    seen: dict[str, Sym] = field(default_factory=dict)
    power_exponents: set[int] = field(default_factory=set)
    #: Whole-number powers as selects for every parameter exponent (True, the right-hand side)
    #: or only for these parameters (the outputs: those of the right-hand side, which the
    #: engine checks); others are exp(h log x) (``_fractional_power``).
    whole_powers: bool | frozenset = True
    count: int = 0

    def emit(self, expr: str) -> Sym:
        if expr in self.seen:
            return self.seen[expr]
        name = f"v{self.count}"
        self.count += 1
        self.lines.append(f"{name} = {expr}")
        sym = Sym(self, name)
        self.seen[expr] = sym
        return sym

    def binary(self, a, op: str, b) -> Sym:
        return self.emit(f"{_text(a)} {op} {_text(b)}")


def _operator(op: str):
    """A binary operator of traced values and its reflected form."""
    return (lambda self, other: self.tape.binary(self, op, other),
            lambda self, other: self.tape.binary(other, op, self))


class Sym:
    """A value of the traced code: the name of the variable that holds it."""

    __slots__ = ("tape", "name", "param")

    def __init__(self, tape: Tape, name: str, param: int | None = None):
        self.tape, self.name, self.param = tape, name, param

    __add__, __radd__ = _operator("+")
    __sub__, __rsub__ = _operator("-")
    __mul__, __rmul__ = _operator("*")
    __truediv__, __rtruediv__ = _operator("/")

    def __neg__(self):
        return self.tape.emit(f"-{self.name}")

    def __abs__(self):
        return self.tape.emit(f"abs({self.name})")

    def __pow__(self, exponent):
        return _power(self.tape, self, exponent)

    def __rpow__(self, base):
        raise TypeError("a number raised to a traced power cannot be traced")

    def __bool__(self):
        raise TypeError("model code branches on a state or parameter value; the lane generator needs "
                        "branch-free arithmetic (use max/min)")

    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = lambda self, other: self.__bool__()
    __hash__ = object.__hash__


def _tape_of(values) -> Tape:
    for v in values:
        if isinstance(v, Sym):
            return v.tape
    raise TypeError("no traced value")


def _select_reduce(kind: str, values):
    values = list(values)
    if len(values) == 1 and not isinstance(values[0], Sym):
        values = list(values[0])
    if not any(isinstance(v, Sym) for v in values):
        return (max if kind == "max" else min)(values)
    tape = _tape_of(values)
    acc = values[0]
    for v in values[1:]:
        acc = tape.emit(f"{kind}({_text(acc)}, {_text(v)})")
    return acc


def sym_max(*values):
    return _select_reduce("max", values)


def sym_min(*values):
    return _select_reduce("min", values)


def _power(tape: Tape, x, h):
    """``x ** h`` for a whole exponent 0-31 as the product of x**(2**b) over the exponent's
    binary digits b: with a constant exponent the products themselves, with a parameter one
    as selects (the squarings are those of the compiled shortcuts for 2, 4 and 12, so those
    powers agree bit for bit)."""
    if not isinstance(h, Sym):
        if not (float(h) == int(h) and 0 <= h < 2 ** POWER_BITS):
            raise TypeError(f"a constant power {h!r} other than a whole number 0-31 cannot be vectorised")
        result, square, rest = None, x, int(h)
        while rest:
            if rest & 1:
                result = square if result is None else result * square
            rest >>= 1
            if rest:
                square = square * square
        return 1.0 if result is None else result
    if tape.whole_powers is not True and h.param not in tape.whole_powers:
        return _fractional_power(tape, x, h)
    if h.param is None:
        raise TypeError("the lane generator handles powers whose exponent is a parameter")
    tape.power_exponents.add(h.param)
    squares = [x]
    for _ in range(POWER_BITS - 1):
        squares.append(squares[-1] * squares[-1])
    factors, rest = [], h
    for b in range(POWER_BITS - 1, -1, -1):
        weight = float(2 ** b)
        take = tape.emit(f"{_text(rest)} >= {weight!r}")
        rest = tape.emit(f"{_text(rest)} - {weight!r} if {take.name} else {_text(rest)}")
        factors.append(tape.emit(f"{_text(squares[b])} if {take.name} else 1.0"))
    # Multiplied from the lowest digit up, so that each product waits only for the square it
    # takes next: the chain from x is the squarings and one multiplication, not the squarings
    # and then four more (the longest path through the right-hand side, 105 to about 96 cycles
    # of latency). With at most two digits set (the model's 4 and 12) the order cannot change
    # a result: the other factors are 1 and a product of two is commutative.
    result = None
    for factor in reversed(factors):
        result = factor if result is None else result * factor
    return result


def _exp(tape: Tape, x):
    """exp(x) as straight-line arithmetic (see the module's docstring): 2**k is made by
    writing k + 1023 into a double's exponent bits (``_pow2``, generated beside the lane
    functions), which vectorises as an add, a shift and a bit cast."""
    if not isinstance(x, Sym):
        return math.exp(x)
    xc = tape.emit(f"min(max({x.name}, {_EXP_LOW!r}), {_EXP_HIGH!r})")
    # k as a whole double (``_floor``): numba's math.floor returns an int64, whose conversion
    # from and back to double AVX2 has no vector instruction for (eight scalar conversions per
    # 4-lane vector).
    k = tape.emit(f"_floor({xc.name} * {_LOG2E!r} + 0.5)")
    r = tape.emit(f"({xc.name} - {k.name} * {_LN2_HI!r}) - {k.name} * {_LN2_LO!r}")
    poly = _polynomial(tape, r, [1.0 / math.factorial(n) for n in range(_EXP_TERMS + 1)])
    # 2**k for k up to 1024 (2**1024 itself overflows while exp(709.7) does not): as 2 * 2**(k-1)
    # above zero, where k - 1 stays a normal exponent.
    value = tape.emit(f"({poly.name} * 2.0) * _pow2({k.name} - 1.0) if {k.name} > 0.0 "
                      f"else {poly.name} * _pow2({k.name})")
    # Below the smallest normal result 0, above the largest double infinity, NaN stays NaN.
    value = tape.emit(f"0.0 if {x.name} < {_EXP_LOW!r} else {value.name}")
    value = tape.emit(f"math.inf if {x.name} > {_EXP_HIGH!r} else {value.name}")
    return tape.emit(f"{x.name} if {x.name} != {x.name} else {value.name}")


def _polynomial(tape: Tape, x, coefficients):
    """sum of coefficients[n] x**n: the terms from x**_HORNER_TERMS on by Estrin's scheme (pairs
    c0 + c1 x, then pairs of those with x**2, x**4, ...: a chain of dependent multiply-adds
    log2 of the degree long), the lowest by Horner's, whose rounding they dominate. The
    exponential's chain falls from 13 dependent steps to 7, which the core overlaps with other
    work (observe_lanes of PCL-5: 306 to 283 ns per 16 lanes on AVX2); its accuracy is
    Horner's (within 1 unit in the last place where Estrin's throughout reached 2)."""
    high = coefficients[_HORNER_TERMS:]
    terms = [tape.emit(f"{_text(x)} * {c1!r} + {c0!r}") for c0, c1 in zip(high[::2], high[1::2])]
    if len(high) % 2:
        terms.append(tape.emit(f"{high[-1]!r}"))
    power = x
    while len(terms) > 1:
        power = tape.emit(f"{_text(power)} * {_text(power)}")
        paired = [tape.emit(f"{hi.name} * {power.name} + {lo.name}") for lo, hi in zip(terms[::2], terms[1::2])]
        terms = paired + ([terms[-1]] if len(terms) % 2 else [])
    poly = terms[0]
    for c in reversed(coefficients[:_HORNER_TERMS]):
        poly = tape.emit(f"{poly.name} * {_text(x)} + {c!r}")
    return poly


def _log(tape: Tape, x):
    """log(x) for a positive finite x as straight-line arithmetic: x = m 2**e with m in
    [sqrt(1/2), sqrt(2)) read from the double's bits (subnormals scaled by 2**54 first), then
    log m = 2 atanh(s), s = (m - 1) / (m + 1), by its series to s**23 (|s| <= 0.172: the
    remainder is below 3e-17 relative), and e ln 2 added in two parts. Zero, negative,
    infinite and NaN arguments give meaningless values; the caller selects them away."""
    small = tape.emit(f"{x.name} < {_SMALLEST_NORMAL!r}")
    scaled = tape.emit(f"{x.name} * {2.0 ** 54!r} if {small.name} else {x.name}")
    bits = tape.emit(f"_bits({scaled.name})")
    # The exponent field as a double without an integer conversion: 2**52 + field, less 2**52.
    field_ = tape.emit(f"_double((({bits.name} >> 52) & 2047) | {_TWO52_BITS}) - {2.0 ** 52!r}")
    e = tape.emit(f"{field_.name} - 1077.0 if {small.name} else {field_.name} - 1023.0")
    m = tape.emit(f"_double(({bits.name} & {_MANTISSA_MASK}) | {_ONE_BITS})")
    big = tape.emit(f"{m.name} > {math.sqrt(2.0)!r}")
    m = tape.emit(f"{m.name} * 0.5 if {big.name} else {m.name}")
    e = tape.emit(f"{e.name} + 1.0 if {big.name} else {e.name}")
    f = tape.emit(f"{m.name} - 1.0")
    s = tape.emit(f"{f.name} / (2.0 + {f.name})")
    z = tape.emit(f"{s.name} * {s.name}")
    poly = _polynomial(tape, z, [2.0 / (2 * k + 1) for k in range(1, _LOG_TERMS + 1)])
    log_m = tape.emit(f"2.0 * {s.name} + {s.name} * ({z.name} * {poly.name})")
    return tape.emit(f"{e.name} * {_LN2_HI!r} + ({log_m.name} + {e.name} * {_LN2_LO!r})")


def _fractional_power(tape: Tape, x, h):
    """``x ** h`` for any exponent ``h`` (a parameter not known to be a whole number) as
    exp(h log x) in straight-line arithmetic, with the model's compiled ``power``'s exact
    shortcuts for h = 12, 4, 2, 1, 0 and x = 1 and IEEE's answers for x = 0, inf and NaN.
    Within 1e-14 of ``x ** h`` relative where |h log x| <= 40 (a test), against the
    library's half unit: the outputs' tolerance is the solver's, 1e-6. A negative base gives
    NaN, as the library's does for a fractional exponent (the model raises only clipped,
    non-negative quantities to fractional powers)."""
    value = _exp(tape, tape.emit(f"{_text(h)} * {_log(tape, x).name}"))
    xs, hs = x.name, _text(h)
    value = tape.emit(f"math.nan if {xs} < 0.0 else {value.name}")
    value = tape.emit(f"(0.0 if {hs} > 0.0 else math.inf) if {xs} == 0.0 else {value.name}")
    value = tape.emit(f"(math.inf if {hs} > 0.0 else 0.0) if {xs} == math.inf else {value.name}")
    value = tape.emit(f"{xs} if {xs} != {xs} else {value.name}")
    value = tape.emit(f"1.0 if ({xs} == 1.0 or {hs} == 0.0) else {value.name}")
    x2 = tape.emit(f"{xs} * {xs}")
    x4 = tape.emit(f"{x2.name} * {x2.name}")
    value = tape.emit(f"{xs} if {hs} == 1.0 else {value.name}")
    value = tape.emit(f"{x2.name} if {hs} == 2.0 else {value.name}")
    value = tape.emit(f"{x4.name} if {hs} == 4.0 else {value.name}")
    return tape.emit(f"{x4.name} * {x4.name} * {x4.name} if {hs} == 12.0 else {value.name}")


#: The generated source's imports (it also reads the model's ``FASTMATH``), ``_pow2``: 2.0 ** k
#: for a whole k in [-1022, 1023], given as a double, ``_floor``: floor as a double, and
#: ``_bits`` and ``_double``: a double's bits as an int64 and back.
_PREAMBLE = """
import math

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _pow2(typingctx, k):
    def codegen(context, builder, signature, args):
        # k + 2**52 + 1023 is exact and holds k + 1023 in its low mantissa bits; shifted up by
        # 52 they are the exponent field of 2**k. A conversion to a 64-bit integer would do the
        # same, but without AVX-512 it has no vector instruction: LLVM split each such vector
        # into scalars (observe_lanes of PCL-5: 335 to 306 ns per 16 lanes on AVX2).
        i64 = ir.IntType(64)
        biased = builder.bitcast(builder.fadd(args[0], ir.Constant(ir.DoubleType(), 2.0 ** 52 + 1023.0)), i64)
        return builder.bitcast(builder.shl(biased, ir.Constant(i64, 52)), ir.DoubleType())

    return types.float64(types.float64), codegen


@intrinsic
def _floor(typingctx, x):
    def codegen(context, builder, signature, args):
        # LLVM's floor, which stays a double (vroundpd): math.floor's int64 result has no
        # vector conversion on AVX2.
        fn = builder.module.declare_intrinsic("llvm.floor", [ir.DoubleType()])
        return builder.call(fn, [args[0]])

    return types.float64(types.float64), codegen


@intrinsic
def _bits(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _double(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen
"""


class _Loads:
    """A lane array read by the model: ``v[i]`` loads ``NAME[i * LANES + l]`` once."""

    def __init__(self, tape: Tape, array: str, prefix: str, is_param: bool = False):
        self.tape, self.array, self.prefix, self.is_param = tape, array, prefix, is_param
        self.loaded: dict[int, Sym] = {}

    def __getitem__(self, index):
        i = int(index)
        if i not in self.loaded:
            name = f"{self.prefix}{i}"
            self.tape.lines.append(f"{name} = {self.array}[{i} * LANES + l]")
            self.loaded[i] = Sym(self.tape, name, i if self.is_param else None)
        return self.loaded[i]


class _Outputs(list):
    """A list to write into that reads back what was written (``dy[i] += ...``)."""

    def __getitem__(self, index):
        value = super().__getitem__(int(index))
        if value is None:
            raise TypeError(f"entry {int(index)} read before it was written")
        return value

    def __setitem__(self, index, value):
        super().__setitem__(int(index), value)


def _stored(values, array: str) -> list[str]:
    return [f"{array}[{i} * LANES + l] = {_text(v)}" for i, v in enumerate(values) if v is not None]


def _lane_sums_source(lanes: int) -> str:
    """``_lane_sums(a, acc, n)``: acc[l] = sum over i < n of a[i * LANES + l], with one local
    accumulator per lane, which LLVM keeps in vector registers (an ``acc`` array updated in
    the loop is stored and reloaded every time)."""
    sums = range(int(lanes))
    lines = ["@njit(inline='always', error_model='numpy', fastmath=set(FASTMATH))",
             "def _lane_sums(a, acc, n):",
             "    " + " = ".join(f"s{l}" for l in sums) + " = 0.0",
             "    for i in range(n):",
             "        b = i * LANES"]
    lines += [f"        s{l} += a[b + {l}]" for l in sums]
    lines += [f"    acc[{l}] = s{l}" for l in sums]
    return "\n".join(lines) + "\n"


def _lane_spread_source(lanes: int) -> str:
    """``_lane_spread(v, a, n)``: a[i * LANES + l] = v[l] for every i < n, one value per lane
    spread over a whole lane array, so that per-lane factors (each lane's step size) enter
    flat loops that LLVM vectorises. The values are read into locals first: stores into ``a``
    between reads of ``v`` would otherwise keep the loop scalar (LLVM cannot tell the arrays
    apart)."""
    values = range(int(lanes))
    lines = ["@njit(inline='always', error_model='numpy', fastmath=set(FASTMATH))",
             "def _lane_spread(v, a, n):"]
    lines += [f"    v{l} = v[{l}]" for l in values]
    lines += ["    for i in range(n):", "        b = i * LANES"]
    lines += [f"        a[b + {l}] = v{l}" for l in values]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class LaneSource:
    """Generated lane code: ``source`` defines ``rhs_lanes(t, Y, P, U, DY, nl)`` and
    ``observe_lanes(Y, P, OUT, need, nl)`` for ``LANES`` lanes, and ``observe_block_lanes(Y, P, OUT,
    need, nl, nt)`` for ``nt`` output times at once; ``power_exponents`` are the
    parameter indices used as whole-number exponents in the right-hand side."""

    source: str
    power_exponents: tuple[int, ...]


def lane_source(model, lanes: int) -> LaneSource:
    """The lane functions of ``model`` for ``lanes`` lanes, as Python source for numba."""
    from .plain import plain_functions

    n_states, n_outputs = len(model.state_names), len(model.output_names)
    box: list[Tape] = []
    module = plain_functions(model.module, max=sym_max, min=sym_min, math=_MathProxy(box))
    rhs_tape = _traced_rhs(module, box, n_states)
    # observe, one block per group of outputs written together
    groups: dict[tuple[int, ...], tuple[list[int], list[str]]] = {}
    for k in range(n_outputs):
        tape, y, p = _new_tape(box, whole_powers=frozenset(rhs_tape.power_exponents))
        out = _Outputs([None] * n_outputs)
        module.observe(y, p, out, [j == k for j in range(n_outputs)])
        written = tuple(j for j, v in enumerate(out) if v is not None)
        if written in groups:
            groups[written][0].append(k)
            continue
        groups[written] = ([k], tape.lines + _stored(out, "OUT"))

    src = [f"LANES = {int(lanes)}", _PREAMBLE, _lane_sums_source(lanes), "", _lane_spread_source(lanes), "",
           "@njit(cache=True, error_model='numpy', fastmath=set(FASTMATH))",
           "def rhs_lanes(t, Y, P, U, DY, nl):",
           "    for l in range(nl):"]
    src += [f"        {line}" for line in rhs_tape.lines]
    # Without reassociation, which would merge exp's two-part ln 2 and cost up to 200 units in
    # the last place at large arguments; the outputs have no sums for it to speed up.
    src += ["", "", "@njit(cache=True, error_model='numpy', fastmath=set(FASTMATH) - {'reassoc'})",
            "def observe_lanes(Y, P, OUT, need, nl):"]
    src += _observe_groups(groups, "    ")
    # The same for ``nt`` output times at once: their states are rows of ``Y`` (states x LANES
    # each) and their outputs rows of ``OUT`` (outputs x LANES), so that a block of output times
    # costs one call, not one per time.
    src += ["", "", "@njit(cache=True, error_model='numpy', fastmath=set(FASTMATH) - {'reassoc'})",
            "def observe_block_lanes(Y, P, OUT, need, nl, nt):",
            "    for tt in range(nt):",
            f"        ys = tt * {n_states * int(lanes)}",
            f"        os = tt * {n_outputs * int(lanes)}"]
    src += _observe_groups(groups, "        ", _row_offsets)
    src.append("")
    return LaneSource("\n".join(src), tuple(sorted(rhs_tape.power_exponents)))


def _observe_groups(groups: dict, indent: str, edit=lambda line: line) -> list[str]:
    """The body of an observe function: each group of outputs behind its ``need`` flags, as a
    lane loop of its traced lines (each passed through ``edit``), indented by ``indent``."""
    src = []
    for triggers, lines in groups.values():
        cond = " or ".join(f"need[{k}]" for k in triggers)
        src.append(f"{indent}if {cond}:")
        src.append(f"{indent}    for l in range(nl):")
        src += [f"{indent}        {edit(line)}" for line in lines]
    return src


def _row_offsets(line: str) -> str:
    """A line of ``observe_lanes`` for ``observe_block_lanes``: its loads of ``Y`` and stores
    into ``OUT`` offset by the time's row (``ys``, ``os``)."""
    return line.replace("Y[", "Y[ys + ").replace("OUT[", "OUT[os + ")


class _MathProxy:
    """``math`` for traced code: ``exp`` of the tape being written (the last in ``box``)."""

    def __init__(self, box: list):
        self.box = box

    def exp(self, x):
        return _exp(x.tape if isinstance(x, Sym) else self.box[-1], x)

    def __getattr__(self, name):
        raise TypeError(f"math.{name} is not handled by the lane generator")


def _new_tape(box: list, **options):
    """A tape made the one being written (the last in ``box``, which ``math.exp`` writes to),
    with the state and parameter arrays it reads."""
    box.clear()
    tape = Tape(**options)
    box.append(tape)
    return tape, _Loads(tape, "Y", "y"), _Loads(tape, "P", "p", is_param=True)


def _traced_rhs(module, box: list, n_states: int) -> Tape:
    """The tape of ``rhs`` with the derivatives stored into ``DY``."""
    tape, y, p = _new_tape(box)
    u = _Loads(tape, "U", "u")
    dy = _Outputs([None] * n_states)
    module.rhs(Sym(tape, "t"), y, p, u, dy)
    unset = [i for i, v in enumerate(dy) if v is None]
    if unset:
        raise TypeError(f"rhs left the derivative of state {unset[0]} unset")
    tape.lines += _stored(dy, "DY")
    return tape
