"""Namespaces real scripts touch: backends flags, accelerator, amp (autocast, GradScaler), checkpoint, testing, hub."""
import importlib.util
import os
import warnings

import numpy as np
import pytest

import ember
from conftest import torch, needs_torch


# ---- backends and accelerator ---------------------------------------------------------------------------------------
def test_backend_flags_are_settable():
    cudnn = ember.backends.cudnn
    old = (cudnn.benchmark, cudnn.deterministic, cudnn.enabled, cudnn.allow_tf32)
    try:
        cudnn.benchmark, cudnn.deterministic, cudnn.enabled, cudnn.allow_tf32 = True, True, False, False
        assert (cudnn.benchmark, cudnn.deterministic, cudnn.enabled, cudnn.allow_tf32) == (True, True, False, False)
        with cudnn.flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=True):
            assert cudnn.enabled and not cudnn.benchmark
        assert cudnn.benchmark and not cudnn.enabled
    finally:
        cudnn.benchmark, cudnn.deterministic, cudnn.enabled, cudnn.allow_tf32 = old
    assert cudnn.is_available() == ember.cuda.is_available()
    assert ember.backends.mps.is_available() is False and ember.backends.mps.is_built() is False


def test_cuda_matmul_tf32_and_matmul_precision():
    m = ember.backends.cuda.matmul
    assert m.allow_tf32 is False and ember.get_float32_matmul_precision() == 'highest'
    try:
        m.allow_tf32 = True
        assert m.allow_tf32 and ember.get_float32_matmul_precision() == 'high'
        ember.set_float32_matmul_precision('highest')
        assert not m.allow_tf32
        ember.set_float32_matmul_precision('medium')
        assert m.allow_tf32 and ember.get_float32_matmul_precision() == 'medium'
    finally:
        ember.set_float32_matmul_precision('highest')
    with pytest.raises(RuntimeError, match='Invalid precision'):
        ember.set_float32_matmul_precision('fast')
    with ember.backends.cuda.sdp_kernel(enable_flash=False):
        assert not ember.backends.cuda.flash_sdp_enabled()
    assert ember.backends.cuda.flash_sdp_enabled()


def test_accelerator_matches_cuda():
    acc = ember.accelerator
    assert acc.is_available() == ember.cuda.is_available()
    assert acc.device_count() == ember.cuda.device_count()
    if acc.is_available():
        assert acc.current_accelerator() == ember.device('cuda', acc.current_device_index())
    else:
        assert acc.current_accelerator() is None
        with pytest.raises(RuntimeError, match='no accelerator'):
            acc.current_device_index()
        assert acc.memory_allocated() == 0


def test_submodules_resolve_for_the_torch_alias():
    for name in ('ember.cuda.amp', 'ember.amp', 'ember.backends.cudnn', 'ember.backends.mps', 'ember.backends.cuda',
                 'ember.utils.checkpoint', 'ember.utils.dlpack', 'ember.multiprocessing', 'ember.hub',
                 'ember.testing', 'ember.onnx', 'ember.accelerator', 'ember.sparse'):
        assert importlib.util.find_spec(name) is not None, name
    from ember.cuda.amp import autocast, GradScaler
    assert issubclass(autocast, ember.amp.autocast) and issubclass(GradScaler, ember.amp.GradScaler)


# ---- autocast -------------------------------------------------------------------------------------------------------
def test_autocast_cpu_default_is_a_noop_with_a_bfloat16_warning():
    a, b = ember.randn(2, 3), ember.randn(3, 2)
    with pytest.warns(UserWarning, match='bfloat16'):
        ctx = ember.autocast('cpu')
    with ctx:
        assert (a @ b).dtype == ember.float32
        assert not ember.is_autocast_enabled('cpu')
    with pytest.warns(UserWarning, match='bfloat16'):
        with ember.amp.autocast('cpu', dtype='bfloat16'):
            assert (a @ b).dtype == ember.float32


