"""ember.nn.utils.rnn: pad_sequence, pack_padded_sequence, pad_packed_sequence, pack_sequence, PackedSequence."""
from collections import namedtuple

from ..._tensor import Tensor
from ...ops._util import record, _wrap

__all__ = ['PackedSequence', 'invert_permutation', 'pack_padded_sequence', 'pad_packed_sequence', 'pad_sequence',
           'unpad_sequence', 'pack_sequence', 'unpack_sequence']


# ---- row gather/scatter with unique indices (one recorded op each, each the other's backward) -------------------

def _take_rows(x, idx):
    """x[idx] along dim 0 for a 1-D array of distinct row indices ``idx``."""
    n = x.shape[0]
    return record(x._data[idx], x._device, (x,), 'IndexBackward0', (lambda g: _put_rows(g, idx, n),),
                  holds=True)


def _put_rows(g, idx, n):
    """Zeros of n rows with g's rows placed at ``idx`` (the adjoint of _take_rows)."""
    z = g._device.xp.zeros((n,) + tuple(g.shape[1:]), dtype=g._data.dtype)
    z[idx] = g._data
    return record(z, g._device, (g,), 'IndexPutBackward0', (lambda gg: _take_rows(gg, idx),),
                  holds=True)


def _place_rows(x, idx, n, fill):
    """n rows of ``fill`` with x's rows placed at the distinct row indices ``idx``."""
    xp = x._device.xp
    z = xp.full((n,) + tuple(x.shape[1:]), fill, dtype=x._data.dtype)
    z[idx] = x._data
    return record(z, x._device, (x,), 'PadPackedSequenceBackward0', (lambda g: _take_rows(g, idx),),
                  holds=True)


def _lengths_list(lengths):
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1 or lengths._data.dtype.kind not in 'iu':
            raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.ndim}D "
                               f"{lengths._device} {lengths.dtype.name} tensor")
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def _long(values, device=None):
    from ..._creation import tensor
    from ..._dtype import int64
    return tensor(list(values), dtype=int64)


def invert_permutation(permutation):
    """The permutation that undoes ``permutation`` (None stays None)."""
    if permutation is None:
        return None
    xp = permutation._device.xp
    p = permutation._data
    out = xp.empty_like(p)
    out[p] = xp.arange(p.shape[0], dtype=p.dtype)
    return _wrap(out, permutation._device)


_PackedSequenceBase = namedtuple('PackedSequence_', ['data', 'batch_sizes', 'sorted_indices', 'unsorted_indices'])


