"""Owner-less array views for compiled code.

numba counts references on the arrays a compiled call is given, atomically (two atomic
operations per array per call), unless the array has no owner. In a hot loop those counts can
cost more than the work: 8 per output time were 7 % of a course in the solver, and two per
value were half the cost of writing a CSV value. A view without its owner costs none; the
caller keeps the array itself alive across the call.
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


@intrinsic
def borrowed(typingctx, arr):
    """``arr`` without its owner: the same data, shape and strides, no meminfo. Passing such a
    view to a compiled call costs no atomic reference count (numba skips counting a null
    meminfo); the caller keeps ``arr`` itself alive across the call."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        src = make_array(arr)(context, builder, value=args[0])
        view = make_array(arr)(context, builder)
        populate_array(view, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize,
                       meminfo=None)
        return view._getvalue()

    return arr(arr), codegen


@intrinsic
def data_pointer(typingctx, arr):
    """The address of ``arr``'s first element, as a typed pointer (``numba.carray`` makes an
    owner-less array of it again). A compiled call given pointers takes them in registers,
    where an array is passed as seven values, most of them on the stack."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        return make_array(arr)(context, builder, value=args[0]).data

    return types.CPointer(arr.dtype)(arr), codegen