def test_autocast_float16_casts_matmul_inputs_and_grads_stay_float32():
    a = ember.randn(2, 3)
    w = ember.randn(3, 4, requires_grad=True)
    with ember.amp.autocast('cpu', dtype=ember.float16):
        assert ember.is_autocast_enabled('cpu')
        y = a @ w
        assert y.dtype == ember.float16
        assert ember.mm(a, w).dtype == ember.float16
        assert ember.bmm(a[None], w[None]).dtype == ember.float16
        assert (a.double() @ w.double()).dtype == ember.float64  # float64 is left alone, as PyTorch does
        with ember.autocast('cpu', enabled=False):
            assert (a @ w).dtype == ember.float32
        assert (a @ w).dtype == ember.float16
    assert not ember.is_autocast_enabled('cpu')
    y.float().sum().backward()
    assert w.grad.dtype == ember.float32
    np.testing.assert_allclose(w.grad.numpy(), a.numpy().sum(0)[:, None].repeat(4, 1), rtol=2e-3, atol=2e-3)

    @ember.autocast('cpu', dtype=ember.float16)
    def f(x, y):
        return x @ y
    assert f(a, w).dtype == ember.float16


def test_autocast_cuda_without_a_gpu_disables_with_a_warning():
    if ember.cuda.is_available():
        pytest.skip('a GPU is present')
    with pytest.warns(UserWarning, match='CUDA is not available'):
        ctx = ember.autocast('cuda')
    with ctx:
        assert (ember.randn(2, 2) @ ember.randn(2, 2)).dtype == ember.float32
    with pytest.warns(FutureWarning, match='deprecated'):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)
            ember.cuda.amp.autocast()
    with pytest.raises(RuntimeError, match='unsupported autocast device_type'):
        ember.autocast('xpu')


# ---- GradScaler -----------------------------------------------------------------------------------------------------
def _model():
    ember.manual_seed(0)
    m = ember.nn.Linear(3, 2)
    return m, ember.optim.SGD(m.parameters(), lr=0.1), ember.randn(4, 3)


def test_grad_scaler_cpu_scales_unscales_and_steps():
    m, opt, x = _model()
    ref = ember.autograd.grad(m(x).sum(), m.weight)[0]
    w0 = m.weight.detach().clone()
    sc = ember.amp.GradScaler('cpu', init_scale=8.0, growth_interval=2)
    loss = m(x).sum()
    scaled = sc.scale(loss)
    assert abs(scaled.item() - 8 * loss.item()) < 1e-4
    scaled.backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), 8 * ref.numpy(), rtol=1e-6)
    sc.unscale_(opt)
    np.testing.assert_allclose(m.weight.grad.numpy(), ref.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match='already been called'):
        sc.unscale_(opt)
    sc.step(opt)
    np.testing.assert_allclose(m.weight.detach().numpy(), (w0 - 0.1 * ref).numpy(), rtol=1e-6)
    sc.update()
    assert sc.get_scale() == 8.0
    opt.zero_grad()
    sc.scale(m(x).sum()).backward()
    sc.step(opt)  # unscales itself
    sc.update()
    assert sc.get_scale() == 16.0  # grown after growth_interval clean steps


def test_grad_scaler_skips_inf_steps_and_backs_off():
    m, opt, x = _model()
    sc = ember.amp.GradScaler('cpu', init_scale=4.0)
    sc.scale(m(x).sum()).backward()
    m.weight.grad[0, 0] = float('nan')
    before = m.weight.detach().clone()
    assert sc.step(opt) is None
    sc.update()
    assert ember.equal(m.weight.detach(), before)
    assert sc.get_scale() == 2.0
    st = sc.state_dict()
    assert st['scale'] == 2.0 and st['_growth_tracker'] == 0
    other = ember.amp.GradScaler('cpu')
    other.load_state_dict(st)
    assert other.get_scale() == 2.0 and other.state_dict() == st
    with pytest.raises(RuntimeError, match='Closure'):
        sc.step(opt, closure=lambda: 0)


def test_grad_scaler_disabled_is_a_pass_through():
    m, opt, x = _model()
    sc = ember.amp.GradScaler(enabled=False)
    loss = m(x).sum()
    assert sc.scale(loss) is loss and sc.get_scale() == 1.0 and sc.state_dict() == {}
    loss.backward()
    g = m.weight.grad.clone()
    w0 = m.weight.detach().clone()
    sc.unscale_(opt)
    assert ember.equal(m.weight.grad, g)
    sc.step(opt)
    sc.update()
    np.testing.assert_allclose(m.weight.detach().numpy(), (w0 - 0.1 * g).numpy(), rtol=1e-6)
    if not ember.cuda.is_available():
        with pytest.warns(UserWarning, match='CUDA is not available'):
            assert not ember.amp.GradScaler().is_enabled()
        with pytest.warns(FutureWarning):
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', UserWarning)
                ember.cuda.amp.GradScaler()


