"""ember.nn.utils: gradient clipping, parameter/vector conversion, and rnn packing utilities."""
from . import rnn  # noqa: F401
