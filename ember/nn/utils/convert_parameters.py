"""parameters_to_vector / vector_to_parameters: flatten parameters into one vector and back."""
from ..._tensor import Tensor

__all__ = ['parameters_to_vector', 'vector_to_parameters']


def _check_device(param, old):
    dev = param.device
    if old is not None and dev != old:
        raise TypeError('Found two parameters on different devices, this is currently not supported.')
    return dev


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter's values, in order (differentiable)."""
    from ...ops.shape import cat
    dev = None
    vec = []
    for p in parameters:
        dev = _check_device(p, dev)
        vec.append(p.reshape(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' data (their shapes decide the slices)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f'expected ember.Tensor, but got: {type(vec).__name__}')
    dev = None
    pointer = 0
    for p in parameters:
        dev = _check_device(p, dev)
        n = p.numel()
        p.data = vec[pointer:pointer + n].view_as(p).data
        pointer += n
