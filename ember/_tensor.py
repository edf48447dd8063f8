"""ember.Tensor: the core (storage, dtype, device, versions, autograd state) plus one mixin of methods per op family."""
from . import _tensor_core
from ._tensor_core import TensorCore, Size, _wrap
from ._tensor_methods.operators import OperatorMethods
from ._tensor_methods.pointwise import PointwiseMethods
from ._tensor_methods.reductions import ReductionMethods
from ._tensor_methods.shapes import ShapeMethods
from ._tensor_methods.indexing import IndexingMethods
from ._tensor_methods.linalg import LinalgMethods
from ._tensor_methods.inplace import InplaceMethods
from ._tensor_methods.complex import ComplexMethods


class Tensor(TensorCore, OperatorMethods, PointwiseMethods, ReductionMethods, ShapeMethods, IndexingMethods,
             LinalgMethods, InplaceMethods, ComplexMethods):
    """A multi-dimensional array on a device, recording the ops applied to it when it requires grad.

    Where a method is written: storage, type, place, autograd state, conversions and the Python protocol in
    ``ember/_tensor_core.py``; the op methods in ``ember/_tensor_methods/<family>.py`` (operators, pointwise,
    reductions, shapes, indexing, linalg, inplace); below, the methods that reach the tensor extensions (sparse,
    shared memory).
    """
    __slots__ = ()

    # augmented assignment is the in-place method (x += y is x.add_(y))
    __iadd__, __isub__, __imul__ = InplaceMethods.add_, InplaceMethods.sub_, InplaceMethods.mul_
    __itruediv__, __ipow__ = InplaceMethods.div_, InplaceMethods.pow_
    __imod__, __ifloordiv__ = InplaceMethods.remainder_, InplaceMethods.floor_divide_

    # ---- the methods that reach the tensor extensions (sparse, shared memory) ---------------------------------
    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        from .sparse import to_sparse
        return to_sparse(self, sparse_dim, layout=layout)

    def to_sparse_coo(self):
        return self.to_sparse()

    def share_memory_(self):
        """Move the storage into shared memory (cpu), so that worker processes see and make updates in place."""
        from .multiprocessing._shared import share_tensor
        return share_tensor(self)

    def is_shared(self):
        from .multiprocessing._shared import is_shared
        return is_shared(self)

_tensor_core.Tensor = Tensor  # what _wrap (every op's result) creates
__all__ = ['Tensor', 'Size', '_wrap']  # (Size and _wrap are imported from here by the layers above)
