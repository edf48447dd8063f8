"""ember.onnx.export: MLP, CNN, LSTM/GRU and TransformerEncoder run in onnxruntime equal to ember (1e-5)."""
import io

import numpy as np
import pytest

import ember

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
nn = ember.nn
F = ember.nn.functional


def _session(model, args, **kw):
    buf = io.BytesIO()
    ember.onnx.export(model, args, buf, **kw)
    return ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])


def _run(sess, *arrays):
    return sess.run(None, {i.name: a for i, a in zip(sess.get_inputs(), arrays)})


def _flat(out):
    if isinstance(out, ember.Tensor):
        return [out]
    return [t for o in out for t in _flat(o)]


def _check(model, *args, atol=1e-5, **kw):
    sess = _session(model, args, **kw)
    was = model.training
    model.eval()
    with ember.no_grad():
        ref = _flat(model(*args))
    model.train(was)
    got = _run(sess, *[a.numpy() for a in _flat(args)])
    assert len(got) == len(ref)
    for r, o in zip(ref, got):
        assert tuple(r.shape) == o.shape
        np.testing.assert_allclose(o, r.numpy(), atol=atol, rtol=1e-5)
    return sess


def test_mlp_and_dynamic_batch():
    ember.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 8),
                        nn.Tanh(), nn.Linear(8, 8), nn.LeakyReLU(0.1), nn.Linear(8, 4), nn.LogSoftmax(dim=1))
    sess = _check(mlp, ember.randn(5, 6), input_names=['x'], output_names=['logp'],
                  dynamic_axes={'x': {0: 'batch'}, 'logp': {0: 'batch'}})
    assert mlp.training  # export runs in eval mode and restores the training flag
    assert [i.name for i in sess.get_inputs()] == ['x'] and sess.get_outputs()[0].name == 'logp'
    assert sess.get_inputs()[0].shape == ['batch', 6]
    x = ember.randn(11, 6)
    mlp.eval()
    np.testing.assert_allclose(_run(sess, x.numpy())[0], mlp(x).detach().numpy(), atol=1e-5)


def test_cnn_with_batchnorm_pooling_and_flatten():
    ember.manual_seed(1)
    cnn = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding='valid', groups=2), nn.BatchNorm2d(8), nn.SiLU(),
        nn.AvgPool2d(2, ceil_mode=True), nn.Conv2d(8, 16, 1), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
        nn.Linear(16, 10))
    cnn.train()
    for _ in range(3):  # running statistics away from their initial values
        cnn(ember.randn(4, 3, 16, 16) * 2 + 1)
    cnn.eval()
    sess = _check(cnn, ember.randn(2, 3, 16, 16), dynamic_axes={'input': [0], 'output': [0]})
    x = ember.randn(5, 3, 16, 16)
    np.testing.assert_allclose(_run(sess, x.numpy())[0], cnn(x).detach().numpy(), atol=1e-5)


