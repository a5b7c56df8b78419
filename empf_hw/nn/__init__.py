"""The EM-PF and LIF/STBP model family in PyTorch: neurons, binary layers, architectures, training, data.

Names are imported lazily, so that ``empf_hw.nn.catalog`` (the command line's choices) loads without PyTorch."""

from ..lazy import exports

_NAMES = {"ARCHITECTURES": "architectures", "ModelConfig": "architectures", "SpikingNet": "architectures",
          "build_model": "architectures", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
          "evaluate": "training", "train": "training"}
__all__ = sorted(_NAMES)
__getattr__ = exports(__name__, _NAMES)
