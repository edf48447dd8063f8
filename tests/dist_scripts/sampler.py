"""DistributedSampler across real ranks: every epoch covers the dataset exactly once; prints 'rank R OK sampler'."""
import ember
import ember.distributed as dist
from ember.utils.data import DataLoader, TensorDataset
from ember.utils.data.distributed import DistributedSampler

dist.init_process_group()
r, n = dist.get_rank(), dist.get_world_size()
for size in (4 * n, 4 * n + 1):
    data = TensorDataset(ember.arange(size))
    for drop_last in (False, True):
        sampler = DistributedSampler(data, shuffle=True, seed=3, drop_last=drop_last)  # rank/world from dist
        for epoch in range(2):
            sampler.set_epoch(epoch)
            mine = [int(x) for (batch,) in DataLoader(data, batch_size=3, sampler=sampler) for x in batch]
            every = [None] * n
            dist.all_gather_object(every, mine)
            lengths = {len(e) for e in every}
            assert len(lengths) == 1, f'ranks got different numbers of samples: {lengths}'
            flat = [i for e in every for i in e]
            if size % n == 0 or drop_last:
                assert len(flat) == len(set(flat)), f'an index was seen twice: {sorted(flat)}'
                assert len(flat) == size - size % n if drop_last else size
            if not drop_last:
                assert set(flat) == set(range(size)), f'indices missed: {set(range(size)) - set(flat)}'
                assert len(flat) == -(-size // n) * n
        sampler.set_epoch(0)
        first = list(sampler)
        sampler.set_epoch(1)
        assert list(sampler) != first or size < 3, 'set_epoch did not reshuffle'
print(f'rank {r} OK sampler', flush=True)
dist.destroy_process_group()
