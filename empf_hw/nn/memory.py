"""The paper's model-memory table: counted parameters and weight storage of an architecture (MB = 10^6 bytes).

Counted parameters are the synaptic weights (every conv and linear layer) plus their biases, which only the
classifier has. BatchNorm affine parameters, EM-PF neuron parameters and buffers are not counted: that is the
convention that reproduces the paper's FP32 figures to the printed digit — ResNet-18 44.66 MB (CIFAR-10) and
44.84 MB (CIFAR-100), ResNet-34 (ImageNet) 87.12 MB, VGG-SNN (CIFAR10-DVS) 37.05 MB; counting BatchNorm too gives
44.70, 44.88, 87.19 and 37.07 MB.

- ``fp32_MB``: every counted parameter at 32 bits.
- ``binary_2bit_MB``: the paper's binary convention — the EM-PF network's binary weights (every synaptic layer but
  the stem and the classifier, 1×1 shortcut convs included) at 2 bits, the stem and the classifier (with its bias)
  at 32 bits: ResNet-18 (CIFAR-10) 2.82 MB, VGG-SNN 2.49 MB. Keeping the shortcuts at FP32 instead would give
  3.46 MB for ResNet-18.
- ``binary_1bit_MB``: the same with 1 bit per binary weight: ResNet-18 (CIFAR-10) 1.42 MB.

What empf-hw deploys (8-bit stem and classifier codes, folded per-channel scales and biases and neuron parameters
at the chip's ``param_bits``) is decided by ``empf_hw.deploy`` and the hardware preset: see ``empf-hw cost``.
"""

import torch
from torch import nn

from .architectures import ModelConfig, build_model
from .layers import BinaryConv2d, BinaryLinear

MB = 1e6  # bytes
# the paper's networks: (architecture, classes) — CIFAR-10/100, ImageNet, CIFAR10-DVS
PAPER_ROWS = (("resnet18", 10), ("resnet18", 100), ("resnet19", 10), ("resnet19", 100), ("resnet34", 1000),
              ("vgg_snn_dvs", 10))
COLUMNS = ("arch", "classes", "parameters", "binary_weights", "fp32_MB", "binary_2bit_MB", "binary_1bit_MB")


def memory_row(arch: str, num_classes: int = 0) -> dict:
    """One table row (``COLUMNS``) for the EM-PF (binary-weight) network ``arch`` with ``num_classes`` outputs
    (0: the catalog's)."""
    cfg = ModelConfig(arch, num_classes=num_classes)
    with torch.device("meta"):  # shapes only, no storage
        model = build_model(cfg)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    params = sum(p.numel() for m in layers for p in (m.weight, m.bias) if p is not None)
    binary = sum(m.weight.numel() for m in layers if isinstance(m, (BinaryConv2d, BinaryLinear)))
    full_bytes = 4 * (params - binary)
    mb = {"fp32_MB": 4 * params, "binary_2bit_MB": full_bytes + binary / 4, "binary_1bit_MB": full_bytes + binary / 8}
    return {"arch": arch, "classes": cfg.num_classes, "parameters": params, "binary_weights": binary,
            **{k: round(v / MB, 9) for k, v in mb.items()}}


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned text table, MB to two decimals (as the paper prints them)."""
    cells = [list(COLUMNS)] + [[f"{r[c]:.2f}" if c.endswith("_MB") else str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join(" ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     for row in cells)
