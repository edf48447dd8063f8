"""ember.utils.data: datasets, samplers, collation, DataLoader (single and multi-process) and DistributedSampler."""
import collections
import gc
import math
import multiprocessing
import os
import random
import signal
import time

import numpy as np
import pytest

import ember
from ember.utils.data import (DataLoader, Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset,
                              ChainDataset, StackDataset, random_split, default_collate, default_convert,
                              SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler,
                              BatchSampler, DistributedSampler, get_worker_info)

from conftest import torch, needs_torch

_FORK = 'fork' in multiprocessing.get_all_start_methods()


class WorkerLoader(DataLoader):
    """A DataLoader that starts workers with fork where the platform has it (the default on Linux up to Python
    3.13; 3.14 defaults to forkserver, whose workers would re-import this module and PyTorch, slowly)."""

    def __init__(self, *args, **kwargs):
        if kwargs.get('num_workers') and _FORK:
            kwargs.setdefault('multiprocessing_context', 'fork')
        super().__init__(*args, **kwargs)


# ---- datasets used by the loader tests (module level, so they also work with the spawn start method) ----------
class Squares(Dataset):
    def __init__(self, n=20):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i, float(i * i)


class WorkerTagged(Dataset):
    """Each sample says which worker loaded it, with that worker's seed and a random draw."""

    def __len__(self):
        return 16

    def __getitem__(self, i):
        info = get_worker_info()
        return {'i': i, 'worker': -1 if info is None else info.id, 'seed': -1 if info is None else info.seed,
                'rand': ember.rand(1).item(), 'np': float(np.random.rand()), 'py': random.random()}


