"""ember.nn layers: Flatten and Unflatten."""
from .module import Module

__all__ = ['Flatten', 'Unflatten']


class Flatten(Module):
    """Flatten dims start_dim..end_dim (default: all but the batch dim) into one."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        nd = max(input.ndim, 1)
        if not (-nd <= self.start_dim < nd and -nd <= self.end_dim < nd):
            raise IndexError(f'{self._get_name()}({self.extra_repr()}) got input of shape {tuple(input.shape)}: '
                             f'dims {self.start_dim}..{self.end_dim} are out of range for a {input.ndim}-D input')
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f'start_dim={self.start_dim}, end_dim={self.end_dim}'


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (a tuple of ints, or of (name, size) pairs)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if isinstance(dim, int):
            if not isinstance(unflattened_size, (tuple, list)) or not all(isinstance(s, int) for s in
                                                                         unflattened_size):
                raise TypeError(f'unflattened_size must be tuple of ints, but found type '
                                f'{type(unflattened_size).__name__}')
        elif isinstance(dim, str):
            if not isinstance(unflattened_size, (tuple, list)):
                raise TypeError('unflattened_size must be a tuple of tuples, but found type '
                                f'{type(unflattened_size).__name__}')
        else:
            raise TypeError(f'invalid argument type for dim parameter: {type(dim).__name__}')
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input):
        sizes = self.unflattened_size
        if isinstance(self.dim, str):
            raise NotImplementedError('named tensors are not supported by ember (Unflatten with a dim name)')
        n = 1
        known = True
        for s in sizes:
            if s == -1:
                known = False
            else:
                n *= s
        nd = input.ndim
        if not -max(nd, 1) <= self.dim < max(nd, 1):
            raise IndexError(f'{self._get_name()}({self.extra_repr()}) got input of shape {tuple(input.shape)}: dim '
                             f'{self.dim} is out of range')
        size = input.shape[self.dim]
        if (known and n != size) or (not known and (n == 0 or size % n)):
            raise RuntimeError(f'{self._get_name()}({self.extra_repr()}) got input of shape {tuple(input.shape)}: '
                               f'dim {self.dim} has size {size}, which cannot be split into {tuple(sizes)}')
        return input.unflatten(self.dim, tuple(sizes))

    def extra_repr(self):
        return f'dim={self.dim}, unflattened_size={self.unflattened_size}'