class PackedSequence(_PackedSequenceBase):
    """Variable-length sequences packed time-major: ``data`` holds step t's rows for the ``batch_sizes[t]``
    longest sequences; ``sorted_indices`` maps the packed batch order back to the original one."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is not None:
            if isinstance(batch_sizes, Tensor) and batch_sizes._device.type != 'cpu':
                raise ValueError('batch_sizes should always be on CPU. Instances of PackedSequence should never be '
                                 'created manually. They should be instantiated by functions like pack_sequence and '
                                 'pack_padded_sequences in nn.utils.rnn.')
            if not isinstance(batch_sizes, Tensor):
                batch_sizes = _long(batch_sizes)
            return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)
        # PackedSequence(data_and_batch_sizes_tuple) form
        data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _apply_data(self, fn):
        return type(self)(fn(self.data), self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        dev = data.device
        si = self.sorted_indices.to(dev) if self.sorted_indices is not None else None
        ui = self.unsorted_indices.to(dev) if self.unsorted_indices is not None else None
        return type(self)(data, self.batch_sizes, si, ui)

    def cuda(self, *args, **kwargs):
        return self.to('cuda' if not args else args[0])

    def cpu(self, *args, **kwargs):
        return self.to('cpu')

    def double(self):
        return self._apply_data(lambda d: d.double())

    def float(self):
        return self._apply_data(lambda d: d.float())

    def half(self):
        return self._apply_data(lambda d: d.half())

    def long(self):
        return self._apply_data(lambda d: d.long())

    def int(self):
        return self._apply_data(lambda d: d.int())

    def is_pinned(self):
        return False

    @property
    def is_cuda(self):
        return self.data.is_cuda


def _pack_index(lengths, batch, xp):
    """Row indices into a time-major (T * batch) flattening that gather the packed data, and the batch sizes."""
    T = lengths[0] if lengths else 0
    batch_sizes = []
    rows = []
    for t in range(T):
        b = sum(1 for n in lengths if n > t)
        batch_sizes.append(b)
        rows.append(xp.arange(b) + t * batch)
    idx = xp.concatenate(rows) if rows else xp.zeros(0, dtype='int64')
    return idx, batch_sizes


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T x B x *, or B x T x * with batch_first) of sequences with the given lengths."""
    from ...ops.sorting import sort
    if isinstance(lengths, Tensor) and (lengths.ndim != 1 or lengths._data.dtype.kind not in 'iu'):
        raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.ndim}D "
                           f"{lengths._device} {lengths.dtype.name} tensor")
    lens = _lengths_list(lengths)
    bdim = 0 if batch_first else 1
    if input.ndim < 2:
        raise RuntimeError(f'pack_padded_sequence: expected input of at least 2 dimensions (T x B x *), got shape '
                           f'{tuple(input.shape)}')
    B = input.shape[bdim]
    if len(lens) != B:
        raise RuntimeError(f'Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} '
                           f'(batch_size={B})')
    if enforce_sorted:
        if any(lens[i] < lens[i + 1] for i in range(len(lens) - 1)):
            raise RuntimeError('`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. '
                               'You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to '
                               'sidestep this requirement if you do not need ONNX exportability.')
        sorted_indices = None
    else:
        s = sort(_long(lens), descending=True, stable=True)
        lens = [int(v) for v in s.values.tolist()]
        sorted_indices = s.indices
        input = input.index_select(bdim, sorted_indices.to(input.device))
    if any(n <= 0 for n in lens):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    T = input.shape[1 - bdim]
    if lens and lens[0] > T:
        raise RuntimeError(f'pack_padded_sequence: a length of {lens[0]} exceeds the padded sequence length {T} of '
                           f'the input of shape {tuple(input.shape)}')
    if batch_first:
        input = input.transpose(0, 1)
    xp = input._device.xp
    idx, batch_sizes = _pack_index(lens, B, xp)
    flat = input.reshape((T * B,) + tuple(input.shape[2:]))
    data = _take_rows(flat, idx)
    if sorted_indices is not None:
        sorted_indices = sorted_indices.to(input.device)
    return PackedSequence(data, _long(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo pack_padded_sequence: (padded batch, lengths in the original batch order)."""
    data, batch_sizes = sequence.data, sequence.batch_sizes
    bs = [int(b) for b in batch_sizes.tolist()]
    T = len(bs)
    B = bs[0] if bs else 0
    if total_length is not None:
        if total_length < T:
            raise ValueError(f'Expected total_length to be at least the length of the longest sequence in input, but '
                             f'got total_length={total_length} and max sequence length being {T}')
    else:
        total_length = T
    xp = data._device.xp
    # packed row off[t] + b goes to padded position (t, b)
    index = xp.concatenate([xp.arange(b) + t * B for t, b in enumerate(bs)]) if bs else xp.zeros(0, 'int64')
    out = _place_rows(data, index, total_length * B, padding_value)
    out = out.reshape((total_length, B) + tuple(data.shape[1:]))
    lengths = [sum(1 for b in bs if b > i) for i in range(B)]
    ui = sequence.unsorted_indices
    if ui is not None:
        out = out.index_select(1, ui)
        lengths = [lengths[i] for i in ui.tolist()]
    if batch_first:
        out = out.transpose(0, 1)
    return out, _long(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side='right'):
    """Stack sequences of shape (L_i, *) into (T, B, *) (or (B, T, *)), padding each to the longest."""
    from ...ops.shape import cat, stack
    if padding_side not in ('left', 'right'):
        raise RuntimeError(f'Expected padding_side to be one of left or right, but got {padding_side}.')
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError('received an empty list of sequences')
    trail = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if tuple(s.shape[1:]) != trail:
            raise RuntimeError(f'pad_sequence: all sequences must have the same trailing shape {trail}, but sequence '
                               f'{i} has shape {tuple(s.shape)}')
    T = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        n = s.shape[0]
        if n < T:
            fill = s.new_full((T - n,) + trail, padding_value)
            s = cat([s, fill] if padding_side == 'right' else [fill, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of unpadded sequences from a padded batch and its lengths."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:n] for seq, n in zip(padded_sequences.unbind(0), _lengths_list(lengths))]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of variable-length sequences (each L_i x *)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences a PackedSequence holds, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
