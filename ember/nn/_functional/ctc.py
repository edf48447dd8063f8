"""ember.nn.functional.ctc_loss: the Connectionist Temporal Classification loss (forward-backward in log space,
vectorised over the batch and the extended target; the gradient is PyTorch's, exp(log_probs) - posterior)."""
from ..._tensor import Tensor, _wrap
from ...backends import scatter_add
from ...ops._util import record, renamed as _renamed
from ...ops.nn_ops import _dtname

__all__ = ['ctc_loss']


def _lse(xp, *terms):
    """log(sum(exp(terms))) elementwise, -inf where every term is -inf (no warnings, no nan)."""
    m = terms[0]
    for t in terms[1:]:
        m = xp.maximum(m, t)
    m = xp.where(xp.isfinite(m), m, 0)
    s = 0
    for t in terms:
        s = s + xp.exp(t - m)
    return xp.where(s > 0, xp.log(xp.where(s > 0, s, 1)) + m, -xp.inf)


def _lengths(v, name, n):
    if isinstance(v, Tensor):
        if v.dtype.name not in ('int64', 'int32', 'int16', 'int8', 'uint8'):
            raise RuntimeError(f'{name} must be integral')
        vals = [int(a) for a in v.reshape(-1).tolist()]
    elif isinstance(v, int):
        vals = [v]
    else:
        vals = [int(a) for a in v]
    if len(vals) != n:
        raise RuntimeError(f'{name} must be of size batch_size')
    return vals


def _shift(xp, a, k, fill):
    """a[:, s - k] along the last axis (k > 0: from the left; k < 0: from the right), ``fill`` where none."""
    out = xp.full(a.shape, fill, a.dtype)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


