"""ember.nn.parallel: DistributedDataParallel (multi-process) and DataParallel (one device), as torch.nn.parallel."""
from .distributed import DistributedDataParallel
from .data_parallel import DataParallel

__all__ = ['DistributedDataParallel', 'DataParallel']