class RangeStream(IterableDataset):
    """0..n-1, split between workers through get_worker_info (as PyTorch's documentation shows)."""

    def __init__(self, n, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        per = int(math.ceil(self.n / info.num_workers))
        return iter(range(info.id * per, min(self.n, (info.id + 1) * per)))

    def __len__(self):
        return self.n


class Failing(Dataset):
    def __init__(self, bad=5, kind='value'):
        self.bad, self.kind = bad, kind

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == self.bad:
            if self.kind == 'key':
                raise KeyError('missing-key')
            if self.kind == 'exit':
                os._exit(3)
            if self.kind == 'kill':
                os.kill(os.getpid(), signal.SIGKILL)
            broken_sample_loader(i)
        return i


def broken_sample_loader(i):
    raise ValueError(f'sample {i} is corrupt')


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(1.5 if i == 1 else 0)
        return i


class Pids(Dataset):
    def __len__(self):
        return 40

    def __getitem__(self, i):
        return os.getpid()


class Unpicklable(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return lambda: i


def _init_fn(worker_id):
    # seen by __getitem__ in the same worker process
    os.environ['EMBER_TEST_WORKER_INIT'] = str(worker_id)


class InitSeen(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return int(os.environ.get('EMBER_TEST_WORKER_INIT', '-1')), get_worker_info().id


Point = collections.namedtuple('Point', 'x y')


# ---- datasets ------------------------------------------------------------------------------------------------
def test_tensor_dataset_and_errors():
    x, y = ember.arange(10).reshape(5, 2), ember.arange(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5
    a, b = ds[3]
    assert a.tolist() == [6, 7] and b.item() == 3
    with pytest.raises(ValueError, match='Size mismatch'):
        TensorDataset(x, ember.arange(4))


def test_subset_concat_stack():
    base = Squares(10)
    sub = Subset(base, [7, 2, 5])
    assert len(sub) == 3 and sub[0] == (7, 49.0) and sub[2] == (5, 25.0)
    assert sub.__getitems__([1, 0]) == [(2, 4.0), (7, 49.0)]
    cat = ConcatDataset([Squares(3), Squares(4)])
    assert len(cat) == 7 and cat[3] == (0, 0.0) and cat[-1] == (3, 9.0) and cat.cumulative_sizes == [3, 7]
    assert (Squares(2) + Squares(2))[2] == (0, 0.0)
    with pytest.raises(ValueError):
        cat[-8]
    with pytest.raises(AssertionError, match='IterableDataset'):
        ConcatDataset([RangeStream(3)])
    st = StackDataset(Squares(3), Squares(3))
    assert st[1] == ((1, 1.0), (1, 1.0))
    assert StackDataset(a=Squares(2), b=Squares(2))[1] == {'a': (1, 1.0), 'b': (1, 1.0)}
    assert list(ChainDataset([RangeStream(2), RangeStream(3)])) == [0, 1, 0, 1, 2]
    assert list(RangeStream(2) + RangeStream(1)) == [0, 1, 0]


def test_dataset_generic_subscript():
    class Typed(Dataset[int]):
        def __getitem__(self, i):
            return i
    assert Typed()[3] == 3


def test_random_split_lengths_fractions_and_generator():
    ds = Squares(11)
    parts = random_split(ds, [0.5, 0.5], generator=ember.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [6, 5]
    idx = parts[0].indices + parts[1].indices
    assert sorted(idx) == list(range(11))
    again = random_split(ds, [0.5, 0.5], generator=ember.Generator().manual_seed(1))
    assert again[0].indices == parts[0].indices
    assert [len(p) for p in random_split(Squares(10), [0.3, 0.3, 0.4])] == [3, 3, 4]
    assert [len(p) for p in random_split(ds, [3, 8])] == [3, 8]
    ember.manual_seed(5)
    a = random_split(ds, [3, 8])[0].indices
    ember.manual_seed(5)
    assert random_split(ds, [3, 8])[0].indices == a
    with pytest.raises(ValueError, match='Sum of input lengths'):
        random_split(ds, [3, 3])


@needs_torch
def test_random_split_sizes_match_torch():
    for n, fr in ((10, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (7, [0.1, 0.2, 0.7]), (101, [0.25] * 4)):
        ours = [len(p) for p in random_split(Squares(n), fr)]
        theirs = [len(p) for p in torch.utils.data.random_split(list(range(n)), fr)]
        assert ours == theirs


# ---- samplers ------------------------------------------------------------------------------------------------
def test_sequential_and_random_sampler():
    assert list(SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    s = RandomSampler(range(10), generator=ember.Generator().manual_seed(3))
    first = list(s)
    assert sorted(first) == list(range(10)) and len(s) == 10
    assert sorted(list(s)) == list(range(10))
    assert list(RandomSampler(range(10), generator=ember.Generator().manual_seed(3))) == first
    ember.manual_seed(0)
    a = list(RandomSampler(range(10)))
    ember.manual_seed(0)
    assert list(RandomSampler(range(10))) == a
    more = list(RandomSampler(range(4), num_samples=10, generator=ember.Generator().manual_seed(0)))
    assert len(more) == 10 and sorted(more[:4]) == [0, 1, 2, 3] and sorted(more[4:8]) == [0, 1, 2, 3]
    rep = list(RandomSampler(range(3), replacement=True, num_samples=2000))
    assert len(rep) == 2000 and set(rep) == {0, 1, 2}
    with pytest.raises(ValueError, match='num_samples should be a positive integer'):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match='replacement should be a boolean'):
        RandomSampler(range(3), replacement=1)


def test_subset_weighted_batch_samplers():
    s = SubsetRandomSampler([10, 20, 30])
    assert sorted(s) == [10, 20, 30] and len(s) == 3
    w = WeightedRandomSampler([0.0, 1.0, 3.0], 400, generator=ember.Generator().manual_seed(0))
    draws = list(w)
    assert len(draws) == 400 and 0 not in draws and draws.count(2) > draws.count(1)
    nr = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False))
    assert sorted(nr) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='1d sequence'):
        WeightedRandomSampler([[1.0, 2.0]], 2)
    b = BatchSampler(SequentialSampler(range(7)), 3, drop_last=False)
    assert list(b) == [[0, 1, 2], [3, 4, 5], [6]] and len(b) == 3
    b = BatchSampler(range(7), 3, drop_last=True)
    assert list(b) == [[0, 1, 2], [3, 4, 5]] and len(b) == 2
    with pytest.raises(ValueError, match='batch_size should be a positive integer'):
        BatchSampler(range(3), 0, False)


# ---- collation -----------------------------------------------------------------------------------------------
def _plain(x):
    """A comparable form of a collated batch: tensors become (dtype name, values)."""
    if isinstance(x, ember.Tensor) or (torch is not None and isinstance(x, torch.Tensor)):
        return (str(x.dtype).split('.')[-1], x.tolist())
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, '_fields'):
        return (type(x).__name__,) + tuple(_plain(v) for v in x)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _batches():
    return [
        [1, 2, 3],
        [1.5, 2.5],
        [True, False],
        [np.float32(1.5), np.float32(2.0)],
        [np.int32(1), np.int32(4)],
        [np.arange(3, dtype=np.float32), np.ones(3, dtype=np.float32)],
        [np.array(2.0), np.array(3.0)],
        ['a', 'b'],
        [b'x', b'y'],
        [{'a': 1, 'b': 2.0}, {'a': 3, 'b': 4.0}],
        [(1, 'x'), (2, 'y')],
        [[1, 2], [3, 4]],
        [Point(1, 2.0), Point(3, 4.0)],
        [{'p': (np.zeros(2), [1, 2])}, {'p': (np.ones(2), [3, 4])}],
    ]


def test_default_collate_outputs():
    out = default_collate([1, 2, 3])
    assert out.dtype == ember.int64 and out.tolist() == [1, 2, 3]
    assert default_collate([1.5, 2.5]).dtype == ember.float64
    assert default_collate([True, False]).dtype == ember.bool
    assert default_collate([np.float32(1), np.float32(2)]).dtype == ember.float32
    t = default_collate([ember.ones(2, 3), ember.zeros(2, 3)])
    assert t.shape == (2, 2, 3)
    assert default_collate([(1, 'x'), (2, 'y')])[1] == ('x', 'y')
    assert isinstance(default_collate([(1, 2), (3, 4)]), list)
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.tolist() == [1, 3]
    od = default_collate([collections.OrderedDict(b=1, a=2)] * 2)
    assert isinstance(od, collections.OrderedDict) and list(od) == ['b', 'a']
    with pytest.raises(RuntimeError, match='equal size'):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match='default_collate: batch must contain'):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match='default_collate: batch must contain'):
        default_collate([np.array(['a']), np.array(['b'])])
    with pytest.raises(RuntimeError):
        default_collate([ember.ones(2), ember.ones(3)])


