"""ember.nn layers: RNN, LSTM, GRU (multi-layer, bidirectional, packed sequences) and RNNCell, LSTMCell, GRUCell."""
import math
import numbers
import warnings

from ..._creation import empty, zeros
from ..._tensor import Tensor
from ...ops import rnn as _fused
from ...ops.shape import cat, stack
from ..parameter import Parameter
from .. import init
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ['RNNBase', 'RNN', 'LSTM', 'GRU', 'RNNCellBase', 'RNNCell', 'LSTMCell', 'GRUCell']

_GATES = {'LSTM': 4, 'GRU': 3, 'RNN_TANH': 1, 'RNN_RELU': 1}


def _linear(x, w, b):
    from ...ops.nn_ops import linear
    return linear(x, w, b)


def _dropout(x, p, training):
    from .._functional.attention import _dropout as drop
    return drop(x, p, training)


def _dtype_name(t):
    return repr(t.dtype)


def _reset_uniform(self):
    """reset_parameters of the RNN layers and cells (PyTorch's): every parameter U(-1/sqrt(H), 1/sqrt(H))."""
    stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
    for weight in self.parameters():
        init.uniform_(weight, -stdv, stdv)


class RNNBase(Module):
    """The machinery shared by RNN, LSTM and GRU: parameters named as PyTorch names them, shape checks, and the
    layer/direction loop; each direction runs as one fused op over all time steps (ember.ops.rnn)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f'Unrecognized RNN mode: {mode}')
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError('dropout should be a number in range [0, 1] representing the probability of an element '
                             'being zeroed')
        if dropout > 0 and num_layers == 1:
            warnings.warn(f'dropout option adds dropout after all but last recurrent layer, so non-zero dropout '
                          f'expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}')
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f'hidden_size should be of type int, got: {type(hidden_size).__name__}')
        if hidden_size <= 0:
            raise ValueError('hidden_size must be greater than zero')
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError('num_layers must be greater than zero')
        if proj_size < 0:
            raise ValueError('proj_size should be a positive integer or zero to disable projections')
        if proj_size >= hidden_size:
            raise ValueError('proj_size has to be smaller than hidden_size')
        if proj_size and mode != 'LSTM':
            raise ValueError('proj_size argument is only supported for LSTM, not RNN or GRU')
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        kw = {'device': device, 'dtype': dtype}
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                suffix = '_reverse' if direction == 1 else ''
                params = [('weight_ih_l{}{}', (gate_size, layer_input)), ('weight_hh_l{}{}', (gate_size, real_hidden))]
                if bias:
                    params += [('bias_ih_l{}{}', (gate_size,)), ('bias_hh_l{}{}', (gate_size,))]
                if proj_size > 0:
                    params.append(('weight_hr_l{}{}', (proj_size, hidden_size)))
                names = []
                for fmt, shape in params:
                    name = fmt.format(layer, suffix)
                    setattr(self, name, Parameter(empty(shape, **kw)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    # ---- PyTorch's parameter introspection ------------------------------------------------------------------
    @property
    def _flat_weights(self):
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, w) for w in weights] for weights in self._all_weights]

    def flatten_parameters(self):
        """Parameters are already used in place; kept for API compatibility."""

    reset_parameters = _reset_uniform

    def extra_repr(self):
        s = f'{self.input_size}, {self.hidden_size}'
        if self.proj_size != 0:
            s += f', proj_size={self.proj_size}'
        if self.num_layers != 1:
            s += f', num_layers={self.num_layers}'
        if self.bias is not True:
            s += f', bias={self.bias}'
        if self.batch_first is not False:
            s += f', batch_first={self.batch_first}'
        if self.dropout != 0:
            s += f', dropout={self.dropout}'
        if self.bidirectional is not False:
            s += f', bidirectional={self.bidirectional}'
        return s

    def _get_name(self):
        return type(self).__name__

    # ---- shape checks -----------------------------------------------------------------------------------------
    def _layer_weights(self, layer, direction):
        suffix = '_reverse' if direction == 1 else ''
        g = lambda n: getattr(self, f'{n}_l{layer}{suffix}', None)  # noqa: E731
        return g('weight_ih'), g('weight_hh'), g('bias_ih'), g('bias_hh'), g('weight_hr')

    def _check_input(self, input, batch_sizes):
        name = self._get_name()
        if not isinstance(input, Tensor):
            raise TypeError(f'{name}: expected input to be a Tensor or PackedSequence, got {type(input).__name__}')
        w = self.weight_ih_l0
        if input.dtype != w.dtype:
            raise ValueError(f'{name} input dtype ({_dtype_name(input)}) does not match weight dtype '
                             f'({_dtype_name(w)}). Convert input: input.to({_dtype_name(w)}), or convert model: '
                             f'model.to({_dtype_name(input)})')
        if input.device != w.device:
            raise RuntimeError(f'{name}: input is on {input.device} but the weights are on {w.device}')
        expected = 2 if batch_sizes is not None else 3
        if input.ndim != expected:
            raise RuntimeError(f'{name}: input must have {expected} dimensions, got {input.ndim}')
        if self.input_size != input.shape[-1]:
            raise RuntimeError(f'{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, '
                               f'got {input.shape[-1]}')

    def _check_hidden(self, hx, expected, msg='Expected hidden size {}, got {}'):
        if tuple(hx.shape) != tuple(expected):
            raise RuntimeError(f'{self._get_name()}: ' + msg.format(tuple(expected), list(hx.shape)))
        w = self.weight_ih_l0
        if hx.dtype != w.dtype:
            raise RuntimeError(f'{self._get_name()}: hidden state has dtype {hx.dtype.name} but the weights are '
                               f'{w.dtype.name}')
        if hx.device != w.device:
            raise RuntimeError(f'{self._get_name()}: Input and hidden tensors are not at the same device, found input '
                               f'tensor at {w.device} and hidden tensor at {hx.device}')

    # ---- the forward shared by RNN, LSTM, GRU -------------------------------------------------------------
    def _prepare(self, input, hx):
        """Validate; return (flat time-major data, batch_sizes or None, T, B, unbatched, sorted/unsorted indices,
        hx tuple permuted into the packed order or None)."""
        name = self._get_name()
        sorted_indices = unsorted_indices = None
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            bs = [int(b) for b in batch_sizes.tolist()]
            self._check_input(data, bs)
            B = bs[0] if bs else 0
            if hx is not None and sorted_indices is not None:
                hx = tuple(h.index_select(1, sorted_indices) for h in hx)
            return data, bs, len(bs), B, False, sorted_indices, unsorted_indices, hx
        if not isinstance(input, Tensor):
            raise TypeError(f'{name}: expected input to be a Tensor or PackedSequence, got {type(input).__name__}')
        if input.ndim not in (2, 3):
            raise ValueError(f'{name}: Expected input to be 2D or 3D, got {input.ndim}D instead')
        unbatched = input.ndim == 2
        if unbatched:
            input = input.unsqueeze(1)
            if hx is not None:
                if any(h.ndim != 2 for h in hx):
                    dims = ', '.join(f'{h.ndim}-D' for h in hx)
                    what = 'hx and cx' if len(hx) == 2 else 'hx'
                    raise RuntimeError(f'{name}: For unbatched 2-D input, {what} should also be 2-D but got '
                                       f'({dims}) tensor{"s" if len(hx) == 2 else ""}')
                hx = tuple(h.unsqueeze(1) for h in hx)
        elif hx is not None and any(h.ndim != 3 for h in hx):
            dims = ', '.join(f'{h.ndim}-D' for h in hx)
            what = 'hx and cx' if len(hx) == 2 else 'hx'
            raise RuntimeError(f'{name}: For batched 3-D input, {what} should also be 3-D but got ({dims}) '
                               f'tensor{"s" if len(hx) == 2 else ""}')
        elif self.batch_first:
            input = input.transpose(0, 1)
        self._check_input(input, None)
        T, B = input.shape[0], input.shape[1]
        data = input.reshape(T * B, input.shape[2])
        return data, None, T, B, unbatched, None, None, hx

    def _run(self, input, hx):
        """Returns (output, hidden tuple) in the caller's layout."""
        packed = isinstance(input, PackedSequence)
        data, bs, T, B, unbatched, sorted_indices, unsorted_indices, hx = self._prepare(input, hx)
        D = 2 if self.bidirectional else 1
        L = self.num_layers
        P = self.proj_size if self.proj_size > 0 else self.hidden_size
        H = self.hidden_size
        lstm = self.mode == 'LSTM'
        kw = {'dtype': data.dtype, 'device': data.device}
        if hx is None:
            h0 = zeros((L * D, B, P), **kw)
            c0 = zeros((L * D, B, H), **kw) if lstm else None
        else:
            if lstm:
                self._check_hidden(hx[0], (L * D, B, P), 'Expected hidden[0] size {}, got {}')
                self._check_hidden(hx[1], (L * D, B, H), 'Expected hidden[1] size {}, got {}')
                h0, c0 = hx
            else:
                self._check_hidden(hx[0], (L * D, B, P))
                h0, c0 = hx[0], None
        x = data
        h_out, c_out = [], []
        for layer in range(L):
            outs = []
            for d in range(D):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(layer, d)
                i = layer * D + d
                if self.mode == 'GRU':
                    gx = _linear(x, w_ih, b_ih)
                    y, hn = _fused.gru_layer(gx, w_hh, b_hh, h0[i], bs, reverse=d == 1)
                else:
                    gx = _linear(x, w_ih, None if b_ih is None else b_ih + b_hh)
                    if lstm:
                        y, hn, cn = _fused.lstm_layer(gx, w_hh, h0[i], c0[i], w_hr, bs, reverse=d == 1)
                        c_out.append(cn)
                    else:
                        y, hn = _fused.rnn_layer(gx, w_hh, h0[i], 'tanh' if self.mode == 'RNN_TANH' else 'relu',
                                                 bs, reverse=d == 1)
                outs.append(y)
                h_out.append(hn)
            x = outs[0] if D == 1 else cat(outs, -1)
            if self.dropout > 0 and self.training and layer < L - 1:
                x = _dropout(x, self.dropout, True)
        hidden = [stack(h_out, 0)] + ([stack(c_out, 0)] if lstm else [])
        if packed:
            if unsorted_indices is not None:
                hidden = [h.index_select(1, unsorted_indices) for h in hidden]
            return PackedSequence(x, input.batch_sizes, sorted_indices, unsorted_indices), tuple(hidden)
        out = x.reshape(T, B, x.shape[-1])
        if unbatched:
            return out.squeeze(1), tuple(h.squeeze(1) for h in hidden)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, tuple(hidden)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, **kwargs):
        if 'proj_size' in kwargs:
            raise ValueError('proj_size argument is only supported for LSTM, not RNN or GRU')
        if kwargs:
            raise TypeError(f'RNN.__init__() got an unexpected keyword argument {next(iter(kwargs))!r}')
        if nonlinearity == 'tanh':
            mode = 'RNN_TANH'
        elif nonlinearity == 'relu':
            mode = 'RNN_RELU'
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        out, (h,) = self._run(input, None if hx is None else (hx,))
        return out, h


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o; c_t = f c_{t-1} + i g, h_t = o tanh(c_t) (projected by
    W_hr when proj_size > 0)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__('LSTM', input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise RuntimeError('LSTM: hx must be a tuple (h_0, c_0) of two tensors')
            hx = tuple(hx)
        out, (h, c) = self._run(input, hx)
        return out, (h, c)


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h_t = (1 - z) n + z h_{t-1}."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, **kwargs):
        if 'proj_size' in kwargs:
            raise ValueError('proj_size argument is only supported for LSTM, not RNN or GRU')
        if kwargs:
            raise TypeError(f'GRU.__init__() got an unexpected keyword argument {next(iter(kwargs))!r}')
        super().__init__('GRU', input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        out, (h,) = self._run(input, None if hx is None else (hx,))
        return out, h


# ---- cells -----------------------------------------------------------------------------------------------------

class RNNCellBase(Module):
    """Parameters weight_ih (chunks * hidden, input), weight_hh (chunks * hidden, hidden), bias_ih, bias_hh."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = {'device': device, 'dtype': dtype}
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), **kw))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, **kw))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, **kw))
        else:
            self.register_parameter('bias_ih', None)
            self.register_parameter('bias_hh', None)
        self.reset_parameters()

    reset_parameters = _reset_uniform

    def extra_repr(self):
        s = f'{self.input_size}, {self.hidden_size}'
        if self.bias is not True:
            s += f', bias={self.bias}'
        if getattr(self, 'nonlinearity', 'tanh') != 'tanh':
            s += f', nonlinearity={self.nonlinearity}'
        return s

    def _prepare(self, input, hx):
        """(2-D input, tuple of 2-D states or None, unbatched flag) after the checks."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f'{name}: expected input to be a Tensor, got {type(input).__name__}')
        if input.ndim not in (1, 2):
            raise ValueError(f'{name}: Expected input to be 1D or 2D, got {input.ndim}D instead')
        if input.dtype != self.weight_ih.dtype:
            raise RuntimeError(f'{name}: input has dtype {input.dtype.name} but the weights are '
                               f'{self.weight_ih.dtype.name}')
        unbatched = input.ndim == 1
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f'{name}: input has inconsistent input_size: got {input.shape[-1]} expected '
                               f'{self.input_size}')
        if unbatched:
            input = input.unsqueeze(0)
        if hx is not None:
            out = []
            for k, h in enumerate(hx):
                if h.ndim != (1 if unbatched else 2):
                    raise ValueError(f'{name}: Expected hidden to be {1 if unbatched else 2}D for '
                                     f'{"unbatched 1D" if unbatched else "batched 2D"} input, got {h.ndim}D instead')
                if unbatched:
                    h = h.unsqueeze(0)
                if h.shape[0] != input.shape[0]:
                    raise RuntimeError(f"{name}: Input batch size {input.shape[0]} doesn't match hidden{k} batch "
                                       f"size {h.shape[0]}")
                if h.shape[1] != self.hidden_size:
                    raise RuntimeError(f'{name}: hidden{k} has inconsistent hidden_size: got {h.shape[1]}, expected '
                                       f'{self.hidden_size}')
                out.append(h)
            hx = tuple(out)
        return input, hx, unbatched

    def _zeros(self, input):
        return zeros((input.shape[0], self.hidden_size), dtype=input.dtype, device=input.device)


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity='tanh', device=None, dtype=None):
        if nonlinearity not in ('tanh', 'relu'):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, hx, unbatched = self._prepare(input, None if hx is None else (hx,))
        h = hx[0] if hx is not None else self._zeros(x)
        gx = _linear(x, self.weight_ih, None if self.bias_ih is None else self.bias_ih + self.bias_hh)
        out = _fused.rnn_layer(gx, self.weight_hh, h, self.nonlinearity)[1]
        return out.squeeze(0) if unbatched else out


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, hx, unbatched = self._prepare(input, hx)
        if hx is None:
            h = c = self._zeros(x)
        else:
            if len(hx) != 2:
                raise RuntimeError('LSTMCell: hx must be a tuple (h_0, c_0) of two tensors')
            h, c = hx
        gx = _linear(x, self.weight_ih, None if self.bias_ih is None else self.bias_ih + self.bias_hh)
        _, h1, c1 = _fused.lstm_layer(gx, self.weight_hh, h, c)
        if unbatched:
            return h1.squeeze(0), c1.squeeze(0)
        return h1, c1


class GRUCell(RNNCellBase):
    """One GRU step: h' = (1 - z) n + z h."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, hx, unbatched = self._prepare(input, None if hx is None else (hx,))
        h = hx[0] if hx is not None else self._zeros(x)
        gx = _linear(x, self.weight_ih, self.bias_ih)
        out = _fused.gru_layer(gx, self.weight_hh, self.bias_hh, h)[1]
        return out.squeeze(0) if unbatched else out
