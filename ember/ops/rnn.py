"""Fused recurrent layers: one recorded op runs a whole RNN/LSTM/GRU direction over time, forward and BPTT side by side.

Every op takes the input projection of all time steps already computed (one GEMM by the caller), laid out time-major
and flat: ``gx`` is ``(N, G)`` where step t owns rows ``offs[t]:offs[t] + batch_sizes[t]`` (a PackedSequence's data
layout; a padded batch is the special case of equal batch sizes). Sequences are sorted by decreasing length, so the
rows active at a step are a prefix of the batch. Per step the forward does one GEMM for the hidden projection and the
gate math in place on preallocated arrays; the backward walks the steps in reverse with a handful of array ops per
step and computes the weight gradients in one GEMM over all steps at the end.

Under ``create_graph`` the backward re-runs the layer with ordinary recorded ops and differentiates that, so double
backward works (slowly).
"""
from ..autograd.grad_mode import _State
from ._util import _wrap, record_joint

__all__ = ['lstm_layer', 'gru_layer', 'rnn_layer']


def _steps(n_rows, batch_sizes, reverse):
    """(batch, row offset) per step in processing order, and the batch size (the first step's)."""
    offs, off = [], 0
    for b in batch_sizes:
        offs.append(off)
        off += b
    if off != n_rows:
        raise RuntimeError(f'fused rnn: batch_sizes sum to {off} but the input has {n_rows} rows')
    steps = list(zip(batch_sizes, offs))
    return steps[::-1] if reverse else steps


