"""G2PW (ONNX) polyphone disambiguation for Mandarin, optional; see :func:`sovits_core.text.zh.configure`."""

from .assets import G2PWModelError
from .predictor import G2PWPredictor


__all__ = ["G2PWModelError", "G2PWPredictor"]
