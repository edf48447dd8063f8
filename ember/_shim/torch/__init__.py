"""A stand-in `torch` package: put this folder's parent on PYTHONPATH and `import torch` gives ember."""
import sys

from ember.app.runner import install_torch_alias

install_torch_alias()
sys.modules['torch'] = sys.modules['ember']
