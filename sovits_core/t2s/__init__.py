"""GPT-SoVITS v2 text-to-semantic ("GPT", stage s1) model: config, model and batched generation."""

from sovits_core.t2s.config import T2SConfig
from sovits_core.t2s.generate import GenerateOptions, T2SOutput, T2SRequest, generate
from sovits_core.t2s.model import T2SModel


__all__ = ["GenerateOptions", "T2SConfig", "T2SModel", "T2SOutput", "T2SRequest", "generate"]
