"""ONNX export rules: one per tensor op, ember.nn.functional function and library module the tracer can meet."""
# The families register into the shared tables when imported; this order is the order the single module had.
from .common import OP_RULES, METHOD_RULES, F_RULES, MODULE_RULES  # noqa: F401
from .elementwise import emit_linear  # noqa: F401
from . import shapes  # noqa: F401
from .reductions import emit_gelu, emit_activation  # noqa: F401
from .layers import emit_conv, emit_pool, emit_adaptive, emit_batch_norm, emit_layer_norm  # noqa: F401
from .modules import module_rule  # noqa: F401
from .attention import emit_mha, emit_linear_names, emit_encoder_layer  # noqa: F401
