"""Collectives on tensors (barrier, all_reduce, broadcast, gathers, scatters, all_to_all) and their buffers."""
import numpy as _np

from .distributed_c10d import ReduceOp, _group, _op, _root
from ._work import _run, _nonmember
from ._checks import _desc, _verify, _tensor, _tensors, _root_list

__all__ = ['barrier', 'monitored_barrier', 'all_reduce', 'broadcast', 'reduce', 'all_gather',
           'all_gather_into_tensor', 'gather', 'scatter', 'reduce_scatter', 'reduce_scatter_tensor', 'all_to_all',
           'all_to_all_single']


# ---- buffers -------------------------------------------------------------------------------------------------------
def _stage(t, direct):
    """A contiguous array the backend can fill in place for tensor t, and a function writing it back (or None)."""
    arr = t._data
    if not direct:  # CUDA tensor, MPI backend: through host memory
        host = _np.ascontiguousarray(arr.get())
        return host, lambda: t._device.xp.copyto(arr, t._device.xp.asarray(host))
    if arr.flags.c_contiguous and arr.flags.writeable:
        return arr, None
    buf = t._device.xp.ascontiguousarray(arr)
    return buf, lambda: t._device.xp.copyto(arr, buf.reshape(arr.shape))


def _src(t, direct):
    """A contiguous array holding tensor t's values, for sending."""
    arr = t._data
    if not direct:
        return _np.ascontiguousarray(arr.get())
    return t._device.xp.ascontiguousarray(arr)


def _flat_out(xp_like, n, dtype, direct):
    xp = xp_like._device.xp if direct else _np
    return xp.empty(n, dtype)


def _concat(ts, direct):
    xp = ts[0]._device.xp if direct else _np
    if not ts:
        return xp.empty(0)
    return xp.concatenate([_src(t, direct).reshape(-1) for t in ts])


def _put(parts_flat, outs):
    """Copy consecutive pieces of a flat array into tensors ``outs`` (bumping their versions)."""
    off = 0
    for o in outs:
        n = o._data.size
        piece = parts_flat[off:off + n].reshape(o._data.shape)
        if o._device.type != 'cpu' and isinstance(piece, _np.ndarray):
            piece = o._device.xp.asarray(piece)
        o._device.xp.copyto(o._data, piece)
        o._bump()
        off += n


def _divide(buf, n):
    if n == 1:
        return
    if buf.dtype.kind == 'f':
        buf /= n
    elif buf.dtype.kind in 'iu':
        buf //= n


def _finish_into(tensor, buf, back, average_over=None):
    """The last step of a collective that wrote ``tensor`` through ``buf`` (a staged copy when ``back`` is set):
    divide for ReduceOp.AVG (``average_over`` ranks), copy back, and bump the version."""
    def finish():
        if average_over is not None:
            _divide(buf, average_over)
        if back is not None:
            back()
        tensor._bump()
    return finish


