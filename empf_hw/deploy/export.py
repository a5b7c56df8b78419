"""Export a trained ``SpikingNet`` to a DeployGraph: BatchNorm, α and Mem-BN folded, integer weight codes."""

import numpy as np
import torch
from torch import nn

from ..errors import EmpfError
from ..nn.architectures import BasicBlock, ConvUnit, LinearUnit, SpikingNet
from ..nn.layers import BinaryConv2d, BinaryLinear, quantize_weight
from ..nn.neurons import LIFNeuron
from .graph import DEFAULT_FORMATS, DeployGraph, Node, infer_shape

FULL_PRECISION_BITS = 8  # int-N codes for full-precision weights (stem, classifier, STBP layers)
INPUT_BITS = 8


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _weight_format(layer: nn.Module, bn: nn.Module | None) -> dict:
    """Effective weight with α and eval BatchNorm folded, plus integer codes and per-output-channel scales."""
    binary = isinstance(layer, (BinaryConv2d, BinaryLinear))
    w = quantize_weight(layer.weight.detach(), layer.mode) if binary else layer.weight.detach()
    out = w.shape[0]
    bias = layer.bias.detach() if layer.bias is not None else torch.zeros(out)
    gain = torch.ones(out)
    if bn is not None:
        gain = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        bias = bn.bias.detach() + gain * (bias - bn.running_mean)
    view = (-1,) + (1,) * (w.dim() - 1)
    if binary:
        codes = torch.sign(w)
        scale = w.abs().reshape(out, -1).amax(dim=1) * gain
        kind, bits = layer.mode, 1 if layer.mode == "binary" else 2
        weight = codes * scale.reshape(view)
    else:
        weight = w * gain.reshape(view)
        qmax = 2 ** (FULL_PRECISION_BITS - 1) - 1
        scale = weight.abs().reshape(out, -1).amax(dim=1).clamp_min(1e-12) / qmax
        codes = torch.round(weight / scale.reshape(view))
        kind, bits = "int", FULL_PRECISION_BITS
    return {"attrs": {"weight_kind": kind, "weight_bits": bits},
            "tensors": {"weight": _np(weight), "codes": codes.numpy().astype(np.int8 if bits <= 8 else np.int16),
                        "scale": _np(scale), "bias": _np(bias)}}


def _neuron_tensors(n: nn.Module, channels: int, T: int) -> tuple[dict, dict]:
    ones, zeros = np.ones((T, channels), np.float32), np.zeros((T, channels), np.float32)
    if isinstance(n, LIFNeuron):
        attrs = {"model": "lif", "reset": "threshold" if n.reset_mode == "subtract" else "zero", "spike_bits": 1}
        return attrs, {"leak": ones * n.leak_value, "threshold": np.full(T, n.threshold_value, np.float32),
                       "in_scale": ones, "in_bias": zeros, "spike_step": np.array(1.0, np.float32)}
    with torch.no_grad():
        leak = torch.sigmoid(n.a)[:, None].expand(T, channels)
        in_scale, in_bias = torch.ones(T, channels), torch.zeros(T, channels)
        if n.mem_bn is not None:
            ks, cs = zip(*(n.mem_bn.affine(t) for t in range(T)))
            in_scale, in_bias = torch.stack(ks), torch.stack(cs)
            leak = leak * in_scale
        if n.parallel:
            leak = torch.zeros(T, channels)
    step = n.quant.step.item() if n.quant is not None else 0.0
    attrs = {"model": "empf", "reset": "spike", "spike_bits": n.quant.bits if n.quant is not None else 0}
    return attrs, {"leak": _np(leak), "threshold": _np(torch.sigmoid(n.b)), "in_scale": _np(in_scale),
                   "in_bias": _np(in_bias), "spike_step": np.array(step, np.float32)}


