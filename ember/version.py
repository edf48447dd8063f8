"""torch.version's path: the PyTorch API version ember follows, and no CUDA/ROCm build (GPUs go through CuPy)."""
from ._alias import PYTORCH_API_VERSION, TorchVersion

__version__ = TorchVersion(PYTORCH_API_VERSION)
cuda = None
hip = None
debug = False
git_version = 'ember'