def _uniform(n_rows, batch, batch_sizes):
    if batch_sizes is not None:
        return list(batch_sizes)
    if batch == 0 or n_rows % batch:
        raise RuntimeError(f'fused rnn: {n_rows} input rows do not split into steps of batch {batch}')
    return [batch] * (n_rows // batch)


def _layout(gx, h0, batch_sizes, reverse):
    """The array module, projections, row count, per-step batch sizes, steps in order and dtype of one direction."""
    G = gx._data
    N = G.shape[0]
    bs = _uniform(N, h0.shape[0], batch_sizes)
    return gx._device.xp, G, N, bs, _steps(N, bs, reverse), G.dtype


def _grad_seed(xp, g, shape, dt):
    """A writable float copy of an incoming state gradient (zeros when it did not reach this output)."""
    return xp.zeros(shape, dt) if g is None else g._data.astype(dt, copy=True)


def _input_grads(inputs, device, *makers):
    """One gradient per input: ``makers[i]()`` wrapped, computed only for inputs that require a gradient."""
    return [_wrap(make(), device) if t is not None and t._rg else None for t, make in zip(inputs, makers)]


def _in_time_order(outs):
    """The per-step outputs of a composite (keyed by row offset) as one (N, ...) tensor."""
    from .shape import cat
    return cat([outs[k] for k in sorted(outs)], 0)


def _sigmoid_(xp, a):
    """In-place logistic function."""
    xp.negative(a, out=a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)


def _double_backward(composite, inputs, grads, n_out):
    """Gradients of ``inputs`` that themselves carry a graph: differentiate the composite (op-by-op) form."""
    from ..autograd import grad as _grad
    from .._creation import zeros_like
    outs = composite(*inputs)
    want = [i for i, t in enumerate(inputs) if t is not None and t._rg]
    pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
    res = [None] * len(inputs)
    if not pairs:
        return res
    got = _grad([o for o, _ in pairs], [inputs[i] for i in want], [g for _, g in pairs], retain_graph=True,
                create_graph=True, allow_unused=True)
    for i, g in zip(want, got):
        res[i] = g if g is not None else zeros_like(inputs[i])
    return res


# ---- LSTM ------------------------------------------------------------------------------------------------------

def lstm_layer(gx, w_hh, h0, c0, w_hr=None, batch_sizes=None, reverse=False):
    """One LSTM direction. gx: (N, 4H) input projections with both biases; w_hh: (4H, P); h0: (B, P); c0: (B, H);
    w_hr: (P, H) or None. Returns output (N, P), h_n (B, P), c_n (B, H). Gate order i, f, g, o."""
    xp, G, N, bs, steps, dt = _layout(gx, h0, batch_sizes, reverse)
    H = c0.shape[-1]
    B, P = h0.shape
    H2, H3 = 2 * H, 3 * H
    Whh = w_hh._data
    Whr = w_hr._data if w_hr is not None else None
    WhrT = xp.ascontiguousarray(Whr.T) if Whr is not None else None
    # One exp for all four gates: scale the pre-activations by -1 (i, f, o) and -2 (g), so that
    # 1 / (1 + exp(.)) is sigmoid(x) for i, f, o and (tanh(x) + 1) / 2 for g. The scaling is exact (powers of two).
    neg = xp.full((4 * H,), -1, dt)
    neg[H2:H3] = -2
    # contiguous (P, 4H): BLAS multiplies by a transposed view ~30% slower at these sizes
    WnT = xp.ascontiguousarray((Whh * neg[:, None]).T)
    Gn = G * neg
    A = xp.empty((N, 4 * H), dt)          # activated gates i, f, g, o
    Cp = xp.empty((N, H), dt)             # cell state before the step
    TC = xp.empty((N, H), dt)             # tanh(cell state after the step)
    Hp = xp.empty((N, P), dt)             # hidden state before the step
    Hout = xp.empty((N, P), dt)
    Hraw = xp.empty((N, H), dt) if Whr is not None else None
    h = h0._data.astype(dt, copy=True)
    c = c0._data.astype(dt, copy=True)
    tmp = xp.empty((B, H), dt)
    for b, s in steps:
        e = s + b
        hb, cb = h[:b], c[:b]
        Hp[s:e] = hb
        Cp[s:e] = cb
        a = A[s:e]
        xp.matmul(hb, WnT, out=a)
        a += Gn[s:e]
        xp.exp(a, out=a)
        a += 1
        xp.reciprocal(a, out=a)
        gg = a[:, H2:H3]
        gg *= 2
        gg -= 1
        cb *= a[:, H:H2]
        t = tmp[:b]
        xp.multiply(a[:, :H], gg, out=t)
        cb += t
        tc = TC[s:e]
        xp.tanh(cb, out=tc)
        if Whr is None:
            xp.multiply(a[:, H3:], tc, out=hb)
        else:
            hr = Hraw[s:e]
            xp.multiply(a[:, H3:], tc, out=hr)
            xp.matmul(hr, WhrT, out=hb)
        Hout[s:e] = hb
    del Gn
    inputs = (gx, w_hh, h0, c0, w_hr)

    def backward(grads):
        dy, dhn, dcn = grads
        if _State.grad_enabled:
            return _double_backward(lambda *t: lstm_layer_composite(*t, batch_sizes=bs, reverse=reverse),
                                    inputs, grads, 3)
        dHo = dy._data if dy is not None else None
        dh, dc = _grad_seed(xp, dhn, (B, P), dt), _grad_seed(xp, dcn, (B, H), dt)
        # Everything that does not depend on the incoming gradient, for every step at once (a few large passes
        # instead of many small ones inside the loop): with sigmoid' = s (1 - s) and tanh' = 1 - g^2,
        #   d i_pre = dc * g (1 - i) i,  d f_pre = dc * c_prev (1 - f) f,  d g_pre = dc * i (1 - g^2),
        #   d o_pre = dh * tanh(c) (1 - o) o,  and dc picks up dh * o (1 - tanh(c)^2).
        coef = 1 - A
        coef *= A
        gA = A[:, H2:H3]
        xp.multiply(gA, gA, out=coef[:, H2:H3])
        xp.subtract(1, coef[:, H2:H3], out=coef[:, H2:H3])
        coef[:, :H] *= gA
        coef[:, H:H2] *= Cp
        coef[:, H2:H3] *= A[:, :H]
        coef[:, H3:] *= TC
        K = TC * TC
        xp.subtract(1, K, out=K)
        K *= A[:, H3:]
        coef3 = coef[:, :H3].reshape(N, 3, H)
        dA = xp.empty((N, 4 * H), dt)
        dA3 = dA[:, :H3].reshape(N, 3, H)
        dHr = xp.empty((N, P), dt) if Whr is not None else None
        tmp = xp.empty((B, H), dt)
        for b, s in reversed(steps):
            e = s + b
            dhb, dcb = dh[:b], dc[:b]
            if dHo is not None:
                dhb += dHo[s:e]
            if Whr is not None:
                dHr[s:e] = dhb
                dhb = dhb @ Whr
            xp.multiply(dhb, coef[s:e, H3:], out=dA[s:e, H3:])
            t = tmp[:b]
            xp.multiply(dhb, K[s:e], out=t)
            dcb += t
            xp.multiply(dcb[:, None, :], coef3[s:e], out=dA3[s:e])   # the i, f, g gates in one call
            dcb *= A[s:e, H:H2]
            xp.matmul(dA[s:e], Whh, out=dh[:b])
        return _input_grads(inputs, gx._device, lambda: dA, lambda: dA.T @ Hp,
                            lambda: dh.astype(h0._data.dtype, copy=False),
                            lambda: dc.astype(c0._data.dtype, copy=False), lambda: dHr.T @ Hraw)

    return record_joint((Hout, h, c), gx._device, inputs, 'LstmBackward0', backward)


def _step_merge(new, old, b):
    """The state after a step that updated only the first b rows."""
    from .shape import cat
    return new if b == old.shape[0] else cat([new, old[b:]], 0)


def lstm_cell(a, c, w_hr=None):
    """The LSTM step, the reference the fused layer is pinned to: gate pre-activations a (B, 4H) (input and hidden
    projections with both biases, gate order i, f, g, o) and cell state c (B, H) -> (h', c')."""
    i, f, g, o = a.chunk(4, 1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return (h if w_hr is None else h.matmul(w_hr.t())), c


def lstm_layer_composite(gx, w_hh, h0, c0, w_hr=None, batch_sizes=None, reverse=False):
    """lstm_layer as lstm_cell over the steps, in ordinary recorded ops (reference, and the double-backward path)."""
    bs = _uniform(gx.shape[0], h0.shape[0], batch_sizes)
    h, c = h0, c0
    outs = {}
    for b, s in _steps(gx.shape[0], bs, reverse):
        hn, cn = lstm_cell(gx[s:s + b] + h[:b].matmul(w_hh.t()), c[:b], w_hr)
        outs[s] = hn
        h, c = _step_merge(hn, h, b), _step_merge(cn, c, b)
    return _in_time_order(outs), h, c


# ---- GRU -------------------------------------------------------------------------------------------------------

def gru_layer(gx, w_hh, b_hh, h0, batch_sizes=None, reverse=False):
    """One GRU direction. gx: (N, 3H) input projections with b_ih; w_hh: (3H, H); b_hh: (3H,) or None; h0: (B, H).
    Returns output (N, H), h_n (B, H). Gate order r, z, n with n = tanh(x_n + r * (W_hn h + b_hn))."""
    xp, G, N, bs, steps, dt = _layout(gx, h0, batch_sizes, reverse)
    B, H = h0.shape
    Whh = w_hh._data
    WhhT = xp.ascontiguousarray(Whh.T)   # BLAS is faster on a contiguous right operand
    bhh = b_hh._data if b_hh is not None else None
    A = xp.empty((N, 3 * H), dt)          # r, z, n activations
    GH = xp.empty((N, 3 * H), dt)         # hidden projections (the n part is needed by backward)
    Hp = xp.empty((N, H), dt)
    Hout = xp.empty((N, H), dt)
    h = h0._data.astype(dt, copy=True)
    H2 = 2 * H
    for b, s in steps:
        e = s + b
        hb = h[:b]
        Hp[s:e] = hb
        gh = GH[s:e]
        xp.matmul(hb, WhhT, out=gh)
        if bhh is not None:
            gh += bhh
        a = A[s:e]
        xp.add(G[s:e, :H2], gh[:, :H2], out=a[:, :H2])
        _sigmoid_(xp, a[:, :H2])
        n = a[:, H2:]
        xp.multiply(a[:, :H], gh[:, H2:], out=n)
        n += G[s:e, H2:]
        xp.tanh(n, out=n)
        # h' = n + z * (h - n)
        hb -= n
        hb *= a[:, H:H2]
        hb += n
        Hout[s:e] = hb
    inputs = (gx, w_hh, b_hh, h0)

    def backward(grads):
        dy, dhn = grads
        if _State.grad_enabled:
            return _double_backward(lambda *t: gru_layer_composite(*t, batch_sizes=bs, reverse=reverse),
                                    inputs, grads, 2)
        dHo = dy._data if dy is not None else None
        dh = _grad_seed(xp, dhn, (B, H), dt)
        dGX = xp.empty((N, 3 * H), dt)
        dGH = xp.empty((N, 3 * H), dt)
        for b, s in reversed(steps):
            e = s + b
            dhb = dh[:b]
            if dHo is not None:
                dhb += dHo[s:e]
            a = A[s:e]
            r, z, n = a[:, :H], a[:, H:H2], a[:, H2:]
            dgx, dgh = dGX[s:e], dGH[s:e]
            # dn_pre = dh * (1 - z) * (1 - n^2)
            dnp = dgx[:, H2:]
            xp.multiply(n, n, out=dnp)
            xp.subtract(1, dnp, out=dnp)
            dnp *= dhb
            dnp -= dnp * z
            xp.multiply(dnp, r, out=dgh[:, H2:])
            # dr_pre = dn_pre * gh_n * r * (1 - r);  dz_pre = dh * (h - n) * z * (1 - z)
            drz = dgx[:, :H2]
            xp.multiply(dnp, GH[s:e, H2:], out=drz[:, :H])
            xp.subtract(Hp[s:e], n, out=drz[:, H:])
            drz[:, H:] *= dhb
            der = 1 - a[:, :H2]
            der *= a[:, :H2]
            drz *= der
            dgh[:, :H2] = drz
            dhb *= z
            dhb += dgh @ Whh
        return _input_grads(inputs, gx._device, lambda: dGX, lambda: dGH.T @ Hp, lambda: dGH.sum(0),
                            lambda: dh.astype(h0._data.dtype, copy=False))

    return record_joint((Hout, h), gx._device, inputs, 'GruBackward0', backward)


def gru_layer_composite(gx, w_hh, b_hh, h0, batch_sizes=None, reverse=False):
    """gru_layer written with ordinary recorded ops."""
    bs = _uniform(gx.shape[0], h0.shape[0], batch_sizes)
    H = h0.shape[-1]
    h = h0
    outs = {}
    for b, s in _steps(gx.shape[0], bs, reverse):
        x = gx[s:s + b]
        gh = h[:b].matmul(w_hh.t())
        if b_hh is not None:
            gh = gh + b_hh
        r = (x[:, :H] + gh[:, :H]).sigmoid()
        z = (x[:, H:2 * H] + gh[:, H:2 * H]).sigmoid()
        n = (x[:, 2 * H:] + r * gh[:, 2 * H:]).tanh()
        hn = (1 - z) * n + z * h[:b]
        outs[s] = hn
        h = _step_merge(hn, h, b)
    return _in_time_order(outs), h


# ---- Elman RNN -------------------------------------------------------------------------------------------------

def rnn_layer(gx, w_hh, h0, nonlinearity='tanh', batch_sizes=None, reverse=False):
    """One Elman RNN direction: h' = act(gx + h W_hh^T), gx with both biases. Returns output (N, H), h_n (B, H)."""
    if nonlinearity not in ('tanh', 'relu'):
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
    xp, G, N, bs, steps, dt = _layout(gx, h0, batch_sizes, reverse)
    B, H = h0.shape
    Whh = w_hh._data
    WhhT = xp.ascontiguousarray(Whh.T)   # BLAS is faster on a contiguous right operand
    Hp = xp.empty((N, H), dt)
    Hout = xp.empty((N, H), dt)
    h = h0._data.astype(dt, copy=True)
    tanh = nonlinearity == 'tanh'
    for b, s in steps:
        e = s + b
        hb = h[:b]
        Hp[s:e] = hb
        a = Hout[s:e]
        xp.matmul(hb, WhhT, out=a)
        a += G[s:e]
        if tanh:
            xp.tanh(a, out=a)
        else:
            xp.maximum(a, 0, out=a)
        hb[...] = a
    inputs = (gx, w_hh, h0)

    def backward(grads):
        dy, dhn = grads
        if _State.grad_enabled:
            return _double_backward(lambda *t: rnn_layer_composite(*t, nonlinearity, bs, reverse), inputs, grads, 2)
        dHo = dy._data if dy is not None else None
        dh = _grad_seed(xp, dhn, (B, H), dt)
        dA = xp.empty((N, H), dt)
        for b, s in reversed(steps):
            e = s + b
            dhb = dh[:b]
            if dHo is not None:
                dhb += dHo[s:e]
            y = Hout[s:e]
            d = dA[s:e]
            if tanh:
                xp.multiply(y, y, out=d)
                xp.subtract(1, d, out=d)
                d *= dhb
            else:
                xp.multiply(dhb, y > 0, out=d)
            xp.matmul(d, Whh, out=dhb)
        return _input_grads(inputs, gx._device, lambda: dA, lambda: dA.T @ Hp,
                            lambda: dh.astype(h0._data.dtype, copy=False))

    name = 'RnnTanhBackward0' if tanh else 'RnnReluBackward0'
    return record_joint((Hout, h), gx._device, inputs, name, backward, protect_first=True)


def rnn_layer_composite(gx, w_hh, h0, nonlinearity='tanh', batch_sizes=None, reverse=False):
    """rnn_layer written with ordinary recorded ops."""
    bs = _uniform(gx.shape[0], h0.shape[0], batch_sizes)
    h = h0
    outs = {}
    for b, s in _steps(gx.shape[0], bs, reverse):
        a = gx[s:s + b] + h[:b].matmul(w_hh.t())
        hn = a.tanh() if nonlinearity == 'tanh' else a.relu()
        outs[s] = hn
        h = _step_merge(hn, h, b)
    return _in_time_order(outs), h
