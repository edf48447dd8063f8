"""Same seed, same numbers: ember's CPU random streams against PyTorch's, bit for bit, and state exchange."""
import numpy as np
import pytest

import ember
from conftest import torch, needs_torch

SEEDS = (0, 1, 12345, 2 ** 33 + 7)


def _np(x):
    if isinstance(x, (tuple, list)):
        return [_np(v) for v in x]
    return x.detach().numpy() if hasattr(x, 'detach') else np.asarray(x)


def _same_draws(fn, seeds=SEEDS):
    """fn(module) gives the same values (bit for bit, same dtype) and leaves the same generator state."""
    for seed in seeds:
        torch.manual_seed(seed)
        ember.manual_seed(seed)
        want, got = _np(fn(torch)), _np(fn(ember))
        want, got = (want, got) if isinstance(want, list) else ([want], [got])
        for w, g in zip(want, got):
            assert g.dtype == w.dtype and g.shape == w.shape, (seed, g.dtype, w.dtype, g.shape, w.shape)
            same = np.array_equal(g.reshape(-1).view(np.uint8), w.reshape(-1).view(np.uint8))
            assert same, (seed, g.ravel()[:6], w.ravel()[:6])
        assert _np(ember.get_rng_state()).tobytes() == _np(torch.get_rng_state()).tobytes(), seed


SIZES = [(), (1,), (3,), (15,), (16,), (17,), (31,), (32,), (33,), (5, 7), (4, 4, 4), (1000,), (4097,), (0,)]


@needs_torch
@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16'])
def test_rand_and_uniform(size, dtype):
    _same_draws(lambda m: m.rand(size, dtype=getattr(m, dtype)))
    _same_draws(lambda m: m.empty(size, dtype=getattr(m, dtype)).uniform_(-0.37, 0.11))
    _same_draws(lambda m: m.rand_like(m.zeros(size, dtype=getattr(m, dtype))))


@needs_torch
@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_randn_and_normal(size, dtype):
    dt = lambda m: getattr(m, dtype)  # noqa: E731
    _same_draws(lambda m: m.randn(size, dtype=dt(m)))
    _same_draws(lambda m: m.empty(size, dtype=dt(m)).normal_(0.5, 2.5))
    _same_draws(lambda m: m.randn_like(m.zeros(size, dtype=dt(m))))
    _same_draws(lambda m: m.normal(-1.0, 0.3, size, dtype=dt(m)))


@needs_torch
@pytest.mark.parametrize('size', [(3,), (15,), (16,), (17,), (33,), (5, 7), (1000,)])
def test_randn_float16(size):
    _same_draws(lambda m: m.randn(size, dtype=m.float16))
    _same_draws(lambda m: m.empty(size, dtype=m.float16).normal_(0.3, 1.7))


@needs_torch
@pytest.mark.parametrize('n', [100000, 100003])
def test_randn_float16_large_exact(n):
    # float16 is the float32 path rounded (libm's float functions would differ by a half-ulp about 1 in 40,000)
    _same_draws(lambda m: m.randn(n, dtype=m.float16), seeds=(0, 1))
    _same_draws(lambda m: m.empty(n, dtype=m.float16).normal_(0.3, 1.7), seeds=(0, 1))


@needs_torch
def test_randn_small_draws_share_the_cached_pair():
    # scalar-path normals cache the sine half of each pair, also across calls and inside the state tensor
    _same_draws(lambda m: [m.randn(1), m.randn(3), m.randn(20), m.randn(1, dtype=m.float64), m.randn(2)])


@needs_torch
def test_normal_tensor_signatures():
    mean = np.arange(20, dtype=np.float32).reshape(4, 5)
    std = np.linspace(0.5, 2, 20, dtype=np.float32).reshape(4, 5)
    _same_draws(lambda m: m.normal(m.tensor(mean), m.tensor(std)))
    _same_draws(lambda m: m.normal(m.tensor(mean), 2.0))
    _same_draws(lambda m: m.normal(1.5, m.tensor(std)))
    _same_draws(lambda m: m.normal(m.tensor(mean[0]), m.tensor(std[0])))


@pytest.mark.parametrize('low,high', [(0, 10), (-5, 7), (0, 2 ** 28 - 1), (0, 2 ** 28), (0, 2 ** 31),
                                      (-2 ** 40, 2 ** 40)])