class _Functional(nn.Module):
    """Tensor ops between modules: the tracer records them (view, cat, slicing, chunk, +=, matmul, ...)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 6)
        self.scale = nn.Parameter(ember.ones(6) * 0.5)

    def forward(self, x):
        h = F.relu(self.conv(x))
        h = F.max_pool2d(h, 2)
        h = h.view(h.size(0), -1)
        y = self.fc(h)
        a, b = y.chunk(2, dim=1)
        z = ember.cat([a * b.sigmoid(), (b - 1) / 2], dim=1)
        z += y * self.scale
        w = z.unsqueeze(2) @ z.unsqueeze(1)
        s = w.permute(0, 2, 1).transpose(1, 2).mean(-1) + w[:, 0, :] - w[:, :, -1].exp().clamp(max=3.0)
        return F.softmax(s, dim=-1), ember.tanh(s).sum(1, keepdim=True).squeeze(1), s.max(dim=1)[0]


def test_functional_ops_between_modules():
    ember.manual_seed(2)
    model = _Functional()
    _check(model, ember.randn(3, 2, 8, 8))


@pytest.mark.parametrize('batch_first', [False, True])
def test_lstm_and_gru(batch_first):
    ember.manual_seed(3)
    shape = (3, 5, 4) if batch_first else (5, 3, 4)
    lstm = nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=batch_first)
    _check(lstm, ember.randn(*shape))
    h0, c0 = ember.randn(4, 3, 6), ember.randn(4, 3, 6)
    _check(lstm, ember.randn(*shape), (h0, c0))
    gru = nn.GRU(4, 6, num_layers=2, batch_first=batch_first)
    _check(gru, ember.randn(*shape))
    _check(nn.RNN(4, 6, nonlinearity='tanh', batch_first=batch_first), ember.randn(*shape))


def test_lstm_dynamic_sequence_and_batch():
    ember.manual_seed(4)
    lstm = nn.LSTM(3, 5, batch_first=True)
    sess = _session(lstm, ember.randn(2, 4, 3), output_names=['y', 'h', 'c'],
                    dynamic_axes={'input': [0, 1], 'y': [0, 1], 'h': [1], 'c': [1]})
    x = ember.randn(6, 9, 3)
    y, (h, c) = lstm(x)
    got = _run(sess, x.numpy())
    for a, b in zip(got, (y, h, c)):
        np.testing.assert_allclose(a, b.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize('batch_first,norm_first,activation', [(False, False, 'relu'), (True, True, 'gelu')])
def test_transformer_encoder(batch_first, norm_first, activation):
    ember.manual_seed(5)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, activation=activation,
                                       batch_first=batch_first, norm_first=norm_first)
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16), enable_nested_tensor=False)
    src = ember.randn(2, 7, 16) if batch_first else ember.randn(7, 2, 16)
    _check(enc.eval(), src)
    causal = nn.Transformer.generate_square_subsequent_mask(7)
    _check(enc, src, causal)  # mask as the second input


def test_transformer_padding_mask_as_dynamic_input():
    ember.manual_seed(6)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False).eval()
    src, kpm = ember.randn(2, 5, 8), ember.zeros(2, 5, dtype=ember.bool)
    sess = _session(enc, (src, {'src_key_padding_mask': kpm}), input_names=['src', 'kpm'],
                    dynamic_axes={'src': [0, 1], 'kpm': [0, 1], 'output': [0, 1]})
    src2 = ember.randn(3, 6, 8)
    kpm2 = ember.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] * 5 + [True]])
    with ember.no_grad():
        ref = enc(src2, src_key_padding_mask=kpm2)
    got = sess.run(None, {'src': src2.numpy(), 'kpm': kpm2.numpy()})[0]
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-5)


def test_multihead_attention_with_weights():
    ember.manual_seed(7)
    mha = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    q, kv = ember.randn(2, 3, 8), ember.randn(2, 5, 8)
    _check(mha, q, kv, kv)


def test_embedding_and_file_output(tmp_path):
    ember.manual_seed(8)
    model = nn.Sequential(nn.Embedding(20, 4), nn.Flatten(), nn.Linear(12, 3))
    path = tmp_path / 'model.onnx'
    idx = ember.tensor([[1, 5, 19], [0, 2, 2]])
    ember.onnx.export(model, (idx,), str(path), input_names=['tokens'], opset_version=17)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version == 17
    assert {'0.weight', '2.weight', '2.bias'} <= {i.name for i in proto.graph.initializer}
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    np.testing.assert_allclose(sess.run(None, {'tokens': idx.numpy()})[0], model(idx).detach().numpy(), atol=1e-6)


def test_other_opsets_and_export_params_false():
    ember.manual_seed(9)
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.ReLU())
    x = ember.randn(3, 4)
    for opset in (13, 18, 20):
        _check(model, x, opset_version=opset)
    buf = io.BytesIO()
    ember.onnx.export(model, (x,), buf, export_params=False)
    proto = onnx.load_from_string(buf.getvalue())
    names = [i.name for i in proto.graph.input]
    assert names[0] == 'input' and '0.weight' in names and not any(i.name == '0.weight'
                                                                     for i in proto.graph.initializer)


def test_no_rule_raises_naming_the_op():
    class Cum(nn.Module):
        def forward(self, x):
            return x.cumsum(1)
    with pytest.raises(ember.onnx.OnnxExportError, match="no ONNX export rule for op 'Tensor.cumsum'"):
        ember.onnx.export(Cum(), ember.randn(2, 3), io.BytesIO())
    from ember.ops.elementwise import exp as hidden_exp

    class Hidden(nn.Module):
        def forward(self, x):
            return hidden_exp(x) * 2
    with pytest.raises(ember.onnx.OnnxExportError, match='ExpBackward0'):
        ember.onnx.export(Hidden(), ember.randn(2, 3), io.BytesIO())
    with pytest.raises(ember.onnx.OnnxExportError, match='Dropout in training mode'):
        ember.onnx.export(nn.Dropout(0.5), ember.randn(2, 3), io.BytesIO(),
                          training=ember.onnx.TrainingMode.TRAINING)


def test_export_leaves_ember_untouched():
    # (Tensor's methods and Module.__call__ are inherited from mixins: the export's patches are removed after)
    add, call, prop = ember.Tensor.__add__, nn.Module.__call__, ember.Tensor.T
    model = nn.Linear(2, 2)
    ember.onnx.export(model, ember.randn(1, 2), io.BytesIO())
    assert ember.Tensor.__add__ is add and nn.Module.__call__ is call and ember.Tensor.T is prop
    assert '__add__' not in ember.Tensor.__dict__ and '__call__' not in nn.Module.__dict__
    assert all(p.requires_grad for p in model.parameters())
    assert not ember.onnx.is_in_onnx_export()