@needs_torch
def test_default_collate_matches_torch():
    from torch.utils.data import default_collate as tc
    for batch in _batches():
        assert _plain(default_collate(batch)) == _plain(tc(batch)), batch


@needs_torch
def test_default_convert_matches_torch():
    from torch.utils.data import default_convert as tc
    for sample in [np.ones(2), np.float32(2.0), (np.ones(2), 3, 'a'), [np.zeros(1), 2], {'k': np.int64(3)},
                   Point(np.ones(1), 2), 'text', 5, np.array(['a'])]:
        ours, theirs = _plain(default_convert(sample)), _plain(tc(sample))
        if isinstance(sample, np.ndarray) and sample.dtype.kind == 'U':
            assert isinstance(default_convert(sample), np.ndarray)
            continue
        assert ours == theirs, sample


# ---- DataLoader in the main process ------------------------------------------------------------------------
def test_loader_batches_len_drop_last():
    ds = TensorDataset(ember.arange(10).float(), ember.arange(10))
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].dtype == ember.float32
    loader = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(loader) == 2 and len(list(loader)) == 2
    unbatched = list(DataLoader(Squares(3), batch_size=None))
    assert unbatched == [[0, 0.0], [1, 1.0], [2, 4.0]]  # default_convert: tuples become lists, as in PyTorch
    assert [b for b in DataLoader([np.float32(1.0)], batch_size=None)][0].dtype == ember.float32


def test_loader_shuffle_is_seeded():
    ds = Squares(30)
    ember.manual_seed(7)
    a = [b[0].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True)]
    ember.manual_seed(7)
    b = [b[0].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True)]
    assert a == b and sorted(sum(a, [])) == list(range(30)) and sum(a, []) != list(range(30))
    loader = DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(1))
    e1, e2 = [x[0].tolist() for x in loader], [x[0].tolist() for x in loader]
    assert e1 != e2  # a new order each epoch
    loader2 = DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(1))
    assert [x[0].tolist() for x in loader2] == e1


