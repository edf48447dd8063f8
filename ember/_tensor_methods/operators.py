"""Tensor's Python operators (+, -, *, @, comparisons, ``t[i]``, ``t[i] = v``, augmented assignment) bound to ops."""
from .._tensor_core import TensorCore
from ..ops import elementwise as E, logic as G, linalg as L, index as I, math_extra as M


class OperatorMethods:
    """Mixed into ember.Tensor. Each operator is the op itself (no extra call); reflected forms take the scalar on
    the left (``2 - x`` is ``rsub(x, 2)``). The augmented forms (``x += y``) are the in-place methods, defined in
    ``inplace.py`` and bound in ``ember/_tensor.py``."""
    __slots__ = ()

    __add__ = __radd__ = E.add
    __sub__ = E.sub
    __rsub__ = E.rsub
    __mul__ = __rmul__ = E.mul
    __truediv__ = E.div
    __rtruediv__ = E.rdiv
    __floordiv__ = E.floor_divide
    __rfloordiv__ = E.rfloordiv
    __mod__ = E.remainder
    __rmod__ = E.rremainder
    __pow__ = E.pow
    __rpow__ = E.rpow
    __matmul__ = L.matmul

    def __rmatmul__(self, other):
        return L.matmul(other, self) if isinstance(other, TensorCore) else NotImplemented

    __neg__ = E.neg
    __pos__ = E.positive
    __abs__ = E.abs
    __invert__ = G.bitwise_not
    __and__ = __rand__ = G.bitwise_and
    __or__ = __ror__ = G.bitwise_or
    __xor__ = __rxor__ = G.bitwise_xor
    __lshift__ = M.bitwise_left_shift
    __rshift__ = M.bitwise_right_shift
    __eq__ = G.eq
    __ne__ = G.ne
    __lt__ = G.lt
    __le__ = G.le
    __gt__ = G.gt
    __ge__ = G.ge
    __hash__ = object.__hash__  # (defining __eq__ would otherwise make tensors unhashable)
    __getitem__ = I.getitem
    __setitem__ = I.setitem_method
