"""Every collective against NumPy's answer, on 1, 2 or 4 ranks; prints 'rank R OK collectives' per rank."""
import numpy as np

import ember
import ember.distributed as dist
from ember.distributed import ReduceOp


def value(rank, shape=(2, 3), dtype='float64'):
    """Rank ``rank``'s test data: distinct per rank, exactly representable."""
    base = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    return (base * (rank + 1) + rank).astype(dtype)


def eq(t, want, what):
    got = t.numpy() if isinstance(t, ember.Tensor) else t
    if got.shape != np.shape(want) or not np.allclose(got, want):
        raise AssertionError(f'{what}: got {got!r}, want {want!r}')


def main():
    dist.init_process_group(backend='mpi')
    r, n = dist.get_rank(), dist.get_world_size()
    assert dist.is_initialized() and dist.get_backend() == 'mpi'
    everyone = [value(k) for k in range(n)]

    # all_reduce: every op, blocking and async, several dtypes, a non-contiguous tensor
    for op, fn in ((ReduceOp.SUM, lambda a: np.sum(a, 0)), (ReduceOp.AVG, lambda a: np.mean(a, 0)),
                   (ReduceOp.MAX, lambda a: np.max(a, 0)), (ReduceOp.MIN, lambda a: np.min(a, 0)),
                   (ReduceOp.PRODUCT, lambda a: np.prod(a, 0))):
        t = ember.tensor(value(r))
        dist.all_reduce(t, op=op)
        eq(t, fn(np.stack(everyone)), f'all_reduce {op}')
        t = ember.tensor(value(r))
        w = dist.all_reduce(t, op=op, async_op=True)
        w.wait()
        assert w.is_completed() and w.is_success()
        eq(t, fn(np.stack(everyone)), f'all_reduce async {op}')
    for dt in ('float32', 'int64', 'int32', 'float16'):
        t = ember.tensor(value(r, dtype=dt))
        dist.all_reduce(t)
        eq(t, np.sum([value(k, dtype=dt) for k in range(n)], 0).astype(dt), f'all_reduce {dt}')
    b = ember.tensor(np.array([r == 0, False, True]))
    dist.all_reduce(b, op=ReduceOp.MAX)
    eq(b, np.array([True, False, True]), 'all_reduce bool')
    t = ember.tensor(value(r, (3, 2))).t()  # non-contiguous view: result lands in place
    dist.all_reduce(t)
    eq(t, np.sum([value(k, (3, 2)) for k in range(n)], 0).T, 'all_reduce non-contiguous')
    s = ember.tensor(float(r))  # 0-d
    dist.all_reduce(s)
    eq(s, np.array(float(sum(range(n)))), 'all_reduce 0-d')

    # broadcast from every source
    for src in range(n):
        t = ember.tensor(value(r))
        dist.broadcast(t, src=src)
        eq(t, value(src), f'broadcast src={src}')
    t = ember.tensor(value(r))
    dist.broadcast(t, src=n - 1, async_op=True).wait()
    eq(t, value(n - 1), 'broadcast async')

    # reduce into dst; others unchanged
    dst = n - 1
    t = ember.tensor(value(r))
    dist.reduce(t, dst=dst, op=ReduceOp.SUM)
    eq(t, np.sum(everyone, 0) if r == dst else value(r), 'reduce')

    # all_gather (list), uneven sizes, into_tensor (cat and stack)
    out = [ember.zeros(2, 3, dtype=ember.float64) for _ in range(n)]
    dist.all_gather(out, ember.tensor(value(r)))
    for k in range(n):
        eq(out[k], value(k), f'all_gather[{k}]')
    out = [ember.zeros(k + 1, dtype=ember.float64) for k in range(n)]
    dist.all_gather(out, ember.arange(r + 1, dtype=ember.float64) + 10 * r)
    for k in range(n):
        eq(out[k], np.arange(k + 1) + 10 * k, f'all_gather uneven[{k}]')
    cat = ember.zeros(2 * n, 3, dtype=ember.float64)
    dist.all_gather_into_tensor(cat, ember.tensor(value(r)))
    eq(cat, np.concatenate(everyone), 'all_gather_into_tensor')
    stk = ember.zeros(n, 2, 3, dtype=ember.float64)
    dist.all_gather_into_tensor(stk, ember.tensor(value(r)), async_op=True).wait()
    eq(stk, np.stack(everyone), 'all_gather_into_tensor stacked')

    # gather / scatter
    gl = [ember.zeros(2, 3, dtype=ember.float64) for _ in range(n)] if r == 0 else None
    dist.gather(ember.tensor(value(r)), gl, dst=0)
    if r == 0:
        for k in range(n):
            eq(gl[k], value(k), f'gather[{k}]')
    t = ember.zeros(2, 3, dtype=ember.float64)
    dist.scatter(t, [ember.tensor(value(k)) for k in range(n)] if r == n - 1 else None, src=n - 1)
    eq(t, value(r), 'scatter')

    # reduce_scatter (list) and reduce_scatter_tensor
    parts = [ember.tensor(value(r) + k) for k in range(n)]
    t = ember.zeros(2, 3, dtype=ember.float64)
    dist.reduce_scatter(t, parts)
    eq(t, np.sum([value(k) + r for k in range(n)], 0), 'reduce_scatter')
    parts = [ember.arange(k + 1, dtype=ember.float64) * (r + 1) for k in range(n)]  # uneven parts
    t = ember.zeros(r + 1, dtype=ember.float64)
    dist.reduce_scatter(t, parts, async_op=True).wait()
    eq(t, np.arange(r + 1) * sum(k + 1 for k in range(n)), 'reduce_scatter uneven')
    big = ember.tensor(np.concatenate([value(r) + k for k in range(n)]))
    t = ember.zeros(2, 3, dtype=ember.float64)
    dist.reduce_scatter_tensor(t, big, op=ReduceOp.AVG)
    eq(t, np.mean([value(k) + r for k in range(n)], 0), 'reduce_scatter_tensor avg')

    # all_to_all and all_to_all_single
    ins = [ember.full((2,), float(100 * r + k), dtype=ember.float64) for k in range(n)]
    outs = [ember.zeros(2, dtype=ember.float64) for _ in range(n)]
    dist.all_to_all(outs, ins)
    for k in range(n):
        eq(outs[k], np.full(2, 100 * k + r), f'all_to_all[{k}]')
    x = ember.tensor(np.array([[100 * r + k] * 3 for k in range(n)], dtype=np.float64))
    y = ember.zeros(n, 3, dtype=ember.float64)
    dist.all_to_all_single(y, x)
    eq(y, np.array([[100 * k + r] * 3 for k in range(n)], dtype=np.float64), 'all_to_all_single')

    # point to point: a ring, blocking and non-blocking
    if n > 1:
        right, left = (r + 1) % n, (r - 1) % n
        got = ember.zeros(2, 3, dtype=ember.float64)
        if r % 2 == 0:
            dist.send(ember.tensor(value(r)), dst=right)
            src = dist.recv(got, src=left)
        else:
            src = dist.recv(got)
            dist.send(ember.tensor(value(r)), dst=right)
        assert src == left, (src, left)
        eq(got, value(left), 'send/recv')
        got = ember.zeros(2, 3, dtype=ember.float64)
        ws = [dist.isend(ember.tensor(value(r)), dst=right, tag=7), dist.irecv(got, src=left, tag=7)]
        for w in ws:
            w.wait()
        eq(got, value(left), 'isend/irecv')
        ops = [dist.P2POp(dist.isend, ember.tensor(value(r)), right), dist.P2POp(dist.irecv, got, left)]
        for w in dist.batch_isend_irecv(ops):
            w.wait()
        eq(got, value(left), 'batch_isend_irecv')

    # objects
    objs = [None] * n
    dist.all_gather_object(objs, {'rank': r})
    assert objs == [{'rank': k} for k in range(n)], objs
    lst = [r, 'x'] if r == 0 else [None, None]
    dist.broadcast_object_list(lst, src=0)
    assert lst == [0, 'x'], lst
    got = [None] * n if r == 0 else None
    dist.gather_object(('g', r), got, dst=0)
    assert r != 0 or got == [('g', k) for k in range(n)], got
    out = [None]
    dist.scatter_object_list(out, [k * 10 for k in range(n)] if r == n - 1 else None, src=n - 1)
    assert out == [r * 10], out
    dist.monitored_barrier(timeout=30)

    # work handles: polling, futures, and a receive from any source
    t = ember.tensor(value(r))
    w = dist.all_reduce(t, async_op=True)
    while not w.is_completed():
        pass
    eq(t, np.sum(everyone, 0), 'all_reduce polled')
    t = ember.tensor(value(r))
    fut = dist.all_reduce(t, async_op=True).get_future()
    eq(fut.wait()[0], np.sum(everyone, 0), 'future')
    if n > 1:
        if r == 1:
            dist.send(ember.tensor(value(r)), dst=0, tag=3)
        elif r == 0:
            got = ember.zeros(2, 3, dtype=ember.float64)
            w = dist.irecv(got, tag=3)
            w.wait()
            assert w.source_rank() == 1, w.source_rank()
            eq(got, value(1), 'irecv from any source')

    # sub-groups: the even ranks, with global src/dst and group=
    evens = list(range(0, n, 2))
    g = dist.new_group(evens)
    if r in evens:
        assert dist.get_rank(g) == evens.index(r) and dist.get_world_size(g) == len(evens)
        t = ember.tensor(value(r))
        dist.all_reduce(t, group=g)
        eq(t, np.sum([value(k) for k in evens], 0), 'all_reduce group')
        t = ember.tensor(value(r))
        dist.broadcast(t, src=evens[-1], group=g)
        eq(t, value(evens[-1]), 'broadcast group')
    else:
        assert dist.get_rank(g) == -1
        assert dist.all_reduce(ember.ones(1), group=g) is None  # not a member: nothing happens
    dist.barrier()
    w = dist.barrier(async_op=True)
    w.wait()

    # mismatched sizes: a clear error on every rank, and the group still works afterwards
    if n > 1:
        try:
            dist.all_reduce(ember.zeros(2 + r))
        except RuntimeError as e:
            assert 'rank 0' in str(e) and 'rank 1' in str(e) and '[2]' in str(e) and '[3]' in str(e), e
        else:
            raise AssertionError('mismatched all_reduce did not raise')
        try:
            dist.broadcast(ember.zeros(3, dtype=ember.float64 if r else ember.float32), src=0)
        except RuntimeError as e:
            assert 'differ across ranks' in str(e), e
        else:
            raise AssertionError('mismatched broadcast did not raise')
        try:
            dist.all_gather([ember.zeros(2) for _ in range(n)], ember.zeros(2 + r))
        except RuntimeError as e:
            assert 'all_gather' in str(e) and 'rank 1' in str(e), e
        else:
            raise AssertionError('mismatched all_gather did not raise')
        try:  # different collectives on different ranks
            (dist.all_reduce if r == 0 else dist.broadcast)(ember.zeros(2))
        except RuntimeError as e:
            assert 'called different collectives' in str(e) and 'all_reduce' in str(e) and 'broadcast' in str(e), e
        else:
            raise AssertionError('different collectives were not detected')
        t = ember.ones(2)
        dist.all_reduce(t)
        eq(t, np.full(2, float(n), np.float32), 'all_reduce after an error')
    print(f'rank {r} OK collectives', flush=True)
    dist.destroy_process_group()
    assert not dist.is_initialized()


if __name__ == '__main__':
    main()