@needs_torch
def test_randint(low, high):
    _same_draws(lambda m: m.randint(low, high, (37,)))
    _same_draws(lambda m: m.empty(37, dtype=m.int64).random_(low, high))


@needs_torch
def test_randint_like_and_dtypes():
    _same_draws(lambda m: m.randint(10, (3, 4), dtype=m.int32))
    _same_draws(lambda m: m.randint_like(m.zeros(5, 5), 3, 9))


@needs_torch
@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'])
def test_random_(dtype):
    _same_draws(lambda m: m.empty(41, dtype=getattr(m, dtype)).random_())
    if dtype != 'bool':
        _same_draws(lambda m: m.empty(41, dtype=getattr(m, dtype)).random_(7))
    if dtype == 'int64':
        _same_draws(lambda m: m.empty(41, dtype=m.int64).random_(3, None))


@needs_torch
@pytest.mark.parametrize('n', [0, 1, 2, 5, 100, 1000, 5000])
def test_randperm(n):
    _same_draws(lambda m: m.randperm(n))


@needs_torch
@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16'])
def test_bernoulli(dtype):
    p = np.random.RandomState(0).rand(6, 7)
    _same_draws(lambda m: m.empty(300, dtype=getattr(m, dtype)).bernoulli_(0.3))
    _same_draws(lambda m: m.bernoulli(m.tensor(p, dtype=getattr(m, dtype))))
    _same_draws(lambda m: m.bernoulli(m.tensor(p, dtype=getattr(m, dtype)), 0.7))
    _same_draws(lambda m: m.empty(6, 7, dtype=getattr(m, dtype)).bernoulli_(m.tensor(p, dtype=getattr(m, dtype))))


@pytest.mark.parametrize('name,args', [('exponential_', (2.5,)), ('geometric_', (0.3,)), ('log_normal_', (0.7, 0.3)),
                                       ('cauchy_', (0.7, 0.3)), ('exponential_', ()), ('log_normal_', ()),
                                       ('cauchy_', ())])
@needs_torch
@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16'])
def test_other_distributions(name, args, dtype):
    for n in (1, 15, 40, 1001):
        _same_draws(lambda m: getattr(m.empty(n, dtype=getattr(m, dtype)), name)(*args))


@needs_torch
@pytest.mark.parametrize('k,replacement', [(1, False), (3, False), (7, False), (1, True), (10, True)])
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_multinomial(k, replacement, dtype):
    w = np.random.RandomState(1).rand(3, 7)
    _same_draws(lambda m: m.multinomial(m.tensor(w, dtype=getattr(m, dtype)), k, replacement))
    _same_draws(lambda m: m.multinomial(m.tensor(w[0], dtype=getattr(m, dtype)), k, replacement))


@pytest.mark.parametrize('fn,shape', [('dropout', (4, 6, 5, 5)), ('dropout', (17,)), ('dropout2d', (4, 6, 5, 5)),
                                      ('dropout2d', (6, 5, 5)), ('dropout1d', (4, 6, 5)),
                                      ('dropout3d', (2, 4, 3, 3, 3))])
@needs_torch
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_dropout_masks(fn, shape, dtype):
    x = np.random.RandomState(2).randn(*shape)
    _same_draws(lambda m: getattr(m.nn.functional, fn)(m.tensor(x, dtype=getattr(m, dtype)), 0.3))
    _same_draws(lambda m: m.nn.Dropout(0.4)(m.tensor(x, dtype=getattr(m, dtype))))


@needs_torch
@pytest.mark.parametrize('fn', ['alpha_dropout', 'feature_alpha_dropout'])
@pytest.mark.parametrize('p', [0.2, 0.5])
def test_alpha_dropout(fn, p):
    x = np.random.RandomState(3).randn(4, 6, 5).astype(np.float32)
    _same_draws(lambda m: getattr(m.nn.functional, fn)(m.tensor(x), p, True))
    _same_draws(lambda m: m.nn.AlphaDropout(p).train()(m.tensor(x)))


