"""torch.linalg.eig/eigvals: the general (non-symmetric) eigendecomposition, complex results, with gradients.

numpy.linalg.eig (LAPACK geev, as PyTorch uses) on cpu; CuPy has no general eigensolver, so cuda tensors get a
clear error. The backward is written on raw arrays (one level of differentiation), in PyTorch's convention.
"""
from .._printing import return_type
from ._util import Tensor, record_c, _wrap, KERNEL_NAMES, not_implemented
from .linalg_extra import square_matrices

_eig = return_type('linalg_eig', ['eigenvalues', 'eigenvectors'])


def _check(A, op):
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(A).__name__}")
    square_matrices(A, op)
    if A._data.dtype.kind in 'fV' and A._data.dtype.itemsize <= 2:  # (half, bfloat16)
        raise not_implemented('linalg_eig_out_cpu', A._data.dtype)
    if A._data.dtype.kind not in 'fc':  # (PyTorch's own wording: it looks for the complex dtype first)
        raise RuntimeError(f'Unknown Complex ScalarType for {KERNEL_NAMES.get(A._data.dtype.name, A.dtype.name)}')
    if A._device.type != 'cpu':
        raise RuntimeError(f'{op}: ember computes the general eigendecomposition with numpy.linalg.eig, and CuPy has '
                           f'no non-symmetric eigensolver; move the input to the cpu first ({op}(A.cpu())), or use '
                           f'linalg.eigh for Hermitian matrices')


def _decompose(A):
    np = A._device.xp  # (NumPy: cpu only, checked above)
    a = A._data
    cdt = np.complex64 if a.dtype in (np.float32, np.complex64) else np.complex128
    if a.size == 0:
        return np.zeros(a.shape[:-1], cdt), np.zeros(a.shape, cdt)
    if not np.isfinite(a).all():
        raise RuntimeError('torch.linalg.eig: input tensor should not contain infs or NaNs.')
    w, v = np.linalg.eig(a)
    return w.astype(cdt, copy=False), v.astype(cdt, copy=False)


def _mH(x):
    return x.swapaxes(-1, -2).conj()


def _grad(np, a, w, v, gw, gv):
    """A_bar = V^-H (diag(w_bar) + (V^H V_bar - V^H V diag(Re(diag(V^H V_bar)))) / conj(E)) V^H, with
    E_ij = w_j - w_i off the diagonal (the diagonal of the bracket is w_bar alone); a real A keeps the real part."""
    n = a.shape[-1]
    inner = np.zeros(v.shape, v.dtype)
    eye = np.eye(n, dtype=bool)
    if gv is not None:
        vh_gv = _mH(v) @ gv
        re_diag = np.real(np.diagonal(vh_gv, axis1=-2, axis2=-1))
        inner = vh_gv - (_mH(v) @ v) * re_diag[..., None, :]
        E = w[..., None, :] - w[..., :, None]
        inner = np.where(eye, 0, inner / np.where(eye, 1, E.conj()))
    if gw is not None:
        inner = inner + eye * gw[..., None, :]
    vh = _mH(v)
    out = np.linalg.solve(vh, inner @ vh)  # V^-H (inner) V^H
    return out if a.dtype.kind == 'c' else np.real(out).astype(a.dtype)


def _nodes(A, w, v, want_v):
    a = A._data

    def grad_of(i):
        def grad(g):
            gw, gv = (g._data, None) if i == 0 else (None, g._data)
            return _wrap(_grad(A._device.xp, a, w, v, gw, gv), g._device)
        return grad
    # one graph node per output; the engine sums their contributions into A
    ow = record_c(w, A._device, (A,), 'LinalgEigBackward0', (grad_of(0),), holds=True)
    ov = record_c(v, A._device, (A,), 'LinalgEigBackward0', (grad_of(1),), holds=True) if want_v else None
    return ow, ov


def eig(A, *, out=None):
    """Eigenvalues and (unit-norm) eigenvectors of square matrices: complex tensors, as torch.linalg.eig."""
    _check(A, 'linalg.eig')
    w, v = _decompose(A)
    return _eig(*_nodes(A, w, v, True))


def eigvals(A, *, out=None):
    _check(A, 'linalg.eigvals')
    w, v = _decompose(A)
    return _nodes(A, w, v, False)[0]
