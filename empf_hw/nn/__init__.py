"""The EM-PF and LIF/STBP model family in PyTorch: neurons, binary layers, architectures, training, data."""

from .architectures import ARCHITECTURES, ModelConfig, SpikingNet, build_model
from .checkpoint import load_checkpoint, save_checkpoint
from .training import METHODS, evaluate, train

__all__ = ["ARCHITECTURES", "METHODS", "ModelConfig", "SpikingNet", "build_model", "evaluate", "load_checkpoint",
           "save_checkpoint", "train"]