@needs_torch
def test_state_layout_and_exchange():
    ember.manual_seed(7)
    torch.manual_seed(7)
    assert _np(ember.get_rng_state()).tobytes() == _np(torch.get_rng_state()).tobytes()
    ember.rand(5)
    ember.randn(3)  # leaves a cached normal in the state
    st = ember.get_rng_state()
    assert tuple(st.shape) == (5056,) and st.dtype == ember.uint8
    torch.set_rng_state(torch.tensor(_np(st)))  # ember's state into torch
    a, b = torch.randn(25), ember.randn(25)
    assert np.array_equal(_np(a), _np(b))
    torch.rand(700)  # mid-stream, past a twist of the Mersenne state
    ember.set_rng_state(ember.tensor(_np(torch.get_rng_state())))  # torch's state into ember
    assert np.array_equal(_np(torch.randn(5)), _np(ember.randn(5)))
    assert ember.initial_seed() == torch.initial_seed() == 7


@needs_torch
def test_save_restore_mid_stream():
    ember.manual_seed(3)
    ember.rand(1000)
    ember.randn(1)
    st = ember.get_rng_state()
    first = _np(ember.randn(40)).copy(), _np(ember.randperm(10)).copy()
    ember.set_rng_state(st)
    assert np.array_equal(_np(ember.randn(40)), first[0]) and np.array_equal(_np(ember.randperm(10)), first[1])


@needs_torch
def test_generator_objects():
    g, tg = ember.Generator(device='cpu').manual_seed(11), torch.Generator().manual_seed(11)
    assert np.array_equal(_np(ember.rand(20, generator=g)), _np(torch.rand(20, generator=tg)))
    assert np.array_equal(_np(ember.randn(20, generator=g)), _np(torch.randn(20, generator=tg)))
    assert np.array_equal(_np(ember.randperm(9, generator=g)), _np(torch.randperm(9, generator=tg)))
    assert _np(g.get_state()).tobytes() == _np(tg.get_state()).tobytes()
    assert g.initial_seed() == tg.initial_seed() == 11
    g2 = ember.Generator().set_state(tg.get_state())  # a torch Generator's state into an ember Generator
    assert np.array_equal(_np(ember.randn(3, generator=g2)), _np(torch.randn(3, generator=tg)))


@needs_torch
def test_fork_rng():
    ember.manual_seed(4)
    with ember.random.fork_rng():
        ember.rand(10)
    torch.manual_seed(4)
    assert np.array_equal(_np(ember.rand(3)), _np(torch.rand(3)))


def _same_module(build, seeds=(0, 3)):
    """A module built after the same seed has PyTorch's initial parameters bit for bit, and leaves its state."""
    for seed in seeds:
        torch.manual_seed(seed)
        ember.manual_seed(seed)
        want, got = build(torch).state_dict(), build(ember).state_dict()
        assert list(want) == list(got)
        for k in want:
            w, g = _np(want[k]), _np(got[k])
            assert g.dtype == w.dtype and np.array_equal(g, w), (seed, k)
        assert _np(ember.get_rng_state()).tobytes() == _np(torch.get_rng_state()).tobytes(), seed


MODULES = {
    'Linear': lambda m: m.nn.Linear(7, 5), 'Linear-nobias': lambda m: m.nn.Linear(7, 5, bias=False),
    'Bilinear': lambda m: m.nn.Bilinear(3, 4, 5), 'Conv1d': lambda m: m.nn.Conv1d(3, 4, 3),
    'Conv2d-groups': lambda m: m.nn.Conv2d(4, 8, 3, groups=2), 'Conv3d': lambda m: m.nn.Conv3d(2, 3, 2),
    'ConvTranspose2d': lambda m: m.nn.ConvTranspose2d(3, 4, 3), 'Embedding': lambda m: m.nn.Embedding(10, 4, 2),
    'EmbeddingBag': lambda m: m.nn.EmbeddingBag(10, 4),
    'RNN': lambda m: m.nn.RNN(3, 5, num_layers=2, bidirectional=True), 'LSTM': lambda m: m.nn.LSTM(3, 5, 2),
    'LSTM-proj': lambda m: m.nn.LSTM(3, 5, proj_size=2), 'GRU': lambda m: m.nn.GRU(3, 5, batch_first=True),
    'cells': lambda m: m.nn.ModuleList([m.nn.RNNCell(3, 5), m.nn.LSTMCell(3, 5), m.nn.GRUCell(3, 5)]),
    'MultiheadAttention': lambda m: m.nn.MultiheadAttention(8, 2),
    'MultiheadAttention-kdim': lambda m: m.nn.MultiheadAttention(8, 2, kdim=4, vdim=6, add_bias_kv=True),
    'TransformerEncoderLayer': lambda m: m.nn.TransformerEncoderLayer(8, 2, 16),
    'TransformerDecoderLayer': lambda m: m.nn.TransformerDecoderLayer(8, 2, 16),
    'TransformerEncoder': lambda m: m.nn.TransformerEncoder(m.nn.TransformerEncoderLayer(8, 2, 16), 2,
                                                            enable_nested_tensor=False),
    'Transformer': lambda m: m.nn.Transformer(8, 2, 1, 1, 16),
    'norms': lambda m: m.nn.Sequential(m.nn.BatchNorm2d(4), m.nn.LayerNorm(4), m.nn.PReLU(3)),
    'mlp': lambda m: m.nn.Sequential(m.nn.Linear(64, 32), m.nn.ReLU(), m.nn.Dropout(0.2), m.nn.Linear(32, 10)),
}


