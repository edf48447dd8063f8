"""Small image transforms for ember.datasets: Compose, ToTensor, Normalize, Lambda (torchvision-like, PIL-free)."""
import numpy as np

__all__ = ['Compose', 'ToTensor', 'Normalize', 'Lambda']


class Compose:
    """Apply transforms one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return 'Compose(' + ', '.join(map(repr, self.transforms)) + ')'


class ToTensor:
    """A uint8 image (HxW or HxWxC, an ember tensor or NumPy array) to a float32 CxHxW tensor in [0, 1].

    Float inputs are taken as already scaled and only get the channel dimension / layout change.
    """

    def __call__(self, img):
        from .._creation import tensor
        from .._tensor import Tensor
        arr = img.numpy() if isinstance(img, Tensor) else np.asarray(img)
        if arr.ndim == 2:
            arr = arr[None]
        elif arr.ndim == 3:
            arr = arr.transpose(2, 0, 1)
        else:
            raise ValueError(f'ToTensor expects an HxW or HxWxC image, got shape {arr.shape}')
        out = arr.astype(np.float32)
        if arr.dtype == np.uint8:
            out /= 255.0
        return tensor(np.ascontiguousarray(out))

    def __repr__(self):
        return 'ToTensor()'


class Normalize:
    """``(x - mean) / std`` per channel of a CxHxW tensor."""

    def __init__(self, mean, std):
        self.mean, self.std = tuple(np.atleast_1d(mean).tolist()), tuple(np.atleast_1d(std).tolist())

    def __call__(self, x):
        from .._creation import tensor
        shape = (-1,) + (1,) * (x.ndim - 1)
        mean = tensor(self.mean, dtype=x.dtype).reshape(shape)
        std = tensor(self.std, dtype=x.dtype).reshape(shape)
        return (x - mean) / std

    def __repr__(self):
        return f'Normalize(mean={self.mean}, std={self.std})'


class Lambda:
    """A function as a transform."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)
