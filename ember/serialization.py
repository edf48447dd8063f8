"""ember.save / ember.load: safetensors for tensors, JSON for structure; no pickle executes on load."""
__all__ = ['save', 'load']


def save(obj, f):
    raise NotImplementedError('ember.save is being written')


def load(f, map_location=None, weights_only=True):
    raise NotImplementedError('ember.load is being written')


def _rebuild_tensor(array, device, requires_grad):
    """Unpickling target for tensors sent between processes (DataLoader workers)."""
    from ._tensor import _wrap
    from .backends import get_device
    t = _wrap(array, get_device('cpu'))
    if device != 'cpu':
        t = t.to(device)
    t.requires_grad = requires_grad
    return t