@needs_torch
@pytest.mark.filterwarnings('ignore::UserWarning')
@pytest.mark.parametrize('name', list(MODULES))
def test_module_initial_parameters(name):
    _same_module(MODULES[name])


INITS = {
    'uniform_': lambda m, t: m.nn.init.uniform_(t, -1, 2), 'normal_': lambda m, t: m.nn.init.normal_(t, 1, 2),
    'xavier_uniform_': lambda m, t: m.nn.init.xavier_uniform_(t, 2.0),
    'xavier_normal_': lambda m, t: m.nn.init.xavier_normal_(t),
    'kaiming_uniform_': lambda m, t: m.nn.init.kaiming_uniform_(t, a=0.2),
    'kaiming_normal_': lambda m, t: m.nn.init.kaiming_normal_(t, mode='fan_out'),
    'trunc_normal_': lambda m, t: m.nn.init.trunc_normal_(t, 0.1, 0.5),
    'trunc_normal_-rejections': lambda m, t: m.nn.init.trunc_normal_(t, 0.0, 1.0, -1.0, 1.0),
    'trunc_normal_-narrow': lambda m, t: m.nn.init.trunc_normal_(t, 0.05, 1.3, -0.2, 0.2),
    'trunc_normal_-tail': lambda m, t: m.nn.init.trunc_normal_(t, 0.0, 1.0, 2.0, 3.0),
    'sparse_': lambda m, t: m.nn.init.sparse_(t, 0.3),
}


@needs_torch
@pytest.mark.parametrize('name', list(INITS))
@pytest.mark.parametrize('shape', [(6, 5), (40, 3), (8, 3, 3, 3)])
def test_init_functions(name, shape):
    if name == 'sparse_' and len(shape) != 2:
        pytest.skip('sparse_ takes 2-D tensors')
    _same_draws(lambda m: INITS[name](m, m.empty(shape)), seeds=(0, 5))


@needs_torch
def test_orthogonal_draws_the_same_gaussian_matrix():
    # the draws (and so the state) match; the QR factorisation itself may round differently from torch's LAPACK
    for shape in [(6, 5), (3, 8)]:
        torch.manual_seed(2)
        ember.manual_seed(2)
        w, g = _np(torch.nn.init.orthogonal_(torch.empty(shape))), _np(ember.nn.init.orthogonal_(ember.empty(shape)))
        np.testing.assert_allclose(g, w, atol=1e-5)
        assert _np(ember.get_rng_state()).tobytes() == _np(torch.get_rng_state()).tobytes()


def _data_ds(m):
    return m.utils.data.TensorDataset(m.arange(23))


