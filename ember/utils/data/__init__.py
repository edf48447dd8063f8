"""ember.utils.data: Dataset, DataLoader and samplers, as torch.utils.data."""
from .dataset import (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, ChainDataset,  # noqa: F401
                      StackDataset, random_split)
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,  # noqa: F401
                      WeightedRandomSampler, BatchSampler)
from ._utils.collate import default_collate, default_convert  # noqa: F401
from ._utils.worker import get_worker_info, WorkerInfo  # noqa: F401
from .dataloader import DataLoader  # noqa: F401
from .distributed import DistributedSampler  # noqa: F401
from . import _utils  # noqa: F401

__all__ = ['Dataset', 'IterableDataset', 'TensorDataset', 'Subset', 'ConcatDataset', 'ChainDataset', 'StackDataset',
           'random_split', 'Sampler', 'SequentialSampler', 'RandomSampler', 'SubsetRandomSampler',
           'WeightedRandomSampler', 'BatchSampler', 'default_collate', 'default_convert', 'get_worker_info',
           'WorkerInfo', 'DataLoader', 'DistributedSampler']
