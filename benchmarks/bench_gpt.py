"""Small-transformer training steps, ember vs PyTorch: a minGPT-style character GPT and a makemore-style one.

Both models are written here once for both frameworks (``fw`` is ``ember`` or ``torch``): token and position
embeddings, pre-norm blocks of causal self-attention (hand-written, as minGPT and makemore do: q/k/v projections,
``q @ k^T`` scaled, a causal mask filled with -inf, softmax, ``@ v``) and a GELU MLP, a final LayerNorm and a linear
head, cross-entropy over the vocabulary and an AdamW step. Same weights and data in both frameworks.
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import compare, match_threads, print_table, torch  # noqa: E402

CONFIGS = {  # name: vocab, block size, layers, heads, embedding width, batch, dropout
    'minGPT char (65 tokens, block 64, 4 layers, 4 heads, d 128, batch 32)': (65, 64, 4, 4, 128, 32, 0.1),
    'makemore transformer (27 tokens, block 16, 4 layers, 4 heads, d 64, batch 32)': (27, 16, 4, 4, 64, 32, 0.0),
}


def gpt(fw, vocab, block, n_layer, n_head, d, dropout):
    nn, F = fw.nn, fw.nn.functional

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.drop = nn.Dropout(dropout)
            self.register_buffer('mask', fw.tril(fw.ones(block, block)).view(1, 1, block, block))

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.qkv(x).split(d, dim=2)
            q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
            k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
            v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float('-inf'))
            att = self.drop(F.softmax(att, dim=-1))
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            return self.drop(self.proj(y))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = SelfAttention()
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(dropout))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(block, d)
            self.blocks = nn.Sequential(*[Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx, targets):
            T = idx.size(1)
            x = self.tok(idx) + self.pos(fw.arange(T))
            logits = self.head(self.ln_f(self.blocks(x)))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
    return GPT()


def train_step(cfg):
    vocab, block, n_layer, n_head, d, batch, dropout = cfg

    def make(fw):
        fw.manual_seed(0)
        model = gpt(fw, vocab, block, n_layer, n_head, d, dropout)
        with fw.no_grad():  # identical weights in both frameworks
            for i, p in enumerate(model.parameters()):
                a = np.random.default_rng(i).standard_normal(tuple(p.shape)).astype(np.float32) * 0.02
                p.copy_(fw.tensor(a))
        rng = np.random.default_rng(0)
        idx = fw.tensor(rng.integers(0, vocab, (batch, block)))
        targets = fw.tensor(rng.integers(0, vocab, (batch, block)))
        opt = fw.optim.AdamW(model.parameters(), lr=3e-4)

        def step():
            loss = model(idx, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step
    return make


def run(threads=None, repeat=10):
    threads = match_threads(threads)
    rows = [compare(f'train step: {name}', train_step(cfg), target=1.0, repeat=repeat, warmup=2)
            for name, cfg in CONFIGS.items()]
    print(f'threads: {threads}')
    print_table(rows, 'small transformers: ember vs PyTorch (same process, same weights and data)')
    return rows


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=None, help='threads for both libraries (default: all cores)')
    ap.add_argument('--repeat', type=int, default=10)
    args = ap.parse_args()
    run(args.threads, args.repeat)
