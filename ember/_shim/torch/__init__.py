"""A stand-in `torch` package: put this folder's parent on PYTHONPATH and `import torch` gives ember."""
import sys

from ember.app.runner import install_torch_alias

install_torch_alias()
from ember._alias import torch_module  # noqa: E402

sys.modules['torch'] = torch_module()
