"""Datasets: map-style and iterable bases, TensorDataset, Subset, Concat/Chain/StackDataset, random_split."""
import bisect
import math
import warnings
from types import GenericAlias

__all__ = ['Dataset', 'IterableDataset', 'TensorDataset', 'Subset', 'ConcatDataset', 'ChainDataset', 'StackDataset',
           'random_split']


class Dataset:
    """A map-style dataset: ``__getitem__(index)`` returns one sample; ``__len__`` its size (for samplers)."""
    __class_getitem__ = classmethod(GenericAlias)

    def __getitem__(self, index):
        raise NotImplementedError(f'{type(self).__name__} must implement __getitem__')

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset read as a stream: ``__iter__`` yields samples.

    With ``num_workers > 0`` every worker iterates its own copy; use ``get_worker_info()`` inside ``__iter__`` to
    give each worker its own shard, or every sample comes out ``num_workers`` times.
    """

    def __iter__(self):
        raise NotImplementedError(f'{type(self).__name__} must implement __iter__')

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are slices along the first dimension of equally long tensors: ``(t0[i], t1[i], ...)``."""

    def __init__(self, *tensors):
        if tensors and any(t.size(0) != tensors[0].size(0) for t in tensors):
            sizes = [t.size(0) for t in tensors]
            raise ValueError(f'Size mismatch between tensors: their first dimensions are {sizes}')
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].size(0) if self.tensors else 0


class StackDataset(Dataset):
    """Zips equally long datasets: samples are tuples (positional datasets) or dicts (keyword datasets)."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError('Supported either ``tuple``- (via ``args``) or ``dict``- (via ``kwargs``) like input/'
                             'output, but both types are given.')
        if not args and not kwargs:
            raise ValueError('At least one dataset should be passed')
        self.datasets = args or kwargs
        parts = list(args) if args else list(kwargs.values())
        self._length = len(parts[0])
        if any(len(d) != self._length for d in parts):
            raise ValueError('Size mismatch between datasets')

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self):
        return self._length


class ConcatDataset(Dataset):
    """The datasets one after another: index ``i`` goes to the dataset whose cumulative range holds it."""

    @staticmethod
    def cumsum(sequence):
        out, total = [], 0
        for d in sequence:
            total += len(d)
            out.append(total)
        return out

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError('datasets should not be an empty iterable')
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError('ConcatDataset does not support IterableDataset')
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError('absolute value of index should not exceed dataset length')
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        if which >= len(self.datasets):
            raise IndexError(f'index {idx} is out of range for ConcatDataset of length {len(self)}')
        return self.datasets[which][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets chained one after another."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError('ChainDataset only supports IterableDataset')
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError('ChainDataset only supports IterableDataset')
            total += len(d)
        return total


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        inner = getattr(self.dataset, '__getitems__', None)
        if callable(inner):
            return inner([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping random subsets of the given lengths, or fractions summing to 1.

    Fractions are floored and the remainder handed out one by one from the first subset on, as PyTorch does.
    The permutation is drawn from ``generator`` (default: ember's default generator, so ``manual_seed`` fixes it).
    """
    from ..._sampling import randperm
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f'Fraction at index {i} is not between 0 and 1')
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f'Length of split at index {i} is 0. This might result in an empty dataset.')
        lengths = sizes
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f'random_split: lengths must be non-negative integers or fractions summing to 1, got '
                         f'{lengths}')
    if sum(lengths) != n:
        raise ValueError(f'Sum of input lengths ({sum(lengths)}) does not equal the length of the input dataset '
                         f'({n})!')
    indices = randperm(sum(lengths), generator=generator).tolist()
    out, offset = [], 0
    for length in lengths:
        length = int(length)
        out.append(Subset(dataset, indices[offset:offset + length]))
        offset += length
    return out
