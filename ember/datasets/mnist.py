"""MNIST and FashionMNIST read from local IDX files (gzipped or not); nothing is downloaded."""
import gzip
import os

import numpy as np

from ..utils.data import Dataset

__all__ = ['MNIST', 'FashionMNIST', 'read_idx']

_IDX_TYPES = {0x08: np.dtype('u1'), 0x09: np.dtype('i1'), 0x0B: np.dtype('>i2'), 0x0C: np.dtype('>i4'),
              0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}


def read_idx(path):
    """An IDX file (the MNIST format; ``.gz`` read transparently) as a NumPy array."""
    opener = gzip.open if str(path).endswith('.gz') else open
    try:
        with opener(path, 'rb') as fh:
            raw = fh.read()
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f'{path}: cannot read the IDX file ({e})') from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f'{path}: not an IDX file (bad magic number {raw[:4].hex()})')
    dt, ndim = _IDX_TYPES[raw[2]], raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f'{path}: IDX header is truncated')
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    need = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if len(raw) - head != need:
        raise ValueError(f'{path}: IDX file of shape {shape} needs {need} data bytes but has {len(raw) - head} '
                         f'(truncated or corrupt)')
    arr = np.frombuffer(raw, dt, offset=head).reshape(shape)
    return arr.astype(dt.newbyteorder('='))


class MNIST(Dataset):
    """MNIST handwritten digits from the standard IDX files in a local folder (nothing is downloaded).

    Files (each may also be gzipped, ``.gz``): ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte`` for
    ``train=True``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` otherwise; looked for in ``root``,
    ``root/MNIST/raw`` and ``root/MNIST`` (``FashionMNIST`` for that class), as torchvision lays them out.

    Samples are ``(image, label)`` with ``label`` an int. Without ``transform`` ``image`` is a 1x28x28 float32
    tensor in [0, 1]. With a ``transform``, the transform gets the raw image - a 28x28 uint8 ember tensor (where
    torchvision would give a PIL image) - so ``transforms.Compose([transforms.ToTensor(), transforms.Normalize(
    (0.1307,), (0.3081,))])`` from ``ember.datasets.transforms`` works as it does with torchvision.
    ``data`` (N x 28 x 28 uint8) and ``targets`` (N, int64) hold the whole split.
    """
    classes = ['0 - zero', '1 - one', '2 - two', '3 - three', '4 - four', '5 - five', '6 - six', '7 - seven',
               '8 - eight', '9 - nine']
    _files = {True: ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
              False: ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        from .._creation import tensor
        from .._dtype import int64
        self.root = os.path.expanduser(os.fspath(root))
        self.train, self.transform, self.target_transform = train, transform, target_transform
        images_path, labels_path = (self._find(name, download) for name in self._files[bool(train)])
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f'{images_path}: expected N x rows x cols uint8 images, got shape {images.shape} of '
                             f'{images.dtype}')
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f'{labels_path}: expected {len(images)} labels (one per image), got shape '
                             f'{labels.shape}')
        self._images, self._labels = images, labels.astype(np.int64)
        self.data = tensor(images)
        self.targets = tensor(self._labels, dtype=int64)

    @property
    def _folders(self):
        name = type(self).__name__
        return [self.root, os.path.join(self.root, name, 'raw'), os.path.join(self.root, name)]

    def _find(self, name, download):
        for folder in self._folders:
            for candidate in (name, name + '.gz'):
                path = os.path.join(folder, candidate)
                if os.path.isfile(path):
                    return path
        split = 'train' if self.train else 'test'
        files = ', '.join(n + '[.gz]' for n in self._files[bool(self.train)])
        msg = (f'{type(self).__name__} {split} split: {name} (or {name}.gz) not found. Put {files} in one of: '
               + ', '.join(self._folders) + '.')
        if download:
            msg += ' ember.datasets does not download: fetch the files yourself.'
        raise FileNotFoundError(msg)

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        from .._creation import tensor
        raw, label = self._images[index], int(self._labels[index])
        if self.transform is not None:
            img = self.transform(tensor(raw))
        else:
            img = tensor((raw.astype(np.float32) / 255.0)[None])
        if self.target_transform is not None:
            label = self.target_transform(label)
        return img, label

    def __repr__(self):
        return (f"{type(self).__name__}(split={'train' if self.train else 'test'}, samples={len(self)}, "
                f"root={self.root!r})")


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando's clothing images) from local IDX files; same layout and behaviour as MNIST."""
    classes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
               'Ankle boot']