# ---- checkpoint -----------------------------------------------------------------------------------------------------
def _net():
    ember.manual_seed(3)
    return ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.Tanh(), ember.nn.Dropout(0.3), ember.nn.Linear(8, 8),
                               ember.nn.ReLU(), ember.nn.Linear(8, 2))


def _grads(net, x):
    return [p.grad.numpy().copy() for p in net.parameters()] + [x.grad.numpy().copy()]


@pytest.mark.parametrize('reentrant', [True, False])
def test_checkpoint_gives_the_same_gradients(reentrant):
    from ember.utils.checkpoint import checkpoint
    net = _net()
    x = ember.randn(5, 4, requires_grad=True)
    ember.manual_seed(7)
    ref_out = net(x)
    ref_out.sum().backward()
    ref = _grads(net, x)
    net.zero_grad()
    x.grad = None
    ember.manual_seed(7)  # same dropout mask: the recomputation replays the forward's RNG state
    out = checkpoint(net, x, use_reentrant=reentrant)
    np.testing.assert_allclose(out.detach().numpy(), ref_out.detach().numpy())
    out.sum().backward()
    for a, b in zip(ref, _grads(net, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_checkpoint_nonreentrant_extras():
    from ember.utils.checkpoint import checkpoint
    net = _net().eval()
    x = ember.randn(3, 4)  # needs no grad: parameters still get theirs
    ref = ember.autograd.grad(net(x).sum(), list(net.parameters()))
    out = checkpoint(net, x, use_reentrant=False)
    got = ember.autograd.grad(out.sum(), list(net.parameters()))
    for a, b in zip(ref, got):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)

    def f(a, *, scale):
        return (a * scale).tanh(), a.sum()
    y = ember.randn(3, requires_grad=True)
    o1, o2 = checkpoint(f, y, scale=2.0, use_reentrant=False)
    (o1.sum() + o2).backward()
    np.testing.assert_allclose(y.grad.numpy(), (2 * (1 - np.tanh(2 * y.detach().numpy()) ** 2) + 1), rtol=1e-5)


def test_checkpoint_reentrant_rules_and_default_warning():
    from ember.utils.checkpoint import checkpoint
    net = _net()
    with pytest.raises(ValueError, match='Unexpected keyword'):
        checkpoint(lambda a, k: a, ember.ones(1), k=1, use_reentrant=True)
    with pytest.warns(UserWarning, match='None of the inputs have requires_grad'):
        out = checkpoint(net, ember.randn(2, 4), use_reentrant=True)
    assert not out.requires_grad
    with pytest.warns(UserWarning, match='use_reentrant'):
        checkpoint(net, ember.randn(2, 4, requires_grad=True))


def test_checkpoint_gradcheck_float64():
    from ember.utils.checkpoint import checkpoint
    w = ember.randn(3, 3, dtype=ember.float64, requires_grad=True)

    def f(a, b):
        return checkpoint(lambda u, v: (u @ v).sin() * u, a, b, use_reentrant=False)
    assert ember.autograd.gradcheck(f, (ember.randn(3, 3, dtype=ember.float64, requires_grad=True), w))


def test_checkpoint_sequential_matches_plain():
    from ember.utils.checkpoint import checkpoint_sequential
    net = _net().eval()
    x = ember.randn(5, 4, requires_grad=True)
    net(x).sum().backward()
    ref = _grads(net, x)
    net.zero_grad()
    x.grad = None
    out = checkpoint_sequential(net, 3, x, use_reentrant=False)
    out.sum().backward()
    for a, b in zip(ref, _grads(net, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# ---- testing.assert_close -------------------------------------------------------------------------------------------
_CASES = [
    lambda L: (L.tensor([1., 2., 3.]), L.tensor([1., 2.5, 3.])),
    lambda L: (L.tensor([[1., 2.], [3., 4.]]), L.tensor([[1., 2.], [3., 4.1]])),
    lambda L: (L.tensor([1, 2, 3]), L.tensor([1, 4, 3])),
    lambda L: (1.0, 1.5),
    lambda L: (1, 2),
    lambda L: (L.tensor(1.), L.tensor(2.)),
    lambda L: (L.tensor([True, False]), L.tensor([True, True])),
    lambda L: (L.tensor([1., 2.]), L.tensor([1., 2., 3.])),
    lambda L: (L.tensor([1., 2.]), L.tensor([1., 2.], dtype=L.float64)),
    lambda L: ([L.tensor([1.]), L.tensor([2.])], [L.tensor([1.]), L.tensor([3.])]),
    lambda L: ({'a': L.tensor([1.])}, {'a': L.tensor([3.])}),
    lambda L: (L.tensor([float('nan')]), L.tensor([float('nan')])),
    lambda L: (L.tensor([1., float('inf')]), L.tensor([1., float('-inf')])),
    lambda L: (np.array([1., 2.]), np.array([1., 3.])),
    lambda L: (L.tensor([1., 2.], dtype=L.float16), L.tensor([1., 2.01], dtype=L.float16)),
]


@needs_torch
@pytest.mark.parametrize('case', range(len(_CASES)))
def test_assert_close_messages_match_pytorch(case):
    def message(lib, fn):
        a, e = _CASES[case](lib)
        try:
            fn(a, e)
        except AssertionError as err:
            return str(err)
        return None
    want = message(torch, torch.testing.assert_close)
    got = message(ember, ember.testing.assert_close)
    assert want is not None
    assert got == want


def test_assert_close_tolerances_and_options():
    tc = ember.testing.assert_close
    tc(ember.tensor([1.]), ember.tensor([1. + 1e-6]))  # float32 default atol 1e-5
    with pytest.raises(AssertionError):
        tc(ember.tensor([1.], dtype=ember.float64), ember.tensor([1. + 1e-6], dtype=ember.float64))
    tc(ember.tensor([float('nan')]), ember.tensor([float('nan')]), equal_nan=True)
    tc(ember.tensor([1.]), ember.tensor([1.], dtype=ember.float64), check_dtype=False)
    tc(ember.tensor([1.]), ember.tensor([1.1]), rtol=0.2, atol=0.)
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol'"):
        tc(ember.tensor([1.]), ember.tensor([1.]), rtol=1e-3)
    with pytest.raises(AssertionError, match='^custom$'):
        tc(ember.tensor([1.]), ember.tensor([2.]), msg='custom')
    with pytest.raises(AssertionError, match='^X'):
        tc(ember.tensor([1.]), ember.tensor([2.]), msg=lambda m: 'X' + m)
    with pytest.raises(TypeError, match='No comparison pair'):
        tc(ember.tensor([1.]), 1.0)
    tc(ember.ones(2, requires_grad=True), ember.ones(2))
    tc((1.0, 2.0), [1.0, 2.0])
    t = ember.testing.make_tensor(3, 4, dtype=ember.float32, low=-1, high=1)
    assert t.shape == (3, 4) and float(t.abs().max()) <= 1
    ember.testing.assert_allclose(ember.tensor([1., 2.]), [1., 2.])


# ---- hub ------------------------------------------------------------------------------------------------------------
def test_hub_has_no_network_and_says_what_it_needed(tmp_path):
    old = ember.hub._hub_dir
    ember.hub.set_dir(tmp_path)
    try:
        assert ember.hub.get_dir() == str(tmp_path)
        with pytest.raises(RuntimeError, match="pytorch/vision.*no network access"):
            ember.hub.load('pytorch/vision', 'resnet18', pretrained=True)
        with pytest.raises(RuntimeError, match="no network access"):
            ember.hub.list('pytorch/vision:v0.10.0')
        url = 'https://download.pytorch.org/models/resnet18-f37072fd.pth'
        with pytest.raises(RuntimeError, match='resnet18-f37072fd.pth'):
            ember.hub.load_state_dict_from_url(url)
        os.makedirs(tmp_path / 'checkpoints')
        ember.save({'w': ember.ones(2)}, tmp_path / 'checkpoints' / 'resnet18-f37072fd.pth')
        sd = ember.hub.load_state_dict_from_url(url)  # already in the cache: loads offline
        assert ember.equal(sd['w'], ember.ones(2))
        repo = tmp_path / 'repo'
        repo.mkdir()
        (repo / 'hubconf.py').write_text('def tiny(n=2):\n    """A tiny entrypoint."""\n    return [0] * n\n')
        assert ember.hub.load(str(repo), 'tiny', source='local', n=3) == [0, 0, 0]
        assert ember.hub.list(str(repo), source='local') == ['tiny']
        assert 'tiny entrypoint' in ember.hub.help(str(repo), 'tiny', source='local')
    finally:
        ember.hub._hub_dir = old