class _Builder:
    def __init__(self, T: int):
        self.T, self.nodes, self.shapes = T, [], {}

    def add(self, prefix: str, op: str, inputs: list[str], attrs=None, tensors=None) -> str:
        name = f"{prefix}" if prefix not in self.shapes else f"{prefix}_{len(self.nodes)}"
        node = Node(name, op, inputs, (), attrs or {}, tensors or {})
        node.shape = infer_shape(node, [self.shapes[i] for i in inputs])
        self.nodes.append(node)
        self.shapes[name] = node.shape
        return name

    def synaptic(self, prefix: str, layer: nn.Module, bn, x: str) -> str:
        f = _weight_format(layer, bn)
        if isinstance(layer, nn.Conv2d):
            f["attrs"].update(stride=list(layer.stride), padding=list(layer.padding))
            return self.add(prefix, "conv", [x], f["attrs"], f["tensors"])
        return self.add(prefix, "linear", [x], f["attrs"], f["tensors"])

    def neuron(self, prefix: str, n: nn.Module, x: str) -> str:
        attrs, tensors = _neuron_tensors(n, self.shapes[x][0], self.T)
        return self.add(prefix, "neuron", [x], attrs, tensors)

    def attention(self, prefix: str, attn, x: str) -> str:
        if attn is None:
            return x
        return self.add(prefix, "attention", [x], {}, {"weight": _np(attn.conv.weight.reshape(-1))})

    def module(self, prefix: str, m: nn.Module, x: str) -> str:
        if isinstance(m, ConvUnit):
            i = self.attention(f"{prefix}.attn", m.attn, self.synaptic(f"{prefix}.conv", m.conv, m.bn, x))
            return self.neuron(f"{prefix}.neuron", m.neuron, i)
        if isinstance(m, LinearUnit):
            return self.neuron(f"{prefix}.neuron", m.neuron, self.synaptic(f"{prefix}.fc", m.fc, m.bn, x))
        if isinstance(m, BasicBlock):
            h = self.module(f"{prefix}.unit1", m.unit1, x)
            i = self.attention(f"{prefix}.attn", m.attn, self.synaptic(f"{prefix}.conv2", m.conv2, m.bn2, h))
            sc = x if isinstance(m.shortcut, nn.Identity) else self.synaptic(f"{prefix}.shortcut", m.shortcut[0],
                                                                              m.shortcut[1], x)
            return self.neuron(f"{prefix}.neuron", m.neuron, self.add(f"{prefix}.add", "add", [i, sc]))
        if isinstance(m, nn.Sequential):
            for k, child in m.named_children():
                x = self.module(f"{prefix}.{k}" if prefix else k, child, x)
            return x
        if isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
            kind = "avg" if isinstance(m, nn.AvgPool2d) else "max"
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            p = m.padding if isinstance(m.padding, int) else m.padding[0]
            return self.add(prefix, "pool", [x], {"kind": kind, "kernel": k, "stride": s, "padding": p})
        if isinstance(m, nn.AdaptiveAvgPool2d):
            c, h, w = self.shapes[x]
            if h != w:
                raise EmpfError(f"{prefix}: global pooling of a non-square {h}×{w} map is not supported")
            return self.add(prefix, "pool", [x], {"kind": "avg", "kernel": h, "stride": h, "padding": 0})
        if isinstance(m, nn.Flatten):
            return self.add(prefix, "flatten", [x])
        if isinstance(m, nn.Linear):
            return self.synaptic(prefix, m, None, x)
        raise EmpfError(f"cannot export module {prefix!r} of type {type(m).__name__}")


def export_model(model: SpikingNet, formats: dict | None = None) -> DeployGraph:
    """Trace a SpikingNet's structure into a DeployGraph (the model's eval-mode arithmetic)."""
    cfg = model.cfg
    b = _Builder(cfg.timesteps)
    x = b.add("input", "input", [], input_attrs(cfg))
    x = b.module("", model.features, x)
    x = b.module("classifier", model.classifier, x)
    b.add("output", "output", [x])
    return DeployGraph(b.nodes, {"timesteps": cfg.timesteps, **DEFAULT_FORMATS, **(formats or {}),
                                 "source": source_stats(model)})


def input_attrs(cfg) -> dict:
    """The input node of a model config: frame shape, bits, time axis and (if any) per-channel normalisation."""
    attrs = {"shape": list(cfg.frame_shape), "input_bits": INPUT_BITS, "time_axis": cfg.time_axis}
    if cfg.input_mean:
        attrs.update(mean=list(cfg.input_mean), std=list(cfg.input_std))
    return attrs


def source_stats(model: nn.Module) -> dict:
    """The PyTorch model's storage as NeuroBench measures it: parameter + buffer bytes at their dtypes, and the
    zero / total weights of its Linear and Conv layers (latent weights of binary layers)."""
    tensors = list(model.parameters()) + list(model.buffers())
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    return {"framework": "pytorch", "footprint_bytes": int(sum(t.numel() * t.element_size() for t in tensors)),
            "connection_zero_weights": int(sum(int((m.weight == 0).sum()) for m in layers)),
            "connection_weights": int(sum(m.weight.numel() for m in layers))}

