"""default_collate and default_convert: samples into batched tensors, as torch.utils.data does."""
import collections.abc
import copy

import numpy as np

from ...._creation import as_tensor, tensor
from ...._dtype import float64
from ...._tensor import Tensor, _wrap
from ....ops.shape import stack
from . import worker as _worker

__all__ = ['default_collate', 'default_convert', 'collate', 'default_collate_fn_map']

_ERR = 'default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}'


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(obj, '_fields')


def default_convert(data):
    """NumPy arrays and scalars to tensors, recursively through dicts, named tuples and sequences; else unchanged.

    The collate function a DataLoader uses when automatic batching is off (``batch_size=None``).
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        if isinstance(data, np.ndarray) and data.dtype.kind in 'SaUO':
            return data
        if isinstance(data, np.generic) and data.dtype.kind in 'SaUO':
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        converted = {k: default_convert(v) for k, v in data.items()}
        if isinstance(data, collections.abc.MutableMapping):
            clone = copy.copy(data)
            clone.update(converted)
            return clone
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as PyTorch returns
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        items = [default_convert(d) for d in data]
        if isinstance(data, collections.abc.MutableSequence):
            clone = copy.copy(data)
            for i, d in enumerate(items):
                clone[i] = d
            return clone
        try:
            return type(data)(items)
        except TypeError:
            return items
    return data


def _stack_shared(batch, alloc):
    """In a DataLoader worker: stack same-shape, same-dtype cpu tensors straight into a shared-memory array (the
    batch then reaches the main process without another copy); None where that does not apply."""
    first = batch[0]
    if type(first) is not Tensor or first._device.type != 'cpu':
        return None
    dtype, shape = first._data.dtype, first._data.shape
    for t in batch:
        if type(t) is not Tensor or t._rg or t._device is not first._device or t._data.dtype != dtype \
                or t._data.shape != shape:
            return None
    out = alloc((len(batch),) + shape, dtype)
    if out is None:
        return None
    np.stack([t._data for t in batch], out=out)
    return _wrap(out, first._device)


def _collate_tensor(batch, *, collate_fn_map=None):
    alloc = _worker._batch_alloc
    if alloc is not None:
        out = _stack_shared(batch, alloc)
        if out is not None:
            return out
    return stack(list(batch), 0)


def _collate_ndarray(batch, *, collate_fn_map=None):
    elem = batch[0]
    if elem.dtype.kind in 'SaUO':
        raise TypeError(_ERR.format(elem.dtype))
    return collate([as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def _collate_np_scalar(batch, *, collate_fn_map=None):
    if batch[0].dtype.kind in 'SaUO':
        raise TypeError(_ERR.format(batch[0].dtype))
    return as_tensor(np.stack([np.asarray(b) for b in batch]))


def _collate_float(batch, *, collate_fn_map=None):
    return tensor(list(batch), dtype=float64)


def _collate_int(batch, *, collate_fn_map=None):
    return tensor(list(batch))  # int64, or bool for bools (as PyTorch infers)


def _collate_str(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map = {Tensor: _collate_tensor, np.ndarray: _collate_ndarray, np.generic: _collate_np_scalar,
                          float: _collate_float, int: _collate_int, str: _collate_str, bytes: _collate_str}


def collate(batch, *, collate_fn_map=None):
    """Collate a list of samples, dispatching on the first sample's type through ``collate_fn_map``."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for kind in collate_fn_map:
            if isinstance(elem, kind):
                return collate_fn_map[kind](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        try:
            columns = {key: [d[key] for d in batch] for key in elem}
        except KeyError as e:
            raise KeyError(f'default_collate: sample dicts have different keys (missing {e})') from None
        out = {key: collate(col, collate_fn_map=collate_fn_map) for key, col in columns.items()}
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(out)
            return clone
        try:
            return elem_type(out)
        except TypeError:
            return out
    if _is_namedtuple(elem):
        return elem_type(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence) and not isinstance(elem, (str, bytes)):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError('each element in list of batch should be of equal size')
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [collate(s, collate_fn_map=collate_fn_map) for s in transposed]  # a list, as PyTorch
        items = [collate(s, collate_fn_map=collate_fn_map) for s in transposed]
        if isinstance(elem, collections.abc.MutableSequence):
            try:
                clone = copy.copy(elem)
                for i, d in enumerate(items):
                    clone[i] = d
                return clone
            except TypeError:
                return items
        try:
            return elem_type(items)
        except TypeError:
            return items
    raise TypeError(_ERR.format(elem_type))


def default_collate(batch):
    """Stack a list of samples into a batch, as PyTorch's default_collate.

    Tensors are stacked on a new first dimension; NumPy arrays and scalars become tensors and are stacked; Python
    ints become an int64 tensor (bools a bool tensor), floats a float64 tensor; strings and bytes stay a list;
    dicts, named tuples and sequences are collated field by field (tuples come back as lists, as in PyTorch).
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