def test_loader_sampler_batch_sampler_collate_fn():
    ds = Squares(10)
    out = list(DataLoader(ds, sampler=[9, 8, 7], batch_size=2))
    assert [b[0].tolist() for b in out] == [[9, 8], [7]]
    out = list(DataLoader(ds, batch_sampler=[[1, 2], [5]]))
    assert [b[0].tolist() for b in out] == [[1, 2], [5]]
    out = list(DataLoader(ds, batch_size=3, collate_fn=lambda b: [s[0] for s in b]))
    assert out[0] == [0, 1, 2]
    assert len(DataLoader(ds, batch_sampler=BatchSampler(range(10), 4, False))) == 3
    assert list(DataLoader(ds, batch_size=2, pin_memory=True))[0][0].tolist() == [0, 1]


def test_loader_option_errors():
    ds = Squares(4)
    with pytest.raises(ValueError, match='mutually exclusive with shuffle'):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match='batch_sampler option is mutually exclusive'):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match='drop_last'):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match='num_workers'):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match='prefetch_factor'):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match='persistent_workers'):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match='timeout'):
        DataLoader(ds, timeout=-1)
    with pytest.raises(ValueError, match='shuffle'):
        DataLoader(RangeStream(3), shuffle=True)
    loader = DataLoader(ds)
    with pytest.raises(ValueError, match='batch_size attribute should not be set'):
        loader.batch_size = 3


