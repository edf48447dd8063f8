"""ember.datasets: Digits (shipped file, checked against scikit-learn's copy), MNIST/FashionMNIST from small IDX files written here, transforms."""
import gzip
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.datasets import Digits, MNIST, FashionMNIST, read_idx, transforms
from ember.utils.data import DataLoader


def _idx(array):
    """IDX bytes for a uint8 array."""
    array = np.asarray(array, dtype=np.uint8)
    head = bytes([0, 0, 0x08, array.ndim]) + b''.join(int(s).to_bytes(4, 'big') for s in array.shape)
    return head + array.tobytes()


def _write_split(folder, prefix, images, labels, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in ((f'{prefix}-images-idx3-ubyte', images), (f'{prefix}-labels-idx1-ubyte', labels)):
        data = _idx(arr)
        if gz:
            (folder / (name + '.gz')).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def _fake(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


# ---- Digits ----------------------------------------------------------------------------------------------------
def test_digits_samples_and_split():
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797 and len(test) == 360
    img, label = train[0]
    assert img.shape == (1, 8, 8) and img.dtype == ember.float32 and isinstance(label, int)
    assert 0.0 <= train.data.min().item() and train.data.max().item() <= 1.0
    assert train.targets.dtype == ember.int64 and set(train.targets.tolist()) == set(range(10))
    again = Digits(train=True)
    assert np.array_equal(again.data.numpy(), train.data.numpy())  # deterministic
    other = Digits(train=True, seed=1)
    assert not np.array_equal(other.targets.numpy(), train.targets.numpy())
    assert len(Digits(train=False, test_size=100)) == 100
    assert len(Digits(train=False, test_size=0.5)) == 899
    # train and test do not overlap and together are the whole set
    got = np.concatenate([train.data.numpy(), test.data.numpy()]).reshape(-1, 64)
    assert len({r.tobytes() for r in got}) == len({r.tobytes() for r in train.data.numpy().reshape(-1, 64)}) + \
        len({r.tobytes() for r in test.data.numpy().reshape(-1, 64)})
    with pytest.raises(ValueError, match='test_size'):
        Digits(test_size=1.5)


def test_shipped_digits_are_scikit_learns():
    import hashlib
    with np.load(ember.datasets.digits.DATA_FILE) as f:
        images, labels = f['images'], f['labels']
    assert images.dtype == np.uint8 and images.shape == (1797, 8, 8) and images.max() == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # the digest of the arrays as made from scikit-learn 1.x's load_digits(); compared directly when it is present
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    assert digest == '87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826'
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return
    d = load_digits()
    assert np.array_equal(images.reshape(-1, 64), d.data) and np.array_equal(labels, d.target)


def test_digits_need_no_scikit_learn():
    code = ("import sys; sys.modules['sklearn'] = None\nfrom ember.datasets import Digits\n"
            "print(len(Digits(train=True)), len(Digits(train=False)))")
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ['1437', '360']


def test_digits_transforms_and_loader():
    ds = Digits(transform=lambda x: x * 2, target_transform=lambda y: y + 100)
    img, label = ds[3]
    assert img.max().item() <= 2.0 and label >= 100
    x, y = next(iter(DataLoader(Digits(), batch_size=16, shuffle=True)))
    assert x.shape == (16, 1, 8, 8) and y.dtype == ember.int64


# ---- MNIST / FashionMNIST --------------------------------------------------------------------------------------
def test_mnist_reads_idx_files_in_root(tmp_path):
    images, labels = _fake(7, 0)
    _write_split(tmp_path, 'train', images, labels)
    _write_split(tmp_path, 't10k', *_fake(3, 1))
    ds = MNIST(tmp_path)
    assert len(ds) == 7 and len(MNIST(tmp_path, train=False)) == 3
    img, label = ds[2]
    assert img.shape == (1, 28, 28) and img.dtype == ember.float32 and isinstance(label, int)
    assert np.allclose(img.numpy()[0], images[2] / 255.0) and label == labels[2]
    assert ds.data.dtype == ember.uint8 and ds.data.shape == (7, 28, 28) and ds.targets.tolist() == labels.tolist()
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 1, 28, 28) and y.tolist() == labels[:4].tolist()


def test_mnist_gz_and_torchvision_layout(tmp_path):
    images, labels = _fake(5, 2)
    _write_split(tmp_path / 'MNIST' / 'raw', 't10k', images, labels, gz=True)
    ds = MNIST(str(tmp_path), train=False)
    assert len(ds) == 5 and ds[4][1] == labels[4]
    _write_split(tmp_path / 'FashionMNIST' / 'raw', 'train', images, labels)
    fashion = FashionMNIST(tmp_path)
    assert len(fashion) == 5 and fashion.classes[0] == 'T-shirt/top'


def test_mnist_transform_gets_uint8_image(tmp_path):
    images, labels = _fake(4, 3)
    _write_split(tmp_path, 'train', images, labels)
    seen = []
    ds = MNIST(tmp_path, transform=lambda im: seen.append(im) or im, target_transform=str)
    img, label = ds[1]
    assert seen[0].dtype == ember.uint8 and seen[0].shape == (28, 28) and label == str(labels[1])
    norm = MNIST(tmp_path, transform=transforms.Compose([transforms.ToTensor(),
                                                         transforms.Normalize((0.1307,), (0.3081,))]))
    x = norm[0][0]
    assert x.shape == (1, 28, 28) and x.dtype == ember.float32
    assert np.allclose(x.numpy(), (images[0][None] / 255.0 - 0.1307) / 0.3081, atol=1e-5)


def test_mnist_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path / 'data')
    msg = str(info.value)
    assert 'train-images-idx3-ubyte' in msg and 'train-labels-idx1-ubyte' in msg
    assert str(tmp_path / 'data' / 'MNIST' / 'raw') in msg
    with pytest.raises(FileNotFoundError, match='t10k-images-idx3-ubyte'):
        FashionMNIST(tmp_path, train=False)


def test_mnist_corrupt_files(tmp_path):
    images, labels = _fake(4, 4)
    _write_split(tmp_path, 'train', images, labels[:3])
    with pytest.raises(ValueError, match='expected 4 labels'):
        MNIST(tmp_path)
    (tmp_path / 'train-images-idx3-ubyte').write_bytes(_idx(images)[:-10])
    with pytest.raises(ValueError, match='truncated'):
        MNIST(tmp_path)
    (tmp_path / 'train-images-idx3-ubyte').write_bytes(b'\x12\x34\x56\x78')
    with pytest.raises(ValueError, match='not an IDX file'):
        read_idx(tmp_path / 'train-images-idx3-ubyte')


def test_to_tensor_layouts():
    hwc = np.full((2, 3, 3), 255, dtype=np.uint8)
    out = transforms.ToTensor()(hwc)
    assert out.shape == (3, 2, 3) and out.max().item() == 1.0
    assert transforms.ToTensor()(ember.zeros(4, 4, dtype=ember.uint8)).shape == (1, 4, 4)
    assert transforms.Lambda(lambda v: v + 1)(1) == 2
