"""ember.multiprocessing: shared-memory tensors seen across fork/spawn processes, Queue passing, spawn(), Hogwild."""
import pickle

import numpy as np
import pytest

import ember
import ember.multiprocessing as mp


# ---- workers (module level: spawn imports them by name) -------------------------------------------------------------
def _add(t, k):
    t.add_(k)


def _rank_add(rank, t):
    t.narrow(0, rank, 1).add_(rank + 1)


def _from_queue(q, done):
    t = q.get()
    t.mul_(2)
    done.put(bool(t.is_shared()))


def _make_and_send(q):
    t = ember.arange(3.).share_memory_()
    q.put(t)
    q.get()  # wait until the parent has attached, then keep the segment alive until exit


def _send_and_drop(q):
    for i in range(3):
        t = ember.full((4,), float(i)).share_memory_()
        q.put(mp.transfer_ownership(t))
        del t  # the sender keeps nothing: the receiver owns the segment


def _fail(rank):
    if rank == 1:
        raise ValueError('worker one failed on purpose')


def _hogwild(rank, model, x, y, steps):
    ember.manual_seed(rank)
    opt = ember.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()


# ---- tests ---------------------------------------------------------------------------------------------------------
def test_drop_in_for_the_standard_module():
    import multiprocessing
    assert mp.cpu_count() == multiprocessing.cpu_count()
    assert mp.Process is multiprocessing.Process and mp.get_context('spawn').get_start_method() == 'spawn'
    assert 'file_system' in mp.get_all_sharing_strategies()
    mp.set_sharing_strategy('file_system')
    assert mp.get_sharing_strategy() == 'file_system'


def test_share_memory_keeps_values_and_reports_shared():
    t = ember.arange(6.).reshape(2, 3)
    assert not t.is_shared()
    assert t.share_memory_() is t
    assert t.is_shared()
    np.testing.assert_array_equal(t.numpy(), np.arange(6.).reshape(2, 3))
    assert t[1].is_shared()  # views of a shared tensor live in the same segment
    assert ember.zeros(0).share_memory_().is_shared()


def test_plain_pickle_stays_by_value():
    t = ember.ones(3).share_memory_()
    r = pickle.loads(pickle.dumps(t))  # ember.save-style pickling must not depend on the segment
    r.add_(1)
    np.testing.assert_array_equal(t.numpy(), [1, 1, 1])
    assert not r.is_shared()


@pytest.mark.parametrize('method', ['fork', 'spawn'])
def test_two_processes_add_into_shared_tensor(method):
    t = ember.zeros(4).share_memory_()
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_add, args=(t, k)) for k in (1, 10)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    np.testing.assert_array_equal(t.numpy(), [11, 11, 11, 11])


def test_queue_passes_shared_tensor_by_reference():
    ctx = mp.get_context('fork')  # a Queue pickles with either start method
    q, done = ctx.Queue(), ctx.Queue()
    t = ember.tensor([1., 2., 3.]).share_memory_()
    p = ctx.Process(target=_from_queue, args=(q, done))
    p.start()
    q.put(t)
    assert done.get(timeout=120) is True
    p.join(120)
    np.testing.assert_array_equal(t.numpy(), [2, 4, 6])


def test_child_created_shared_tensor_reaches_parent():
    ctx = mp.get_context('fork')
    q = ctx.Queue()
    p = ctx.Process(target=_make_and_send, args=(q,))
    p.start()
    t = q.get(timeout=120)
    assert t.is_shared()
    np.testing.assert_array_equal(t.numpy(), [0, 1, 2])
    q.put('done')
    p.join(120)


def test_transferred_segments_outlive_their_sender():
    import gc
    from ember.multiprocessing import _shared
    ctx = mp.get_context('fork')
    q = ctx.Queue()
    p = ctx.Process(target=_send_and_drop, args=(q,))
    p.start()
    p.join(120)  # the sender is gone before anything is read
    got = [q.get(timeout=120) for _ in range(3)]
    assert [t.tolist() for t in got] == [[float(i)] * 4 for i in range(3)]
    segs = [_shared._segment_of(t._data)[0] for t in got]
    assert all(seg is not None and seg.owner for seg in segs)  # the receiver owns them now
    names = [seg.shm.name for seg in segs]
    del got, segs
    gc.collect()
    assert not any(n in _shared._segments for n in names)  # released and unlinked by the receiver


def test_spawn_runs_ranks_and_joins():
    t = ember.zeros(2).share_memory_()
    assert mp.spawn(_rank_add, args=(t,), nprocs=2) is None
    np.testing.assert_array_equal(t.numpy(), [1, 2])


def test_spawn_reraises_child_error_with_traceback():
    with pytest.raises(mp.ProcessRaisedException, match='worker one failed on purpose') as info:
        mp.spawn(_fail, nprocs=2, start_method='fork')
    assert info.value.error_index == 1


def test_spawn_without_join_returns_context():
    ctx = mp.spawn(_rank_add, args=(ember.zeros(2).share_memory_(),), nprocs=2, join=False, start_method='fork')
    assert len(ctx.pids()) == 2
    while not ctx.join():
        pass


@pytest.mark.parametrize('method', ['fork', 'spawn'])
def test_hogwild_sgd_on_shared_model(method):
    model = ember.nn.Linear(3, 1)
    model.share_memory()
    assert all(p.is_shared() for p in model.parameters())
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((64, 3)), dtype=ember.float32)
    y = x @ ember.tensor([[1.], [-2.], [0.5]]) + 0.3
    before = [p.detach().clone() for p in model.parameters()]
    loss0 = ((model(x) - y) ** 2).mean().item()
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_hogwild, args=(r, model, x, y, 30)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    loss1 = ((model(x) - y) ** 2).mean().item()
    assert all(not np.array_equal(b.numpy(), p.detach().numpy()) for b, p in zip(before, model.parameters()))
    assert loss1 < 0.5 * loss0
