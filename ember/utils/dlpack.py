"""DLPack exchange: zero-copy tensors to and from NumPy, PyTorch, CuPy, JAX and any library with __dlpack__."""
import ctypes

__all__ = ['from_dlpack', 'to_dlpack', 'tensor_dlpack', 'DLDeviceType']


class DLDeviceType:
    """DLPack's device codes (the first element of ``__dlpack_device__()``)."""
    kDLCPU, kDLCUDA, kDLCUDAHost, kDLOpenCL, kDLVulkan, kDLMetal, kDLVPI, kDLROCM = 1, 2, 3, 4, 7, 8, 9, 10
    kDLROCMHost, kDLExtDev, kDLCUDAManaged, kDLOneAPI = 11, 12, 13, 14


_CPU_TYPES = (DLDeviceType.kDLCPU, DLDeviceType.kDLCUDAHost, DLDeviceType.kDLROCMHost)
_CUDA_TYPES = (DLDeviceType.kDLCUDA, DLDeviceType.kDLCUDAManaged, DLDeviceType.kDLROCM)


def tensor_dlpack(t, stream=None, max_version=None, dl_device=None, copy=None):
    """``t.__dlpack__(...)`` (written in ember/_tensor_core.py)."""
    return t.__dlpack__(stream, max_version=max_version, dl_device=dl_device, copy=copy)


def to_dlpack(tensor):
    """A DLPack capsule of ``tensor`` (legacy API: prefer passing the tensor itself to a from_dlpack)."""
    return tensor.__dlpack__()


def _capsule_device(capsule):
    """(device_type, device_id) read from a DLPack capsule's DLTensor."""
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    name = api.PyCapsule_GetName(capsule)
    if name not in (b'dltensor', b'dltensor_versioned'):
        raise RuntimeError(f'from_dlpack: expected a DLPack capsule named "dltensor", got {name!r} (a capsule can '
                           f'be consumed only once)')
    ptr = api.PyCapsule_GetPointer(capsule, name)
    # DLTensor starts with `void *data` then DLDevice {int32 type, int32 id}; the versioned struct puts
    # version (8 bytes), manager_ctx, deleter and flags (8 each) before it
    base = ptr + (32 if name == b'dltensor_versioned' else 0)
    dev = (ctypes.c_int32 * 2).from_address(base + ctypes.sizeof(ctypes.c_void_p))
    return int(dev[0]), int(dev[1])


class _Capsule:
    """Presents a bare capsule through the __dlpack__ protocol that NumPy's and CuPy's from_dlpack expect."""

    def __init__(self, capsule):
        self.capsule, self.device = capsule, _capsule_device(capsule)

    def __dlpack__(self, stream=None, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return self.device


def from_dlpack(ext_tensor):
    """An ember tensor sharing memory with ``ext_tensor`` (an object with ``__dlpack__`` or a DLPack capsule)."""
    from .._tensor import Tensor, _wrap
    from .._dtype import _FROM_NP
    from ..backends import cpu, device
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    src = ext_tensor
    if type(src).__name__ == 'PyCapsule':
        src = _Capsule(src)
    if not hasattr(src, '__dlpack__'):
        raise TypeError(f'from_dlpack expects an object with __dlpack__ or a DLPack capsule, got '
                        f'{type(ext_tensor).__name__}')
    dev_type, dev_id = src.__dlpack_device__() if hasattr(src, '__dlpack_device__') else (1, 0)
    dev_type = int(dev_type)
    if dev_type in _CPU_TYPES:
        import numpy as np
        try:
            try:
                arr = np.from_dlpack(src)
            except TypeError:  # a producer without DLPack 1.0 keywords
                arr = np.from_dlpack(_Capsule(src.__dlpack__()))
        except (RuntimeError, BufferError) as e:
            if 'dtype' not in str(e):
                raise
            raise type(e)(f'from_dlpack: {e} (ember takes float16/32/64, int8/16/32/64, uint8 and bool; bfloat16 '
                          f'has no NumPy dtype: convert it to float32 on the producer side first)') from None
        dev = cpu
    elif dev_type in _CUDA_TYPES:
        try:
            import cupy
        except ImportError:
            raise RuntimeError('from_dlpack: the tensor lives on a CUDA device, which needs CuPy: '
                               "pip install 'ember[cuda]'") from None
        arr = cupy.from_dlpack(src)
        dev = device('cuda', int(dev_id))
    else:
        raise RuntimeError(f'from_dlpack: DLPack device type {dev_type} is not supported by ember (cpu and cuda '
                           f'only)')
    if arr.dtype not in _FROM_NP:
        raise TypeError(f'from_dlpack: dtype {arr.dtype} has no ember equivalent (ember dtypes: float16/32/64, '
                        f'int8/16/32/64, uint8, bool)')
    return _wrap(arr, dev)
