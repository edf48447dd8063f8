"""Recurrent/attention benchmark: LSTM and TransformerEncoder forward+backward, ember vs PyTorch, same weights."""
# Threads: PyTorch gets as many as NumPy's BLAS (match_threads); on a busy machine pass --threads 1 (both libraries).
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import interleaved, match_threads, print_table, row, torch  # noqa: E402


def _copy_weights(src, dst, fw):
    """Load the PyTorch module's state_dict into the ember module, by name."""
    dst.load_state_dict({k: fw.tensor(v.detach().cpu().numpy()) for k, v in src.state_dict().items()})


def _pair(make_torch, make_ember):
    """(torch module, ember module with the same weights); without PyTorch, (None, ember module)."""
    import ember
    em = make_ember(ember)
    if torch is None:
        return None, em
    torch.manual_seed(0)
    tm = make_torch(torch)
    _copy_weights(tm, em, ember)
    return tm, em


def _fwd_bwd(model, x, unpack):
    """One step: forward, sum of the output, backward into the parameters and the input."""
    def step():
        for p in model.parameters():
            p.grad = None
        x.grad = None
        out = unpack(model(x))
        out.sum().backward()
    return step


def _input(fw, shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return fw.tensor(a, requires_grad=True)


def bench_lstm(T=50, B=32, I=32, H=128, repeat=20):
    import ember
    tm, em = _pair(lambda fw: fw.nn.LSTM(I, H), lambda fw: fw.nn.LSTM(I, H))
    name = f'LSTM fwd+bwd (input {I}, hidden {H}, seq {T}, batch {B})'
    e, t = interleaved(_fwd_bwd(em, _input(ember, (T, B, I)), lambda o: o[0]),
                       _fwd_bwd(tm, _input(torch, (T, B, I)), lambda o: o[0]) if tm is not None else None, repeat)
    return row(name, e, t, target=2.0)


def bench_lstm_variants(repeat=10):
    """Wider coverage, no targets: stacked bidirectional LSTM, GRU, packed input."""
    import ember
    rows = []
    T, B, I, H = 50, 32, 32, 128
    for label, kw in (('LSTM 2L bidir', dict(num_layers=2, bidirectional=True)), ('GRU', dict(cls='GRU'))):
        cls = kw.pop('cls', 'LSTM')
        tm, em = _pair(lambda fw: getattr(fw.nn, cls)(I, H, **kw), lambda fw: getattr(fw.nn, cls)(I, H, **kw))
        name = f'{label} fwd+bwd (in {I}, hid {H}, seq {T}, batch {B})'
        e, t = interleaved(_fwd_bwd(em, _input(ember, (T, B, I)), lambda o: o[0]),
                           _fwd_bwd(tm, _input(torch, (T, B, I)), lambda o: o[0]) if tm is not None else None, repeat)
        rows.append(row(name, e, t))
    lengths = sorted(np.random.default_rng(0).integers(10, T + 1, B).tolist(), reverse=True)
    lengths[0] = T

    def packed_step(fw, model):
        x = _input(fw, (T, B, I))
        pack = fw.nn.utils.rnn.pack_padded_sequence

        def step():
            for p in model.parameters():
                p.grad = None
            out, _ = model(pack(x, lengths))
            out.data.sum().backward()
        return step
    tm, em = _pair(lambda fw: fw.nn.LSTM(I, H), lambda fw: fw.nn.LSTM(I, H))
    name = f'LSTM packed fwd+bwd (len {min(lengths)}..{T}, hid {H}, batch {B})'
    e, t = interleaved(packed_step(ember, em), packed_step(torch, tm) if tm is not None else None, repeat)
    rows.append(row(name, e, t))
    return rows


def bench_transformer(layers=4, d_model=256, nhead=4, S=128, B=32, ff=1024, repeat=5):
    import ember

    def make(fw):
        layer = fw.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=ff, batch_first=True)
        return fw.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    tm, em = _pair(make, make)
    name = f'TransformerEncoder x{layers} fwd+bwd (d {d_model}, {nhead}h, seq {S}, b {B})'
    e, t = interleaved(_fwd_bwd(em, _input(ember, (B, S, d_model)), lambda o: o),
                       _fwd_bwd(tm, _input(torch, (B, S, d_model)), lambda o: o) if tm is not None else None,
                       repeat, warmup=1)
    return row(name, e, t)


def run(quick=False, threads=None):
    threads = match_threads(threads)
    rows = [bench_lstm()]
    if not quick:
        rows += bench_lstm_variants()
        rows.append(bench_transformer())
    print(f'threads: {threads}')
    print_table(rows, 'recurrent and attention layers: ember vs PyTorch (same process, same weights)')
    return rows


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--quick', action='store_true', help='only the LSTM workload with a target')
    ap.add_argument('--threads', type=int, default=None, help='threads for both libraries (default: BLAS\'s count)')
    args = ap.parse_args()
    run(args.quick, args.threads)