# ---- collectives ----------------------------------------------------------------------------------------------------
def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of the group has reached this call."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _verify(pg, 'barrier', None)
    return _run('barrier', lambda nb: pg._comm.barrier(nb), None, async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    pg = _group(group)
    if pg is None:
        return None
    if timeout is None:
        return barrier(group)
    w = barrier(group, async_op=True)
    w.wait(timeout)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across the ranks with ``op``; every rank ends with the result, in place."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    op = _op(op)
    _tensor(tensor, 'all_reduce')
    be, direct = pg._for(tensor)
    _verify(pg, 'all_reduce', tensor, op.code)
    buf, back = _stage(tensor, direct)
    finish = _finish_into(tensor, buf, back, pg.size() if op.key == 'avg' else None)
    return _run('all_reduce', lambda nb: be.allreduce(buf, op.key, nb), finish, async_op, [tensor])


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank of the group."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(tensor, 'broadcast')
    root = _root(pg, src, group_src, 'broadcast')
    be, direct = pg._for(tensor)
    _verify(pg, 'broadcast', tensor, root)
    buf, back = _stage(tensor, direct)
    finish = _finish_into(tensor, buf, back)
    return _run('broadcast', lambda nb: be.bcast(buf, root, nb), finish, async_op, [tensor])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce ``tensor`` across the ranks into rank ``dst``'s ``tensor`` (the others' are left as they were)."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    op = _op(op)
    _tensor(tensor, 'reduce')
    root = _root(pg, dst, group_dst, 'reduce')
    be, direct = pg._for(tensor)
    _verify(pg, 'reduce', tensor, root * 16 + op.code)
    mine = pg.rank() == root
    buf, back = _stage(tensor, direct) if mine else (_src(tensor, direct), None)
    finish = _finish_into(tensor, buf, back, pg.size() if op.key == 'avg' else None) if mine else None
    return _run('reduce', lambda nb: be.reduce(buf, op.key, root, nb), finish, async_op, [tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[i]`` with rank i's ``tensor`` on every rank (sizes may differ between ranks)."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(tensor, 'all_gather')
    n = pg.size()
    _tensors(tensor_list, 'all_gather', 'tensor_list', n, like=tensor)
    counts = [t._data.size for t in tensor_list]
    be, direct = pg._for(tensor)
    rows = _verify(pg, 'all_gather', tensor, match='dtype')
    if rows is not None:
        bad = [i for i in range(n) if rows[i, 1] != counts[i]]
        if bad:
            per = ', '.join(f'rank {pg._ranks[i]} sent {_desc(rows[i])} but tensor_list[{i}] is '
                            f'{list(tensor_list[i].shape)}' for i in bad)
            raise RuntimeError(f'ember.distributed.all_gather: the sizes do not match ({per})')
    if counts[pg.rank()] != tensor._data.size:
        raise RuntimeError(f'ember.distributed.all_gather: tensor has {tensor._data.size} elements but '
                           f'tensor_list[{pg.rank()}] (this rank\'s slot) has {counts[pg.rank()]}')
    send = _src(tensor, direct).reshape(-1)
    recv = _flat_out(tensor, sum(counts), tensor._data.dtype, direct)
    even = all(c == send.size for c in counts)
    return _run('all_gather', lambda nb: be.allgather(send, recv, None if even else counts, nb),
                lambda: _put(recv, tensor_list), async_op, tensor_list)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Concatenate (or stack) every rank's ``input_tensor`` into ``output_tensor`` (world_size times larger)."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(output_tensor, 'all_gather_into_tensor', 'output_tensor')
    _tensor(input_tensor, 'all_gather_into_tensor', 'input_tensor')
    n = pg.size()
    if output_tensor._data.size != n * input_tensor._data.size or output_tensor.dtype != input_tensor.dtype:
        raise RuntimeError(f'ember.distributed.all_gather_into_tensor: output_tensor ({list(output_tensor.shape)} '
                           f'{output_tensor.dtype}) must hold world_size={n} times input_tensor '
                           f'({list(input_tensor.shape)} {input_tensor.dtype})')
    be, direct = pg._for(input_tensor)
    _verify(pg, 'all_gather_into_tensor', input_tensor)
    send = _src(input_tensor, direct).reshape(-1)
    out, back = _stage(output_tensor, direct)
    flat = out.reshape(-1)
    finish = _finish_into(output_tensor, out, back)
    return _run('all_gather_into_tensor', lambda nb: be.allgather(send, flat, None, nb), finish, async_op,
                [output_tensor])


_all_gather_base = all_gather_into_tensor


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Collect every rank's ``tensor`` into ``gather_list`` on rank ``dst``."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(tensor, 'gather')
    root = _root(pg, dst, group_dst, 'gather')
    n = pg.size()
    mine = pg.rank() == root
    _root_list(gather_list, 'gather', 'gather_list', tensor, n, mine, 'destination')
    be, direct = pg._for(tensor)
    _verify(pg, 'gather', tensor, root)
    send = _src(tensor, direct).reshape(-1)
    recv = _flat_out(tensor, n * send.size, tensor._data.dtype, direct) if mine else None
    finish = (lambda: _put(recv, gather_list)) if mine else None
    return _run('gather', lambda nb: be.gather(send, recv, root, nb), finish, async_op, gather_list)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank ``src`` sends ``scatter_list[i]`` to rank i, which receives it into ``tensor``."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(tensor, 'scatter')
    root = _root(pg, src, group_src, 'scatter')
    n = pg.size()
    mine = pg.rank() == root
    be, direct = pg._for(tensor)
    _root_list(scatter_list, 'scatter', 'scatter_list', tensor, n, mine, 'source')
    _verify(pg, 'scatter', tensor, root)
    send = _concat(scatter_list, direct) if mine else None
    buf, back = _stage(tensor, direct)
    finish = _finish_into(tensor, buf, back)
    return _run('scatter', lambda nb: be.scatter(send, buf.reshape(-1), root, nb), finish, async_op, [tensor])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input_list[i]`` across the ranks into rank i's ``output``."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    op = _op(op)
    _tensor(output, 'reduce_scatter', 'output')
    n = pg.size()
    _tensors(input_list, 'reduce_scatter', 'input_list', n, like=output)
    counts = [t._data.size for t in input_list]
    if counts[pg.rank()] != output._data.size:
        raise RuntimeError(f'ember.distributed.reduce_scatter: output is {list(output.shape)} but '
                           f'input_list[{pg.rank()}] (this rank\'s part) is {list(input_list[pg.rank()].shape)}')
    be, direct = pg._for(output)
    _verify(pg, 'reduce_scatter', output, op.code, match='dtype')
    send = _concat(input_list, direct)
    buf, back = _stage(output, direct)
    even = len(set(counts)) == 1
    finish = _finish_into(output, buf, back, n if op.key == 'avg' else None)
    return _run('reduce_scatter', lambda nb: be.reduce_scatter(send, buf.reshape(-1), op.key,
                                                                None if even else counts, nb),
                finish, async_op, [output])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` (world_size parts) across the ranks; rank i's ``output`` gets part i."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    op = _op(op)
    _tensor(output, 'reduce_scatter_tensor', 'output')
    _tensor(input, 'reduce_scatter_tensor', 'input')
    n = pg.size()
    if input._data.size != n * output._data.size or input.dtype != output.dtype:
        raise RuntimeError(f'ember.distributed.reduce_scatter_tensor: input ({list(input.shape)} {input.dtype}) '
                           f'must hold world_size={n} times output ({list(output.shape)} {output.dtype})')
    be, direct = pg._for(output)
    _verify(pg, 'reduce_scatter_tensor', output, op.code)
    send = _src(input, direct).reshape(-1)
    buf, back = _stage(output, direct)
    finish = _finish_into(output, buf, back, n if op.key == 'avg' else None)
    return _run('reduce_scatter_tensor', lambda nb: be.reduce_scatter(send, buf.reshape(-1), op.key, None, nb),
                finish, async_op, [output])


_reduce_scatter_base = reduce_scatter_tensor


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Rank i sends ``input_tensor_list[j]`` to rank j, which receives it into ``output_tensor_list[i]``."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    n = pg.size()
    _tensors(input_tensor_list, 'all_to_all', 'input_tensor_list', n)
    _tensors(output_tensor_list, 'all_to_all', 'output_tensor_list', n, like=input_tensor_list[0])
    first = input_tensor_list[0]
    be, direct = pg._for(first)
    _verify(pg, 'all_to_all', first, match='dtype')
    send = _concat(input_tensor_list, direct)
    scounts = [t._data.size for t in input_tensor_list]
    rcounts = [t._data.size for t in output_tensor_list]
    recv = _flat_out(first, sum(rcounts), first._data.dtype, direct)
    return _run('all_to_all', lambda nb: be.alltoall(send, scounts, recv, rcounts, nb),
                lambda: _put(recv, output_tensor_list), async_op, output_tensor_list)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None, async_op=False):
    """all_to_all on one tensor split along dim 0 (evenly, or by the given split sizes)."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(output, 'all_to_all_single', 'output')
    _tensor(input, 'all_to_all_single', 'input')
    n = pg.size()

    def counts(t, splits, what):
        rows = t.shape[0] if t.ndim else 1
        per_row = t._data.size // rows if rows else 0
        if splits is None:
            if rows % n:
                raise RuntimeError(f'ember.distributed.all_to_all_single: {what} has {rows} rows, which do not '
                                   f'split evenly over {n} ranks; pass {what}_split_sizes')
            splits = [rows // n] * n
        splits = [int(s) for s in splits]
        if len(splits) != n or sum(splits) != rows:
            raise RuntimeError(f'ember.distributed.all_to_all_single: {what}_split_sizes {splits} must have {n} '
                               f'entries summing to {rows}')
        return [s * per_row for s in splits]
    sc = counts(input, input_split_sizes, 'input')
    rc = counts(output, output_split_sizes, 'output')
    be, direct = pg._for(input)
    _verify(pg, 'all_to_all_single', input, match='dtype')
    send = _src(input, direct).reshape(-1)
    buf, back = _stage(output, direct)
    finish = _finish_into(output, buf, back)
    return _run('all_to_all_single', lambda nb: be.alltoall(send, sc, buf.reshape(-1), rc, nb), finish, async_op,
                [output])