ORDERS = {
    'RandomSampler': lambda m: [list(m.utils.data.RandomSampler(range(23))) for _ in range(2)] + [m.rand(2).tolist()],
    'RandomSampler-num_samples': lambda m: [list(m.utils.data.RandomSampler(range(23), num_samples=50))],
    'RandomSampler-replacement': lambda m: [list(m.utils.data.RandomSampler(range(23), replacement=True,
                                                                            num_samples=70))],
    'RandomSampler-generator': lambda m: [list(m.utils.data.RandomSampler(range(23),
                                                                          generator=m.Generator().manual_seed(5)))],
    'DataLoader-shuffle': lambda m: [[b[0].tolist() for b in m.utils.data.DataLoader(_data_ds(m), batch_size=5,
                                                                                      shuffle=True)]
                                     for _ in range(2)] + [m.rand(2).tolist()],
    'DataLoader-generator': lambda m: [[b[0].tolist() for b in m.utils.data.DataLoader(
        _data_ds(m), batch_size=5, shuffle=True, generator=m.Generator().manual_seed(3))] for _ in range(2)]
        + [m.rand(2).tolist()],
    'random_split': lambda m: [list(s.indices) for s in m.utils.data.random_split(range(30), [0.5, 0.3, 0.2])]
        + [m.rand(2).tolist()],
    'random_split-generator': lambda m: [list(s.indices) for s in m.utils.data.random_split(
        range(30), [10, 20], generator=m.Generator().manual_seed(42))],
    'SubsetRandomSampler': lambda m: [list(m.utils.data.SubsetRandomSampler([3, 5, 7, 9, 11]))],
    'WeightedRandomSampler': lambda m: [list(m.utils.data.WeightedRandomSampler([0.1, 0.9, 0.4, 0.3], 12)),
                                        list(m.utils.data.WeightedRandomSampler([0.1, 0.9, 0.4, 0.3], 3, False))],
}


@needs_torch
@pytest.mark.parametrize('name', list(ORDERS))
def test_data_orders(name):
    for seed in (0, 9):
        torch.manual_seed(seed)
        ember.manual_seed(seed)
        assert ORDERS[name](ember) == ORDERS[name](torch)


LAYERS = {
    'LSTM': (lambda m: m.nn.LSTM(4, 6, num_layers=3, dropout=0.4), 1),
    'GRU': (lambda m: m.nn.GRU(4, 6, num_layers=2, dropout=0.4, bidirectional=True), 1),
    'RNN': (lambda m: m.nn.RNN(4, 6, num_layers=2, dropout=0.4), 1),
    'MultiheadAttention': (lambda m: m.nn.MultiheadAttention(4, 2, dropout=0.3), 3),
    'TransformerEncoderLayer': (lambda m: m.nn.TransformerEncoderLayer(4, 2, 8, dropout=0.3), 1),
    'TransformerEncoderLayer-batch_first': (lambda m: m.nn.TransformerEncoderLayer(4, 2, 8, dropout=0.3,
                                                                                   batch_first=True), 1),
    'TransformerDecoderLayer-norm_first': (lambda m: m.nn.TransformerDecoderLayer(4, 2, 8, dropout=0.3,
                                                                                  norm_first=True), 2),
    'Transformer-batch_first': (lambda m: m.nn.Transformer(4, 2, 2, 2, 8, dropout=0.2, batch_first=True), 2),
}