def test_iterable_dataset_main_process():
    assert [b.tolist() for b in DataLoader(RangeStream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(DataLoader(RangeStream(7), batch_size=3)) == 3
    assert len(DataLoader(RangeStream(7), batch_size=3, drop_last=True)) == 2
    assert [b.tolist() for b in DataLoader(RangeStream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert list(DataLoader(RangeStream(3), batch_size=None)) == [0, 1, 2]  # default_convert keeps ints


@needs_torch
def test_loader_matches_torch_sequential():
    x = np.arange(24, dtype=np.float32).reshape(12, 2)
    ours = [[t.tolist() for t in b] for b in DataLoader(TensorDataset(ember.tensor(x), ember.arange(12)),
                                                         batch_size=5)]
    theirs = [[t.tolist() for t in b] for b in torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.arange(12)), batch_size=5)]
    assert ours == theirs


# ---- DataLoader with worker processes ------------------------------------------------------------------------
def _epoch(loader):
    return [(b[0].tolist(), b[1].tolist()) for b in loader]


def test_workers_preserve_order():
    ds = Squares(23)
    expected = _epoch(DataLoader(ds, batch_size=3))
    for nw, pf in ((2, 1), (3, 3)):
        assert _epoch(WorkerLoader(ds, batch_size=3, num_workers=nw, prefetch_factor=pf)) == expected
    single = [s[0] for s in WorkerLoader(ds, batch_size=None, num_workers=2)]
    assert single == list(range(23))
    unordered = _epoch(WorkerLoader(ds, batch_size=3, num_workers=2, in_order=False))
    assert sorted(unordered) == sorted(expected)


def test_worker_info_seeds_and_reproducibility():
    assert get_worker_info() is None
    ember.manual_seed(123)
    a = list(WorkerLoader(WorkerTagged(), batch_size=2, num_workers=2))
    ember.manual_seed(123)
    b = list(WorkerLoader(WorkerTagged(), batch_size=2, num_workers=2))
    for key in ('rand', 'np', 'py', 'seed', 'worker'):
        assert [x[key].tolist() for x in a] == [x[key].tolist() for x in b], key
    workers = sum((x['worker'].tolist() for x in a), [])
    assert set(workers) == {0, 1}
    seeds = {w: s for x in a for w, s in zip(x['worker'].tolist(), x['seed'].tolist())}
    assert seeds[1] == seeds[0] + 1
    # random draws differ between workers (each starts from its own seed)
    first0 = [x['rand'].tolist() for x in a if x['worker'][0].item() == 0][0]
    first1 = [x['rand'].tolist() for x in a if x['worker'][0].item() == 1][0]
    assert first0 != first1
    ember.manual_seed(124)
    c = list(WorkerLoader(WorkerTagged(), batch_size=2, num_workers=2))
    assert [x['rand'].tolist() for x in c] != [x['rand'].tolist() for x in a]


def test_worker_init_fn_runs_in_each_worker():
    out = list(WorkerLoader(InitSeen(), batch_size=None, num_workers=2, worker_init_fn=_init_fn))
    assert all(seen == wid for seen, wid in out)
    assert {wid for _, wid in out} == {0, 1}


def test_iterable_dataset_sharding_with_workers():
    got = sorted(sum((b.tolist() for b in WorkerLoader(RangeStream(10), batch_size=2, num_workers=2)), []))
    assert got == list(range(10))
    dup = sorted(sum((b.tolist() for b in WorkerLoader(RangeStream(5, shard=False), batch_size=2, num_workers=2)),
                     []))
    assert dup == sorted(list(range(5)) * 2)  # without sharding each worker yields everything, as in PyTorch
    dropped = list(WorkerLoader(RangeStream(10), batch_size=2, num_workers=2, drop_last=True))
    assert all(len(b) == 2 for b in dropped)


def test_persistent_workers_reuse_processes():
    loader = WorkerLoader(Pids(), batch_size=4, num_workers=2, persistent_workers=True)
    e1 = {p for b in loader for p in b.tolist()}
    it = loader._iterator
    e2 = {p for b in loader for p in b.tolist()}
    assert e1 == e2 and len(e1) == 2 and loader._iterator is it
    # half an epoch, then a new epoch: stale batches are dropped and the new epoch starts from the beginning
    loader2 = WorkerLoader(Squares(20), batch_size=2, num_workers=2, persistent_workers=True)
    half = iter(loader2)
    next(half), next(half)
    assert _epoch(loader2) == _epoch(DataLoader(Squares(20), batch_size=2))
    stream = WorkerLoader(RangeStream(6), batch_size=2, num_workers=2, persistent_workers=True)
    assert sorted(sum((b.tolist() for b in stream), [])) == list(range(6))
    assert sorted(sum((b.tolist() for b in stream), [])) == list(range(6))
    workers = it._workers + half._workers + stream._iterator._workers
    del loader, loader2, it, half, stream
    gc.collect()
    assert not any(w.is_alive() for w in workers)


def test_worker_exception_reraised_with_traceback():
    with pytest.raises(ValueError) as info:
        list(WorkerLoader(Failing(bad=5), batch_size=2, num_workers=2))
    msg = str(info.value)
    assert 'Caught ValueError in DataLoader worker process 0' in msg
    assert 'sample 5 is corrupt' in msg and 'broken_sample_loader' in msg and 'Traceback' in msg
    with pytest.raises(KeyError, match='missing-key'):
        list(WorkerLoader(Failing(bad=2, kind='key'), batch_size=None, num_workers=2))


@pytest.mark.parametrize('kind,code', [('exit', '3'), ('kill', '-9')])
def test_worker_death_raises_clear_error(kind, code):
    loader = WorkerLoader(Failing(bad=4, kind=kind), batch_size=2, num_workers=2)
    it = iter(loader)
    with pytest.raises(RuntimeError, match=rf'DataLoader worker \(pid \d+\) exited unexpectedly with exit code '
                                           rf'{code}') as info:
        list(it)
    if kind == 'kill':
        assert 'SIGKILL' in str(info.value)
    assert not any(w.is_alive() for w in it._workers)


def test_half_epoch_then_delete_joins_workers():
    it = iter(WorkerLoader(Squares(40), batch_size=2, num_workers=2))
    for _ in range(5):
        next(it)
    workers = list(it._workers)
    pids = [w.pid for w in workers]
    assert all(w.is_alive() for w in workers)
    del it
    gc.collect()
    assert not any(w.is_alive() for w in workers)
    assert all(w.exitcode is not None for w in workers)
    assert not {p.pid for p in multiprocessing.active_children()} & set(pids)
    for pid in pids:  # reaped: no zombie left behind
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_full_epoch_shuts_workers_down():
    it = iter(WorkerLoader(Squares(6), batch_size=2, num_workers=2))
    assert len(list(it)) == 3
    assert not any(w.is_alive() for w in it._workers)
    with pytest.raises(StopIteration):
        next(it)


def test_timeout_and_unpicklable_batch():
    with pytest.raises(RuntimeError, match='DataLoader timed out after 0.3 seconds'):
        list(WorkerLoader(Slow(), batch_size=None, num_workers=2, timeout=0.3))
    with pytest.raises(Exception, match='could not be pickled|pickle'):
        list(WorkerLoader(Unpicklable(), batch_size=None, num_workers=1, collate_fn=lambda x: x, timeout=30))


@pytest.mark.skipif(not _FORK, reason='needs the fork start method')
def test_multiprocessing_context_option():
    loader = DataLoader(Squares(4), batch_size=2, num_workers=1, multiprocessing_context='fork')
    assert _epoch(loader) == _epoch(DataLoader(Squares(4), batch_size=2))
    with pytest.raises(ValueError, match='multiprocessing_context'):
        DataLoader(Squares(4), num_workers=1, multiprocessing_context='nonsense')


# ---- DistributedSampler ---------------------------------------------------------------------------------------
@pytest.mark.parametrize('n,replicas,drop_last', [(10, 3, False), (10, 3, True), (9, 3, False), (2, 4, False),
                                                  (11, 4, True)])
def test_distributed_sampler_covers_dataset(n, replicas, drop_last):
    ds = list(range(n))
    parts = [list(DistributedSampler(ds, num_replicas=replicas, rank=r, shuffle=True, seed=3, drop_last=drop_last))
             for r in range(replicas)]
    lens = {len(p) for p in parts}
    assert len(lens) == 1 and lens.pop() == len(DistributedSampler(ds, replicas, 0, drop_last=drop_last))
    flat = sum(parts, [])
    if drop_last:
        assert len(flat) == (n // replicas) * replicas and len(set(flat)) == len(flat)
    else:
        assert set(flat) == set(ds) and len(flat) == math.ceil(n / replicas) * replicas


def test_distributed_sampler_epochs_and_errors():
    s = DistributedSampler(list(range(20)), num_replicas=2, rank=0, seed=1)
    e0 = list(s)
    assert list(s) == e0
    s.set_epoch(1)
    assert list(s) != e0
    other = DistributedSampler(list(range(20)), num_replicas=2, rank=1, seed=1)
    other.set_epoch(1)
    assert not set(list(s)) & set(list(other))
    assert list(DistributedSampler(list(range(5)), num_replicas=2, rank=1, shuffle=False)) == [1, 3, 0]
    with pytest.raises(ValueError, match='Invalid rank 2'):
        DistributedSampler(list(range(5)), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match='num_replicas and rank'):
        DistributedSampler(list(range(5)))
    loader = DataLoader(Squares(10), batch_size=2, sampler=DistributedSampler(Squares(10), 2, 0, shuffle=False))
    assert [b[0].tolist() for b in loader] == [[0, 2], [4, 6], [8]]


@needs_torch
@pytest.mark.parametrize('n,replicas,drop_last', [(10, 3, False), (10, 3, True), (2, 5, False), (13, 4, True)])
def test_distributed_sampler_matches_torch_unshuffled(n, replicas, drop_last):
    from torch.utils.data.distributed import DistributedSampler as TDS
    for r in range(replicas):
        ours = list(DistributedSampler(list(range(n)), replicas, r, shuffle=False, drop_last=drop_last))
        theirs = list(TDS(list(range(n)), replicas, r, shuffle=False, drop_last=drop_last))
        assert ours == theirs


def test_distributed_sampler_defaults_from_process_group(monkeypatch):
    dist = pytest.importorskip('ember.distributed')
    monkeypatch.setattr(dist, 'is_initialized', lambda: True)
    monkeypatch.setattr(dist, 'get_world_size', lambda group=None: 3)
    monkeypatch.setattr(dist, 'get_rank', lambda group=None: 2)
    s = DistributedSampler(list(range(7)), shuffle=False)
    assert (s.num_replicas, s.rank) == (3, 2) and list(s) == [2, 5, 1]
    assert DistributedSampler(list(range(7)), rank=0).num_replicas == 3


# ---- DataLoader workers: batches through shared memory ---------------------------------------------------------
class Images(Dataset):
    """Samples whose batches are big enough to travel through shared memory (an image, a namedtuple holding an
    array) next to small ones that are pickled (the label)."""

    def __init__(self, n=40, fail_at=None, kind='value'):
        self.n, self.fail_at, self.kind = n, fail_at, kind

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            if self.kind == 'kill':
                os.kill(os.getpid(), signal.SIGKILL)
            raise ValueError(f'image {i} is corrupt')
        img = ember.full((3, 64, 64), float(i))  # 48 KB: a batch of 8 is 384 KB
        return {'img': img, 'pt': Point(np.full((128, 64), -i, np.float32), i)}, i


def _dl_segments():
    """The names of this process's DataLoader shared-memory segments in /dev/shm."""
    try:
        names = os.listdir('/dev/shm')
    except OSError:
        pytest.skip('needs a listable /dev/shm')
    return {n for n in names if n.startswith(f'edl{os.getpid():x}_')}


def _segment_name(t):
    from ember.multiprocessing import _shared
    seg, _ = _shared._segment_of(t._data)
    return None if seg is None else seg.shm.name


def _check_images(batches, first=0, bs=8):
    for k, (sample, label) in enumerate(batches):
        ids = np.arange(first + k * bs, first + (k + 1) * bs)
        np.testing.assert_array_equal(sample['img'].numpy()[:, 2, 5, 7], ids.astype(np.float32))
        np.testing.assert_array_equal(sample['pt'].x.numpy()[:, 3, 1], -ids.astype(np.float32))
        assert sample['pt'].y.tolist() == label.tolist() == ids.tolist()


def _twice_collate(batch):
    imgs = default_collate(batch)[0]['img']
    grad = ember.ones(64, 1024, requires_grad=True)  # 256 KB, made by the collate function, not stacked
    return imgs * 2, imgs, imgs[:, 1, ::2], grad, grad


def test_worker_batches_equal_single_process_and_arrive_in_shared_memory():
    before = _dl_segments()
    single = list(DataLoader(Images(), batch_size=8))
    for kwargs in ({}, {'in_order': False}, {'pin_memory': True, 'prefetch_factor': 3}):
        multi = list(WorkerLoader(Images(), batch_size=8, num_workers=2, **kwargs))
        if kwargs.get('in_order', True):
            _check_images(multi)
        key = lambda b: b[1].tolist()  # noqa: E731
        for (s, ls), (m, lm) in zip(sorted(single, key=key), sorted(multi, key=key)):
            np.testing.assert_array_equal(s['img'].numpy(), m['img'].numpy())
            np.testing.assert_array_equal(s['pt'].x.numpy(), m['pt'].x.numpy())
            assert s['pt'].y.tolist() == m['pt'].y.tolist() and ls.tolist() == lm.tolist()
            assert m['img'].dtype == s['img'].dtype and isinstance(m['pt'], Point)
            assert m['img'].is_shared() and m['pt'].x.is_shared()  # large: a mapped segment, not a copy
            assert not lm.is_shared() and not m['pt'].y.is_shared()  # small: pickled
            assert not s['img'].is_shared()
        names = {_segment_name(b[0]['img']) for b in multi}
        assert len(names) == len(multi) and _dl_segments() - before  # alive while the batches are
        del multi, s, m
        gc.collect()
        assert _dl_segments() == before


def test_worker_tensors_made_by_collate_fn_views_and_grads_go_through_shared_memory():
    before = _dl_segments()
    got = list(WorkerLoader(Images(16), batch_size=8, num_workers=2, collate_fn=_twice_collate))
    want = [_twice_collate([Images(16)[i] for i in range(k, k + 8)]) for k in (0, 8)]
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
            assert a.is_shared() and a.requires_grad == b.requires_grad
        assert _segment_name(g[1]) == _segment_name(g[2])  # a view goes as a view of the same segment
        assert g[3] is g[4]  # one tensor, sent once
        assert not g[2].is_contiguous()
    del got, g, a
    gc.collect()
    assert _dl_segments() == before


def test_shared_memory_batches_with_spawn():
    before = _dl_segments()
    x = ember.arange(40 * 4096, dtype=ember.float32).reshape(40, 4096)
    loader = DataLoader(TensorDataset(x, ember.arange(40)), batch_size=10, num_workers=2,
                        multiprocessing_context='spawn')
    got = list(loader)
    assert all(b[0].is_shared() and not b[1].is_shared() for b in got)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in got]), x.numpy())
    assert sum((b[1].tolist() for b in got), []) == list(range(40))
    del got, loader
    gc.collect()
    assert _dl_segments() == before


