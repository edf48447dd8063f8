"""DataParallel: PyTorch's single-process multi-GPU wrapper; ember runs the module on its one device unchanged."""
from ..modules.module import Module

__all__ = ['DataParallel']


class DataParallel(Module):
    """Accepted so PyTorch code runs: ember does not split batches across GPUs in one process, so this runs
    ``module`` as is (state_dict keys get the 'module.' prefix, as PyTorch's). For several devices or processes
    use DistributedDataParallel with ``ember run``."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