@needs_torch
@pytest.mark.filterwarnings('ignore::UserWarning')
@pytest.mark.parametrize('name', list(LAYERS))
def test_dropout_inside_layers(name):
    """Training-mode forwards drop the same units (the matmuls may round differently, the masks may not)."""
    build, n_inputs = LAYERS[name]
    x = np.random.RandomState(0).randn(7, 3, 4).astype(np.float32)
    outs = []
    for m in (torch, ember):
        m.manual_seed(1)
        layer = build(m).train()
        y = layer(*[m.tensor(x)] * n_inputs)
        outs.append((_np(y[0] if isinstance(y, tuple) else y), _np(m.get_rng_state()).tobytes()))
    (w, ws), (g, gs) = outs
    assert ws == gs
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def _readme_losses(m, steps=101):
    """The README's example loop (seeded random data and weights, manual SGD), its loss at every step."""
    m.manual_seed(0)
    x, y = m.randn(64, 1000), m.randn(64, 10)
    w1 = m.randn(1000, 100, requires_grad=True)
    w2 = m.randn(100, 10, requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
        loss.backward()
        with m.no_grad():
            for w in (w1, w2):
                w -= 1e-6 * w.grad
                w.grad.zero_()
        losses.append(loss.item())
    return losses


@needs_torch
def test_readme_loop_prints_pytorchs_losses():
    want, got = _readme_losses(torch), _readme_losses(ember)
    assert got[0] == want[0]  # the same draws give the same first loss, bit for bit
    np.testing.assert_allclose(got[::10], want[::10], rtol=2e-4)  # 4 significant digits after 100 steps


def _digits_losses(m, X, Y, steps=100):
    """A seeded Digits MLP (random_split, shuffled DataLoader, Linear layers, dropout, Adam): its losses."""
    m.manual_seed(0)
    train, _ = m.utils.data.random_split(m.utils.data.TensorDataset(m.tensor(X), m.tensor(Y)), [0.8, 0.2])
    loader = m.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    model = m.nn.Sequential(m.nn.Linear(64, 128), m.nn.ReLU(), m.nn.Dropout(0.1), m.nn.Linear(128, 64),
                            m.nn.ReLU(), m.nn.Linear(64, 10))
    opt = m.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn, losses = m.nn.CrossEntropyLoss(), []
    while len(losses) < steps:
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses


@needs_torch
def test_digits_mlp_prints_pytorchs_losses():
    from ember.datasets.digits import _load_digits  # scikit-learn's load_digits(), shipped with ember
    images, labels = _load_digits()
    X, Y = (images.reshape(-1, 64) / 16.0).astype(np.float32), labels.astype(np.int64)
    want, got = _digits_losses(torch, X, Y), _digits_losses(ember, X, Y)
    assert got[0] == pytest.approx(want[0], rel=1e-6)
    np.testing.assert_allclose(got, want, rtol=2e-4)



VIEWS = {'transposed': lambda x: x.t(), 'strided': lambda x: x[:, ::2], 'rows': lambda x: x[::2],
         'permuted': lambda x: x.reshape(2, 3, 8).permute(2, 0, 1)}
FILLS = {'uniform_': lambda w: w.uniform_(-1, 2), 'normal_': lambda w: w.normal_(0.5, 2.0),
         'bernoulli_': lambda w: w.bernoulli_(0.3), 'exponential_': lambda w: w.exponential_(),
         'random_': lambda w: w.random_(0, 10), 'cauchy_': lambda w: w.cauchy_(),
         'log_normal_': lambda w: w.log_normal_(), 'geometric_': lambda w: w.geometric_(0.3)}


@needs_torch
@pytest.mark.parametrize('view', list(VIEWS))
@pytest.mark.parametrize('fill', list(FILLS))
def test_fills_of_non_contiguous_views(view, fill):
    """A view is filled in memory order (normal_ then draws each value on its own), as PyTorch does."""
    base = np.random.RandomState(1).randn(6, 8).astype(np.float32)

    def run(m):
        x = m.tensor(base)
        FILLS[fill](VIEWS[view](x))
        return x
    _same_draws(run)

# ---- without PyTorch: known values (from the issue and PyTorch 2.13) and invariants ----------------------------------

def test_known_values_without_torch():
    ember.manual_seed(0)
    np.testing.assert_allclose(_np(ember.rand(4)), [0.4962566, 0.7682218, 0.08847743, 0.13203049], rtol=1e-6)
    ember.manual_seed(0)
    np.testing.assert_allclose(_np(ember.randn(3)), [1.5409961, -0.2934289, -2.1787894], rtol=1e-6)
    ember.manual_seed(0)
    np.testing.assert_allclose(_np(ember.randn(16))[:4], [-1.1258398, -1.1523602, -0.25057858, -0.4338788], rtol=1e-6)
    ember.manual_seed(2)
    assert _np(ember.randperm(5)).tolist() != list(range(5))


def test_state_round_trip_without_torch():
    g = ember.Generator().manual_seed(123)
    ember.randn(5, generator=g)  # a cached normal rides in the state
    st = g.get_state()
    assert tuple(st.shape) == (5056,) and int(_np(st)[:8].view(np.uint64)[0]) == 123
    a = _np(ember.randn(40, generator=g)).copy()
    g.set_state(st)
    assert np.array_equal(_np(ember.randn(40, generator=g)), a)
    with pytest.raises(RuntimeError):
        g.set_state(ember.zeros(10, dtype=ember.uint8))