def _ctc(lp, ext, L, Tl, blank, zero_infinity):
    """Per-sample negative log-likelihoods (N,) of log_probs (T, N, C) for extended targets ext (N, 2*Lmax + 1),
    with a backward giving PyTorch's gradient."""
    xp = lp._device.xp
    x = lp._data
    T, N, C = x.shape
    Sp = ext.shape[1]
    ninf = -xp.inf
    s_idx = xp.arange(Sp)[None, :]
    L_a, T_a = xp.asarray(L).reshape(N, 1), xp.asarray(Tl).reshape(N, 1)
    valid = s_idx < 2 * L_a + 1
    skip = (s_idx >= 2) & (ext != blank) & (ext != _shift(xp, ext, 2, blank))
    skip_next = _shift(xp, skip, -2, False)
    lpe = xp.take_along_axis(x, xp.broadcast_to(ext[None], (T, N, Sp)), 2) if T else xp.zeros((0, N, Sp), x.dtype)
    alpha = xp.full((T, N, Sp), ninf, x.dtype)
    if T:
        alpha[0, :, 0] = lpe[0, :, 0]
        if Sp > 1:
            alpha[0, :, 1] = xp.where(L_a[:, 0] > 0, lpe[0, :, 1], ninf)
        alpha[0] = xp.where(valid, alpha[0], ninf)
    for t in range(1, T):
        a = alpha[t - 1]
        a2 = xp.where(skip, _shift(xp, a, 2, ninf), ninf)
        alpha[t] = xp.where(valid, _lse(xp, a, _shift(xp, a, 1, ninf), a2) + lpe[t], ninf)
    last = xp.maximum(T_a[:, 0] - 1, 0)
    rows = xp.arange(N)
    end = 2 * L_a[:, 0]
    if T:
        a_end = alpha[last, rows, end]
        a_pre = xp.where(end > 0, alpha[last, rows, xp.maximum(end - 1, 0)], ninf)
        nll = -_lse(xp, a_end, a_pre)
    else:
        nll = xp.zeros((N,), x.dtype)
    nll = xp.where(T_a[:, 0] == 0, xp.where(L_a[:, 0] == 0, 0, xp.inf), nll).astype(x.dtype)
    out = xp.where(xp.isinf(nll), 0, nll).astype(x.dtype) if zero_infinity else nll

    def grad(g):
        beta = xp.full((T, N, Sp), ninf, x.dtype)
        at_end = (s_idx == end[:, None]) | ((s_idx == end[:, None] - 1) & (end[:, None] > 0))
        for t in range(T - 1, -1, -1):
            init = xp.where(at_end, lpe[t], ninf)
            if t + 1 < T:
                b = beta[t + 1]
                b2 = xp.where(skip_next, _shift(xp, b, -2, ninf), ninf)
                rec = _lse(xp, b, _shift(xp, b, -1, ninf), b2) + lpe[t]
            else:
                rec = xp.full((N, Sp), ninf, x.dtype)
            beta[t] = xp.where(valid & (T_a - 1 == t), init, xp.where(valid & (t < T_a - 1), rec, ninf))
        ab = alpha + beta                                                     # (T, N, Sp)
        m = ab.max(axis=2)                                                    # Sp >= 1: the blank-only path
        m = xp.where(xp.isfinite(m), m, 0)
        acc = xp.zeros((N, C, T), x.dtype)
        vals = xp.exp(ab - m[..., None]).transpose(1, 2, 0)                  # (N, Sp, T)
        scatter_add(acc, (xp.broadcast_to(rows[:, None], ext.shape), ext), vals)
        acc = acc.transpose(2, 0, 1)                                          # (T, N, C)
        lcab = xp.where(acc > 0, xp.log(xp.where(acc > 0, acc, 1)) + m[..., None], ninf)
        r = xp.exp(x) - xp.exp(lcab + nll[None, :, None] - x)
        r = r * g._data[None, :, None]
        keep = xp.arange(T)[:, None] < T_a.reshape(1, N)
        if zero_infinity:
            keep = keep & ~xp.isinf(nll)[None, :]
        return _wrap(xp.where(keep[..., None], r, 0).astype(x.dtype), g._device)
    return record(out, lp._device, (lp,), 'CtcLossBackward0', (grad,), (lp,))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction='mean', zero_infinity=False):
    """CTC loss of log_probs (T, N, C) or (T, C) against targets padded (N, S) or concatenated (sum of
    target_lengths); 'mean' divides each loss by its target length before averaging over the batch."""
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError(f'{reduction} is not a valid value for reduction')
    for name, t in (('log_probs', log_probs), ('targets', targets)):
        if not isinstance(t, Tensor):
            raise TypeError(f"ctc_loss(): argument '{name}' must be Tensor, not {type(t).__name__}")
    unbatched = log_probs.ndim == 2
    if unbatched:  # targets stay as given: 1-D ones are the (single) concatenated target
        log_probs = log_probs.unsqueeze(1)
    if log_probs.ndim != 3:
        raise RuntimeError(f"Expected 3-dimensional tensor, but got {log_probs.ndim}-dimensional tensor for argument "
                           f"#1 'log_probs' (while checking arguments for ctc_loss_allocate_outputs)")
    if log_probs.dtype.name not in ('float32', 'float64'):
        raise NotImplementedError(f'"ctc_loss_cpu" not implemented for \'{_dtname(log_probs)}\'')
    T, N, C = log_probs.shape
    Tl = _lengths(input_lengths, 'input_lengths', N)
    L = _lengths(target_lengths, 'target_lengths', N)
    if not 0 <= blank < C:
        raise RuntimeError('blank must be in label range')
    why = '(while checking arguments for ctc_loss_allocate_outputs)'
    for name, vals, hi in (('input_lengths', Tl, T), ('target_lengths', L, None)):
        for v in vals:
            if v < 0:
                raise RuntimeError(f'Expected {name} to have value at least 0, but got value {v} {why}')
            if hi is not None and v > hi:
                raise RuntimeError(f'Expected {name} to have value at most {hi}, but got value {v} {why}')
    xp = log_probs._device.xp
    td = targets._data.astype('int64')
    Lmax = max(L, default=0)
    if targets.ndim == 1:  # concatenated targets
        if sum(L) != td.shape[0]:
            raise RuntimeError(f"Expected tensor to have size {sum(L)} at dimension 0, but got size {td.shape[0]} "
                               f"for argument #2 'targets' {why}")
        tgt = xp.full((N, Lmax), blank, 'int64')
        off = 0
        for n, ln in enumerate(L):
            tgt[n, :ln] = td[off:off + ln]
            off += ln
    else:
        if targets.ndim != 2:
            raise RuntimeError(f'Expected 2-dimensional tensor, but got {targets.ndim}-dimensional tensor for '
                               f"argument #2 'targets' {why}")
        if targets.shape[0] != N:
            raise RuntimeError(f"Expected tensor to have size {N} at dimension 0, but got size {targets.shape[0]} "
                               f"for argument #2 'targets' {why}")
        if Lmax > targets.shape[1]:
            raise RuntimeError(f"Expected tensor to have size at least {Lmax} at dimension 1, but got size "
                               f"{targets.shape[1]} for argument #2 'targets' {why}")
        tgt = td[:, :Lmax]
    if tgt.size:
        mask = xp.arange(Lmax)[None, :] < xp.asarray(L)[:, None]
        used = tgt[mask]
        if used.size and (int(used.min()) < 0 or int(used.max()) >= C):
            raise RuntimeError(f'ctc_loss: target values must be in [0, {C}), got values in [{int(used.min())}, '
                               f'{int(used.max())}]')
        tgt = xp.where(mask, tgt, blank)
    ext = xp.full((N, 2 * Lmax + 1), blank, 'int64')
    ext[:, 1::2] = tgt
    loss = _ctc(log_probs, ext, L, Tl, blank, zero_infinity)
    if zero_infinity:
        _renamed(loss, 'WhereBackward0', log_probs)
    if reduction == 'sum':
        loss = loss.sum()
    elif reduction == 'mean':
        div = _wrap(xp.maximum(xp.asarray(L, dtype=log_probs._data.dtype).reshape(N), 1), log_probs._device)
        loss = (loss / div).mean()
    elif unbatched:
        loss = loss.squeeze(0)
    return loss
