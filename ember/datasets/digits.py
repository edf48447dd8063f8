"""Digits: the 8x8 handwritten digits (UCI, as in scikit-learn), shipped in the package, as a map-style dataset."""
import numbers
import os

import numpy as np

from ..utils.data import Dataset

__all__ = ['Digits']

# digits.npz: the 1797 images of scikit-learn's load_digits() as uint8 pixel counts 0..16 (1797x8x8) and their
# labels; 45 KB. Made once with: np.savez_compressed(path, images=d.data.astype(np.uint8).reshape(-1, 8, 8),
# labels=d.target.astype(np.uint8)) for d = sklearn.datasets.load_digits().
DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'digits.npz')


def _load_digits():
    with np.load(DATA_FILE) as f:
        return f['images'], f['labels']


def split_indices(n, test_size, seed):
    """A deterministic (train, test) split of range(n): a seeded permutation, the first part for test."""
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, numbers.Real) and 0 < test_size < 1:
        n_test = int(np.ceil(n * test_size))
    else:
        raise ValueError(f'test_size must be a fraction in (0, 1) or a number of samples, got {test_size!r}')
    if not 0 < n_test < n:
        raise ValueError(f'test_size={test_size!r} leaves an empty train or test split of {n} samples')
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


class Digits(Dataset):
    """The 1797 8x8 handwritten digits of scikit-learn's ``load_digits``, shipped with ember (nothing is downloaded).

    Samples are ``(image, label)``: ``image`` a 1x8x8 float32 tensor with values in [0, 1] (the 0..16 pixel
    counts divided by 16), ``label`` an int in 0..9. ``transform`` gets that tensor and ``target_transform`` the int.
    ``train`` picks one side of a deterministic split: ``test_size`` (a fraction, or a count) of the samples,
    chosen by a permutation seeded with ``seed``, form the test set; the same arguments always give the same split.
    ``root`` is accepted for symmetry with the other datasets and unused.
    """
    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, test_size=0.2, seed=0):
        from .._creation import tensor
        from .._dtype import int64
        pixels, targets = _load_digits()
        images = (pixels.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
        labels = targets.astype(np.int64)
        train_idx, test_idx = split_indices(len(labels), test_size, seed)
        idx = train_idx if train else test_idx
        self.root, self.train = root, train
        self.transform, self.target_transform = transform, target_transform
        self._images, self._labels = images[idx], labels[idx]
        self.data = tensor(self._images)
        self.targets = tensor(self._labels, dtype=int64)

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        from .._creation import tensor
        img, label = tensor(self._images[index]), int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return img, label

    def __repr__(self):
        return f"Digits(split={'train' if self.train else 'test'}, samples={len(self)})"
