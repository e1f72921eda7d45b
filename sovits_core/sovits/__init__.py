"""GPT-SoVITS v2 SoVITS network for inference (semantic codes + phones + speaker embedding -> 32 kHz audio).

State-dict keys are upstream's (``SynthesizerTrn`` v2); see :mod:`sovits_core.sovits.model`.
"""

from sovits_core.sovits.config import SoVITSConfig
from sovits_core.sovits.model import SynthesizerTrnV2, average_embeddings


__all__ = ["SoVITSConfig", "SynthesizerTrnV2", "average_embeddings"]
