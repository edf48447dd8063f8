"""DistributedSampler: each of num_replicas processes reads its own share of the dataset every epoch."""
import math

from .sampler import Sampler

__all__ = ['DistributedSampler']


class DistributedSampler(Sampler):
    """The indices of rank ``rank`` out of ``num_replicas``: every ``num_replicas``-th index from ``rank`` on.

    Every epoch covers the dataset across ranks: with ``drop_last=False`` the index list is padded by repeating its
    start until it divides evenly (so a few samples appear twice); with ``drop_last=True`` the tail that does not
    divide evenly is dropped instead. With ``shuffle`` the order is a permutation seeded by ``seed + epoch``, the
    same on every rank; call ``set_epoch(epoch)`` before each epoch to get a new one. ``num_replicas`` and ``rank``
    default to the world size and rank of ``ember.distributed``.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            try:
                from ... import distributed as dist
            except ImportError:
                raise RuntimeError('DistributedSampler: pass num_replicas and rank explicitly, or initialise '
                                   'ember.distributed (not available in this installation)') from None
            if not dist.is_initialized():
                raise RuntimeError('DistributedSampler: pass num_replicas and rank explicitly, or call '
                                   'ember.distributed.init_process_group() first')
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if num_replicas < 1:
            raise ValueError(f'num_replicas should be a positive integer, got {num_replicas}')
        if rank >= num_replicas or rank < 0:
            raise ValueError(f'Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]')
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            from ..._sampling import randperm
            from ...backends.random import Generator
            g = Generator().manual_seed(self.seed + self.epoch)
            indices = randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            elif indices:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[:self.total_size]
        if len(indices) != self.total_size:
            raise RuntimeError(f'DistributedSampler: {len(indices)} indices for a total size of {self.total_size}')
        own = indices[self.rank:self.total_size:self.num_replicas]
        return iter(own)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Set the epoch, so shuffling gives a new order (the same on every rank) each epoch."""
        self.epoch = epoch
