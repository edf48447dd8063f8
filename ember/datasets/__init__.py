"""ember.datasets: Digits (shipped in the package), MNIST and FashionMNIST from local IDX files."""
from .digits import Digits  # noqa: F401
from .mnist import MNIST, FashionMNIST, read_idx  # noqa: F401
from . import transforms  # noqa: F401

__all__ = ['Digits', 'MNIST', 'FashionMNIST', 'read_idx', 'transforms']
