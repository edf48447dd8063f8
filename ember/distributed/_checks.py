"""The per-call check: every rank's call gathered and compared, and the argument checks."""
import numpy as _np

from .._tensor import Tensor as _Tensor
from .distributed_c10d import _State, _begin, _end


# ---- argument checks -------------------------------------------------------------------------------------------
_DTYPE_NAMES = {}


def _dtype_code(dt):
    num = dt.num
    if num not in _DTYPE_NAMES:
        _DTYPE_NAMES[num] = dt.name
    return num


def _desc(row):
    """'float32 [4, 3]' from a row of gathered metadata."""
    ndim = int(row[3])
    dims = [int(d) for d in row[5:5 + min(ndim, 6)]]
    shape = ', '.join(map(str, dims)) + (', ...' if ndim > 6 else '')
    return f'{_DTYPE_NAMES.get(int(row[2]), "dtype#" + str(row[2]))} [{shape}]'


def _call(row):
    """'all_reduce(float32 [4, 3])' or 'barrier()': the call a rank made, from its row of gathered metadata."""
    name = _NAMES.get(int(row[0]), f'collective #{int(row[0])}')
    if name == 'exit':
        return 'the end of its script'
    return f'{name}({_desc(row) if row[1] >= 0 else ""})'


# fixed numbers (the same in every process) for the collectives the check names
_CODES = {name: i + 1 for i, name in enumerate((
    'barrier', 'all_reduce', 'broadcast', 'reduce', 'all_gather', 'all_gather_into_tensor', 'gather', 'scatter',
    'reduce_scatter', 'reduce_scatter_tensor', 'all_to_all', 'all_to_all_single', 'broadcast_object_list',
    'all_gather_object', 'gather_object', 'scatter_object_list', 'DistributedDataParallel', 'exit'))}
_NAMES = {v: k for k, v in _CODES.items()}
for _name in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'bool', 'complex64',
              'complex128', 'uint16', 'uint32', 'uint64'):
    _dtype_code(_np.dtype(_name))


def _verify(pg, name, t, arg=-1, match='numel'):
    """Gather every rank's (collective, element count, dtype, shape, argument) and raise the same clear error on
    every rank when they disagree; returns the gathered rows (None when checks are off or the group is one rank).

    ``match``: 'numel' (same element count and dtype everywhere), 'dtype' (same dtype), or None.
    Costs one small allgather; set EMBER_DISTRIBUTED_CHECKS=0 to skip it.
    """
    n = pg.size()
    if n == 1 or not _State.checks:
        return None
    code = _CODES[name]
    if t is not None:
        a = t._data
        shape = a.shape
        dims = shape[:6] + (-1,) * (6 - min(len(shape), 6))
        row = _np.array((code, a.size, _dtype_code(a.dtype), len(shape), arg) + dims, _np.int64)
    else:
        row = _np.array((code, -1, -1, -1, arg) + (-1,) * 6, _np.int64)
    rows = _np.empty((n, 11), _np.int64)
    _begin(name)
    try:
        pg._comm.allgather(row, rows)
    except Exception as e:  # matched with a call that skipped the check (checks off on some rank, or p2p)
        last = (str(e).strip().splitlines() or [''])[-1]
        raise RuntimeError(f'ember.distributed.{name}: the per-call check failed ({type(e).__name__}: {last}); the '
                           f'ranks probably called different collectives, or EMBER_DISTRIBUTED_CHECKS differs between '
                           f'them') from None
    finally:
        _end()
    if (rows == row).all():  # the common case: every rank made the same call
        return rows
    if (rows[:, 0] != code).any():
        calls = ', '.join(f'rank {pg._ranks[i]}: {_call(r)}' for i, r in enumerate(rows))
        raise RuntimeError(f'ember.distributed: the ranks of a group called different collectives ({calls}); '
                           f'every rank must make the same collective calls in the same order')
    if t is not None and match is not None:
        cols = [2] if match == 'dtype' else [1, 2]
        if (rows[:, cols] != rows[0, cols]).any():
            per = ', '.join(f'rank {pg._ranks[i]}: {_desc(r)}' for i, r in enumerate(rows))
            need = 'the same dtype' if match == 'dtype' else 'the same number of elements and the same dtype'
            raise RuntimeError(f'ember.distributed.{name}: the tensors differ across ranks ({per}); every rank '
                               f'must pass {need}')
    if (rows[:, 4] != rows[0, 4]).any():
        per = ', '.join(f'rank {pg._ranks[i]}: {int(a)}' for i, a in enumerate(rows[:, 4]))
        raise RuntimeError(f'ember.distributed.{name}: the ranks disagree on the root rank or reduce op ({per})')
    return rows


def _tensor(t, name, arg='tensor'):
    if not isinstance(t, _Tensor):
        raise TypeError(f"ember.distributed.{name}(): argument '{arg}' must be an ember Tensor, not "
                        f"{type(t).__name__}")
    return t


def _tensors(ts, name, arg, n=None, like=None):
    if not isinstance(ts, (list, tuple)):
        raise TypeError(f"ember.distributed.{name}(): argument '{arg}' must be a list of tensors, not "
                        f"{type(ts).__name__}")
    for t in ts:
        _tensor(t, name, arg)
        if like is not None and t._data.dtype != like._data.dtype:
            raise RuntimeError(f'ember.distributed.{name}(): {arg} holds a {t.dtype} tensor but the input is '
                               f'{like.dtype}; all tensors must have the same dtype')
    if n is not None and len(ts) != n:
        raise RuntimeError(f'ember.distributed.{name}(): {arg} has {len(ts)} tensors; it needs one per rank ({n})')
    return ts


def _root_list(ts, name, arg, tensor, n, mine, role):
    """Check gather's / scatter's list: on the root (``mine``) one tensor per rank, each of ``tensor``'s dtype and
    element count; elsewhere none."""
    if not mine:
        if ts:
            raise ValueError(f'ember.distributed.{name}: {arg} must be given on the {role} rank only')
        return
    _tensors(ts, name, arg, n, like=tensor)
    for i, t in enumerate(ts):
        if t._data.size != tensor._data.size:
            raise RuntimeError(f'ember.distributed.{name}: {arg}[{i}] is {list(t.shape)} but tensor is '
                               f'{list(tensor.shape)}; they must have the same number of elements')
