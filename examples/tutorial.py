"""The tutorial walk-through (NumPy MLP -> ember tensors -> autograd -> nn -> optim -> custom Module).

The code of each section lives in ember/tutorial.py, written exactly as PyTorch code with `import ember as torch`.
Run all sections, or some: `python examples/tutorial.py 3 5` (the same as `ember tutorial --section 3`).
"""
import sys

from ember.app import tutorial

if __name__ == '__main__':
    tutorial.run([int(a) for a in sys.argv[1:]] or None)
