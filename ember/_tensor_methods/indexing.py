"""Tensor methods of the indexing ops (ember/ops/index, misc_extra)."""
from ..ops import index as I, misc_extra as MX


class IndexingMethods:
    """Mixed into ember.Tensor: `name = op` binds an op whose parameters are already PyTorch's (no extra call);
    a `def` renames the op's short parameter names (a, b) to the method's PyTorch names."""
    __slots__ = ()

    argwhere = I.argwhere
    gather = I.gather
    index_add = I.index_add
    index_reduce = MX.index_reduce
    index_select = I.index_select
    masked_fill = I.masked_fill
    masked_select = I.masked_select
    nanmedian = MX.nanmedian
    new_empty_strided = MX.new_empty_strided
    nonzero = I.nonzero
    put = MX.put
    scatter = I.scatter
    scatter_add = I.scatter_add
    scatter_reduce = I.scatter_reduce
    take = I.take
    unfold = MX.unfold
