"""Device 'cuda' (CuPy): names and errors without a GPU, creation and moves on one, the ember.cuda API."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F

from _cuda_common import HAS_CUDA, needs_cuda, on_devices, _np, _close


# ==== without a GPU: names, errors, the API's no-GPU answers ========================================================

def test_cuda_device_is_a_name_without_a_gpu():
    d = ember.device('cuda')
    assert d.type == 'cuda' and d.index == 0 and str(ember.device('cuda:1')) == 'cuda:1'
    assert ember.device('cuda:0') == 'cuda:0' and ember.device('cuda', 0) is ember.device('cuda:0')
    with pytest.raises(RuntimeError, match='device type'):
        ember.device('tpu')


@pytest.mark.skipif(HAS_CUDA, reason='checks the errors seen without a GPU')
def test_cuda_tensors_without_a_gpu_say_what_is_missing():
    for make in (lambda: ember.zeros(2, device='cuda'), lambda: ember.ones(2).cuda(),
                 lambda: ember.tensor([1.0], device='cuda'), lambda: ember.randn(3, device='cuda')):
        with pytest.raises(RuntimeError, match='cuda|CuPy'):
            make()
    assert ember.cuda.device_count() == 0 and not ember.cuda.is_available()
    ember.cuda.manual_seed(0)
    ember.cuda.manual_seed_all(0)
    ember.cuda.empty_cache()
    for fn in (ember.cuda.memory_allocated, ember.cuda.synchronize, ember.cuda.current_stream):
        with pytest.raises(RuntimeError):
            fn()


def test_device_helpers_route_numpy_to_numpy():
    from ember.backends import scatter_add, scatter_mul, host_cast, reshape_nocopy, checks_values, fused, cpu
    a = np.zeros(4)
    scatter_add(a, (np.array([1, 1, 3]),), np.array([1.0, 2.0, 5.0]))
    assert a.tolist() == [0, 3, 0, 5]
    b = np.ones(3)
    scatter_mul(b, (np.array([0, 0, 2]),), np.array([2.0, 3.0, 4.0]))
    assert b.tolist() == [6, 1, 4]
    assert host_cast(2.7, np.int64) == 2 and host_cast(True, np.float32) == 1.0
    x = np.arange(6).reshape(2, 3)
    assert reshape_nocopy(x, (3, 2)).base is not None
    with pytest.raises(ValueError):
        reshape_nocopy(x.T, (6,))
    assert checks_values(cpu) and not fused(cpu)


@on_devices
def test_a_small_graph_on_each_device(device):
    x = ember.tensor([[1.0, -2.0], [3.0, 0.5]], device=device, requires_grad=True)
    y = (F.gelu(x) * x.relu()).sum() + F.cross_entropy(x, ember.tensor([1, 0], device=device))
    y.backward()
    assert x.grad.device == ember.device(device) and y.device == ember.device(device)
    assert np.isfinite(_np(x.grad)).all()


# ==== on a GPU ======================================================================================================

@needs_cuda
def test_creation_on_cuda():
    cu = ember.device('cuda')
    for t in (ember.zeros(2, 3, device='cuda'), ember.ones(2, device=cu), ember.full((2,), 3.0, device='cuda'),
              ember.empty(4, device='cuda'), ember.arange(5, device='cuda'), ember.linspace(0, 1, 5, device='cuda'),
              ember.eye(3, device='cuda'), ember.rand(3, device='cuda'), ember.randn(3, device='cuda'),
              ember.randint(0, 5, (4,), device='cuda'), ember.randperm(6, device='cuda'),
              ember.tensor([1, 2], device='cuda'), ember.zeros_like(ember.ones(2), device='cuda'),
              ember.logspace(0, 1, 3, device='cuda'), ember.normal(0.0, 1.0, (3,), device='cuda')):
        assert t.device == cu and t.is_cuda and not t.is_cpu
    assert ember.arange(5, device='cuda').tolist() == [0, 1, 2, 3, 4]
    assert sorted(ember.randperm(6, device='cuda').tolist()) == list(range(6))
    r = ember.rand(10000, device='cuda')
    assert r.dtype == ember.float32 and 0 <= r.min().item() and r.max().item() < 1
    assert abs(ember.randn(10000, device='cuda').mean().item()) < 0.05
    _close(ember.linspace(-2, 3, 7, device='cuda'), ember.linspace(-2, 3, 7))


@needs_cuda
def test_moves_between_devices():
    x = ember.randn(3, 4, dtype=ember.float64)
    c = x.cuda()
    assert c.is_cuda and c.device == ember.device('cuda:0') and c.dtype == ember.float64
    assert x.to('cuda').device.type == 'cuda' and x.to(ember.device('cuda'), ember.float32).dtype == ember.float32
    assert x.to('cuda', non_blocking=True).is_cuda and x.cuda(0).is_cuda
    assert c.to(x).device.type == 'cpu'
    _close(c.cpu(), x, 0, 0)
    assert c.cpu().is_cpu and c.to('cuda') is c
    # gradients flow back across the move
    x.requires_grad_()
    (x.cuda() * 2).sum().backward()
    assert x.grad.device.type == 'cpu' and x.grad.tolist() == [[2.0] * 4] * 3
    assert repr(c).startswith('tensor(') and "device='cuda:0'" in repr(c)
    assert c[0, 0].item() == x[0, 0].item() and c.tolist() == x.tolist()


@needs_cuda
def test_mixed_devices_and_numpy_errors():
    a, b = ember.ones(3), ember.ones(3, device='cuda')
    msg = 'Expected all tensors to be on the same device, but found at least two devices, cpu and cuda:0'
    for fn in (lambda: a + b, lambda: a * b, lambda: ember.cat([a, b]), lambda: a @ b, lambda: ember.where(a > 0, a, b),
               lambda: a.add_(b), lambda: F.linear(a, b.reshape(1, 3))):
        with pytest.raises(RuntimeError, match=msg):
            fn()
    with pytest.raises(TypeError, match=r'cpu\(\)'):
        b.numpy()
    with pytest.raises(RuntimeError):
        ember.ones(2, dtype=ember.int64, device='cuda').add_(1.5)


# ---- the ember.cuda API ---------------------------------------------------------------------------------------------

@needs_cuda
def test_cuda_module_api():
    c = ember.cuda
    assert c.device_count() >= 1 and c.current_device() == 0 and c.is_initialized()
    assert isinstance(c.get_device_name(), str) and c.get_device_capability()[0] >= 3
    assert c.get_device_properties(0).total_memory > 0
    c.set_device(0)
    with c.device(0):
        assert c.current_device() == 0
    with c.device('cuda:0'):
        pass
    c.synchronize()
    c.reset_peak_memory_stats()
    base = c.memory_allocated()
    x = ember.empty(1 << 20, device='cuda')  # 4 MiB
    assert c.memory_allocated() >= base + 4 * 2**20 and c.max_memory_allocated() >= c.memory_allocated()
    peak = c.max_memory_allocated()
    del x
    assert c.max_memory_allocated() == peak and c.memory_allocated() < peak
    c.reset_peak_memory_stats()
    assert c.max_memory_allocated() < peak
    assert c.memory_reserved() >= c.memory_allocated()
    c.empty_cache()
    free, total = c.mem_get_info()
    assert 0 < free <= total
    start, end = c.Event(enable_timing=True), c.Event(enable_timing=True)
    start.record()
    y = ember.randn(512, 512, device='cuda') @ ember.randn(512, 512, device='cuda')
    end.record()
    end.synchronize()
    assert start.elapsed_time(end) >= 0 and end.query()
    s = c.Stream()
    with c.stream(s):
        z = y * 2
    s.synchronize()
    c.current_stream().wait_stream(s)
    _close(z, y * 2, 0, 0)
    assert c.default_stream() is not None and c.current_stream() == c.current_stream()