def test_shared_memory_can_be_switched_off(monkeypatch):
    from ember.utils.data import dataloader
    monkeypatch.setattr(dataloader, '_SHM_MIN_BYTES', None)
    before = _dl_segments()
    got = list(WorkerLoader(Images(16), batch_size=8, num_workers=2))
    _check_images(got)
    assert not any(b[0]['img'].is_shared() for b in got) and _dl_segments() == before


def test_no_shared_memory_left_after_a_full_epoch():
    before = _dl_segments()
    loader = WorkerLoader(Images(), batch_size=8, num_workers=2)
    for sample, label in loader:
        assert sample['img'].is_shared()
    del sample, label, loader
    gc.collect()
    assert _dl_segments() == before


def test_no_shared_memory_left_after_half_an_epoch_then_delete():
    before = _dl_segments()
    it = iter(WorkerLoader(Images(80), batch_size=8, num_workers=2, prefetch_factor=3))
    kept = [next(it) for _ in range(3)]
    assert len(_dl_segments() - before) >= 6  # the kept batches (and any prefetched)
    del it
    gc.collect()
    assert len(_dl_segments() - before) == 6  # the workers are gone: only the batches still held are left
    _check_images(kept)  # and they stay valid
    del kept
    gc.collect()
    assert _dl_segments() == before


