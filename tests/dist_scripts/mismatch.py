"""Ranks making different collective calls: every rank must raise a RuntimeError naming each rank's call, not hang.

Run on 2 ranks. Each case catches the error on every rank, prints it with the time it took to detect, and the group
must still work afterwards (the check ran before any real collective started). Prints 'rank R OK mismatch'.
With argv[1] == 'off' (EMBER_DISTRIBUTED_CHECKS=0), the collectives still work and a mismatch is left to the
watchdog's timeout.
"""
import sys
import time

import ember
import ember.distributed as dist
import ember.nn as nn
from ember.nn.parallel import DistributedDataParallel as DDP


def t3():
    return ember.ones(3)


# (name, rank 0's call, rank 1's call, what the message must name)
CASES = [
    ('all_reduce/broadcast', lambda: dist.all_reduce(t3()), lambda: dist.broadcast(ember.ones(2, 2), 0),
     ['rank 0: all_reduce(float32 [3])', 'rank 1: broadcast(float32 [2, 2])']),
    ('all_reduce/barrier', lambda: dist.all_reduce(t3()), lambda: dist.barrier(),
     ['rank 0: all_reduce(float32 [3])', 'rank 1: barrier()']),
    ('barrier/reduce', lambda: dist.barrier(), lambda: dist.reduce(ember.zeros(4, dtype=ember.int64), 0),
     ['rank 0: barrier()', 'rank 1: reduce(int64 [4])']),
    ('broadcast_object_list/barrier', lambda: dist.broadcast_object_list([1, 2], 0), lambda: dist.barrier(),
     ['rank 0: broadcast_object_list()', 'rank 1: barrier()']),
    ('all_gather_object/all_reduce', lambda: dist.all_gather_object([None, None], 'x'),
     lambda: dist.all_reduce(t3()), ['rank 0: all_gather_object()', 'rank 1: all_reduce(float32 [3])']),
    ('async all_reduce/all_gather_into_tensor', lambda: dist.all_reduce(t3(), async_op=True).wait(),
     lambda: dist.all_gather_into_tensor(ember.zeros(6), t3(), async_op=True).wait(),
     ['rank 0: all_reduce(float32 [3])', 'rank 1: all_gather_into_tensor(float32 [3])']),
    ('DistributedDataParallel/barrier', lambda: DDP(nn.Linear(2, 2)), lambda: dist.barrier(),
     ['rank 0: DistributedDataParallel()', 'rank 1: barrier()']),
]


def main():
    dist.init_process_group(timeout=60)
    r = dist.get_rank()
    assert dist.get_world_size() == 2
    if sys.argv[1:] == ['off']:
        t = ember.ones(3)
        dist.all_reduce(t)
        dist.broadcast(t, 0)
        dist.barrier()
        got = [None, None]
        dist.all_gather_object(got, r)
        assert t.tolist() == [2.0, 2.0, 2.0] and got == [0, 1], (t, got)
        print(f'rank {r} OK checks off', flush=True)
        return
    for name, call0, call1, want in CASES:
        dist.barrier()
        start = time.perf_counter()
        try:
            (call0 if r == 0 else call1)()
        except RuntimeError as e:
            took = time.perf_counter() - start
            msg = str(e)
            assert 'called different collectives' in msg, msg
            for w in want:
                assert w in msg, (w, msg)
            print(f'rank {r} caught {name} in {took * 1000:.1f} ms: {msg}', flush=True)
        else:
            raise AssertionError(f'{name}: the different collectives were not detected on rank {r}')
    t = ember.ones(2)
    dist.all_reduce(t)  # the group still works
    assert t.tolist() == [2.0, 2.0], t
    print(f'rank {r} OK mismatch', flush=True)


if __name__ == '__main__':
    main()
