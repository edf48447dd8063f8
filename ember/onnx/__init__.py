"""ember.onnx: export a model to ONNX by tracing its forward (needs the onnx package: pip install 'ember[onnx]')."""
import enum

from ._export import export, is_in_onnx_export, OnnxExportError  # noqa: F401

__all__ = ['export', 'is_in_onnx_export', 'OnnxExportError', 'TrainingMode', 'OperatorExportTypes']


class TrainingMode(enum.IntEnum):
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(enum.IntEnum):
    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3