@pytest.mark.parametrize('kind', ['value', 'kill'])
def test_no_shared_memory_left_after_a_worker_fails(kind):
    before = _dl_segments()
    loader = WorkerLoader(Images(80, fail_at=43, kind=kind), batch_size=8, num_workers=2)
    got = []
    with pytest.raises(ValueError if kind == 'value' else RuntimeError,
                       match='image 43 is corrupt' if kind == 'value' else 'exited unexpectedly'):
        for b in loader:
            got.append(b)
    # a killed worker can take with it the batches its queue feeder thread had not written yet
    assert len(got) == 5 if kind == 'value' else 3 <= len(got) <= 5
    _check_images(got)
    del got, b, loader
    gc.collect()
    assert _dl_segments() == before


def test_persistent_workers_reuse_their_segments():
    before = _dl_segments()
    loader = WorkerLoader(Images(64), batch_size=8, num_workers=2, persistent_workers=True)
    names = set()
    for epoch in range(3):
        batches = 0
        for k, (sample, label) in enumerate(loader):
            _check_images([(sample, label)], first=8 * k)
            names.add(_segment_name(sample['img']))
            batches += 1
            if epoch == 1 and k == 3:
                break  # half an epoch: the next one starts afresh
    assert len(names) < 2 * 8  # 24 batches, a handful of segments
    del loader, sample, label
    gc.collect()
    assert _dl_segments() == before


