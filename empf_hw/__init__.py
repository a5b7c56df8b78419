"""empf-hw: what it costs to deploy a trained spiking network (EM-PF or STBP) on neuromorphic hardware."""

__version__ = "0.1.0"
