"""Tensor methods of the shape and view ops (ember/ops/shape, shape_extra, storage) and the transpose properties."""
from ..ops import shape as S, shape_extra as SX, storage as ST


class ShapeMethods:
    """Mixed into ember.Tensor: `name = op` binds an op whose parameters are already PyTorch's (no extra call);
    a `def` renames the op's short parameter names (a, b) to the method's PyTorch names."""
    __slots__ = ()

    addbmm = SX.addbmm
    as_strided = ST.as_strided
    storage_offset = ST.storage_offset
    addmv = SX.addmv
    addr = SX.addr
    baddbmm = SX.baddbmm
    chunk = S.chunk
    unsafe_chunk = S.chunk
    broadcast_to = S.broadcast_to
    contiguous = S.contiguous
    diag = S.diag
    diag_embed = SX.diag_embed
    diagflat = SX.diagflat
    diagonal = S.diagonal
    dsplit = SX.dsplit
    expand = S.expand
    flatten = S.flatten
    flip = S.flip
    fliplr = S.fliplr
    flipud = S.flipud
    hsplit = SX.hsplit
    index_fill = SX.index_fill
    kron = SX.kron
    moveaxis = S.movedim
    movedim = S.movedim
    narrow = S.narrow
    permute = S.permute
    ravel = SX.ravel
    repeat = S.repeat
    repeat_interleave = SX.repeat_interleave
    reshape = S.reshape
    roll = S.roll
    rot90 = SX.rot90
    select = S.select

    def split(self, split_size, dim=0):
        return S.split(self, split_size, dim)

    def unsafe_split(self, split_size, dim=0):
        return S.split(self, split_size, dim)

    def unsafe_split_with_sizes(self, split_sizes, dim=0):
        return S.split(self, list(split_sizes), dim)

    split_with_sizes = SX.split_with_sizes
    squeeze = S.squeeze
    sum_to_size = SX.sum_to_size

    def swapaxes(self, axis0, axis1):
        return S.transpose(self, axis0, axis1)

    swapdims = S.transpose
    t = S.t
    take_along_dim = SX.take_along_dim
    tensor_split = S.tensor_split
    tile = SX.tile
    transpose = S.transpose
    tril = S.tril
    triu = S.triu
    unbind = S.unbind
    unflatten = S.unflatten
    unsqueeze = S.unsqueeze
    vdot = SX.vdot
    view = S.view
    vsplit = SX.vsplit

    def view_as(self, other):
        return S.view(self, other.shape)

    def reshape_as(self, other):
        return S.reshape(self, other.shape)

    def expand_as(self, other):
        return S.expand(self, other.shape)

    @property
    def T(self):
        return S.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return S.transpose(self, -2, -1)