def _hold_then_read(q, attached, go, out):
    t = q.get()
    attached.set()
    go.wait(60)
    out.put(t.numpy().copy())


@pytest.mark.skipif(not _FORK, reason='needs the fork start method')
def test_batch_passed_to_another_process_is_not_reused():
    import ember.multiprocessing as emp
    before = _dl_segments()
    ctx = emp.get_context('fork')
    q, out, attached, go = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_then_read, args=(q, attached, go, out))
    p.start()
    loader = WorkerLoader(Images(64), batch_size=8, num_workers=1, persistent_workers=True)
    it = iter(loader)
    sample, _ = next(it)
    expected = sample['img'].numpy().copy()
    q.put(sample['img'])
    assert attached.wait(60)
    del sample
    gc.collect()
    rest = [b[0]['img'].numpy().copy() for b in it]  # segments handed back are written again meanwhile
    go.set()
    np.testing.assert_array_equal(out.get(timeout=60), expected)
    p.join(60)
    assert len(rest) == 7
    del loader, it
    gc.collect()
    assert _dl_segments() == before


def test_batches_are_pickled_when_shared_memory_runs_out(monkeypatch):
    from ember.multiprocessing import _shared

    def full(*args, **kwargs):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(_shared, 'new_segment', full)  # the forked workers inherit it
    before = _dl_segments()
    got = list(WorkerLoader(Images(16), batch_size=8, num_workers=2))
    _check_images(got)
    assert not any(b[0]['img'].is_shared() for b in got) and _dl_segments() == before
