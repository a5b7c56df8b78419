"""Architecture registry. Every network runs one timestep per call and can use EM-PF or LIF neurons.

As in the published EM-PF networks, the stem (first conv/linear) and the classifier stay full precision; all
other synaptic layers use the configured weight mode (binary by default for EM-PF, full precision for LIF).

Inputs: by default one static frame of the architecture's shape, presented every timestep (direct encoding);
with ``time_axis`` a sample is T frames (T, *frame shape), frame t read at step t (event-camera frames, see
``empf_hw.nn.events``). ``input_mean``/``input_std`` (one value per channel) normalise every frame to
``(x − mean)/std`` before the stem, whose convolution then zero-pads the normalised input.
"""

import math
from dataclasses import asdict, dataclass, fields
from numbers import Real

import torch
from torch import nn

from ..errors import EmpfError, check_bool, check_choice, check_range
from .catalog import ARCHS, MAX_CLASSES, NEURONS, WEIGHT_MODES
from .layers import ECA, conv, linear
from .neurons import EMPFNeuron, LIFNeuron


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; stored in the model card."""

    arch: str
    neuron: str = "empf"
    timesteps: int = 4
    weights: str = ""  # "" = binary for EM-PF, full for LIF
    spike_bits: int = 0  # 0 = unquantized floating-point spikes
    mem_bn: bool = False
    parallel: bool = False
    attention: bool = False
    learnable: bool = True
    lif_reset: str = "subtract"
    num_classes: int = 0  # 0 = the architecture's default (catalog.ARCHS), else 2 … MAX_CLASSES
    time_axis: bool = False  # samples are (T, *frame shape): frame t at step t
    input_mean: tuple[float, ...] = ()  # per channel; () = no input normalisation
    input_std: tuple[float, ...] = ()

    def __post_init__(self):
        check_choice("arch", self.arch, sorted(ARCHS))
        check_choice("neuron", self.neuron, NEURONS)
        check_range("timesteps", self.timesteps, 1, 1024, integer=True)
        if not self.weights:
            object.__setattr__(self, "weights", "binary" if self.neuron == "empf" else "full")
        check_choice("weights", self.weights, WEIGHT_MODES)
        check_range("spike_bits", self.spike_bits, 0, 16, integer=True)
        for f in ("mem_bn", "parallel", "attention", "learnable", "time_axis"):
            check_bool(f, getattr(self, f))
        self._check_normalisation()
        check_choice("lif_reset", self.lif_reset, ("subtract", "zero"))
        if self.num_classes == 0 and type(self.num_classes) is int:
            object.__setattr__(self, "num_classes", ARCHS[self.arch][1])
        check_range("num_classes", self.num_classes, 2, MAX_CLASSES, integer=True)
        if self.neuron == "lif" and (self.spike_bits or self.mem_bn or self.parallel):
            raise EmpfError("spike_bits, mem_bn and parallel apply to neuron=empf only; LIF spikes are binary")

    def _check_normalisation(self) -> None:
        """``input_mean``/``input_std``: both empty or one finite number per input channel, std > 0."""
        channels = self.frame_shape[0]
        for f, ok, allowed in (("input_mean", math.isfinite, "finite numbers"),
                               ("input_std", lambda s: math.isfinite(s) and s > 0, "finite numbers > 0")):
            v = getattr(self, f)
            if not (isinstance(v, (list, tuple)) and len(v) in (0, channels)
                    and all(isinstance(x, Real) and not isinstance(x, bool) and ok(x) for x in v)):
                raise EmpfError(f"{f}={v!r} is not valid; allowed: empty (no normalisation) or {channels} "
                                f"{allowed}, one per input channel of arch {self.arch}")
            object.__setattr__(self, f, tuple(float(x) for x in v))
        if bool(self.input_mean) != bool(self.input_std):
            raise EmpfError("input_mean and input_std must be given together (both empty: no normalisation)")

    @classmethod
    def from_dict(cls, d) -> "ModelConfig":
        if not isinstance(d, dict):
            raise EmpfError(f"model config must be a mapping of fields, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise EmpfError(f"unknown model config field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """One timestep's input: the architecture's (C, H, W) or (F,)."""
        return ARCHS[self.arch][0]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample as ``SpikingNet.run`` takes it: the frame shape, with a leading T axis if ``time_axis``."""
        return (self.timesteps, *self.frame_shape) if self.time_axis else self.frame_shape

    def neuron_module(self, channels: int) -> nn.Module:
        if self.neuron == "lif":
            return LIFNeuron(channels, self.timesteps, reset=self.lif_reset)
        return EMPFNeuron(channels, self.timesteps, learnable=self.learnable, parallel=self.parallel,
                          mem_bn=self.mem_bn, spike_bits=self.spike_bits or None)


class ConvUnit(nn.Module):
    """conv → BatchNorm → (ECA) → neuron; kernel, stride and padding are ints or (height, width) pairs."""

    def __init__(self, cfg: ModelConfig, cin: int, cout: int, k: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, mode: str | None = None):
        super().__init__()
        self.conv = conv(cin, cout, k, stride, padding, mode or cfg.weights)
        self.bn = nn.BatchNorm2d(cout)
        self.attn = ECA(cout) if cfg.attention else None
        self.neuron = cfg.neuron_module(cout)

    def forward(self, x):
        i = self.bn(self.conv(x))
        return self.neuron(self.attn(i) if self.attn is not None else i)


class LinearUnit(nn.Module):
    """linear → BatchNorm1d → neuron."""

    def __init__(self, cfg: ModelConfig, fin: int, fout: int, mode: str | None = None):
        super().__init__()
        self.fc = linear(fin, fout, mode or cfg.weights, bias=False)
        self.bn = nn.BatchNorm1d(fout)
        self.neuron = cfg.neuron_module(fout)

    def forward(self, x):
        return self.neuron(self.bn(self.fc(x)))


class BasicBlock(nn.Module):
    """Spiking ResNet basic block: ``s = SN(BN(conv(SN(BN(conv(x))))) + shortcut(x))``."""

    def __init__(self, cfg: ModelConfig, cin: int, cout: int, stride: int):
        super().__init__()
        self.unit1 = ConvUnit(cfg, cin, cout, 3, stride, 1)
        self.conv2 = conv(cout, cout, 3, 1, 1, cfg.weights)
        self.bn2 = nn.BatchNorm2d(cout)
        self.attn = ECA(cout) if cfg.attention else None
        self.shortcut = (nn.Sequential(conv(cin, cout, 1, stride, 0, cfg.weights), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())
        self.neuron = cfg.neuron_module(cout)

    def forward(self, x):
        i = self.bn2(self.conv2(self.unit1(x)))
        if self.attn is not None:
            i = self.attn(i)
        return self.neuron(i + self.shortcut(x))


class SpikingNet(nn.Module):
    """``features`` then a full-precision ``classifier``; ``forward`` is one timestep."""

    def __init__(self, cfg: ModelConfig, features: nn.Sequential, classifier: nn.Module):
        super().__init__()
        self.cfg, self.features, self.classifier = cfg, features, classifier
        self.t = 0  # the timestep the next forward computes

    def neurons(self):
        return [m for m in self.modules() if isinstance(m, (EMPFNeuron, LIFNeuron))]

    def reset(self) -> None:
        self.t = 0
        for n in self.neurons():
            n.reset()

    def set_online(self, online: bool) -> None:
        for n in self.neurons():
            n.online = online

    def fold_mem_bn(self) -> None:
        for n in self.neurons():
            if isinstance(n, EMPFNeuron):
                n.fold_mem_bn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One timestep of a batch of samples (B, *input_shape): with ``time_axis`` it reads frame ``self.t``."""
        cfg = self.cfg
        if tuple(x.shape[1:]) != cfg.input_shape:
            raise EmpfError(f"input shape {tuple(x.shape[1:])} does not match the model input {cfg.input_shape}")
        if cfg.time_axis:
            if self.t >= cfg.timesteps:
                raise RuntimeError(f"model built for {cfg.timesteps} timesteps was stepped again; call reset()")
            x = x[:, self.t]
        self.t += 1
        if cfg.input_mean:
            view = (1, -1) + (1,) * (x.dim() - 2)
            mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device).reshape(view)
                         for v in (cfg.input_mean, cfg.input_std))
            x = (x - mean) / std
        return self.classifier(self.features(x))

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (T, B, classes) of a batch (B, *input_shape): the same frame every timestep (direct encoding),
        or with ``time_axis`` frame t at step t."""
        self.reset()
        return torch.stack([self(x) for _ in range(self.cfg.timesteps)])


def _classifier(fin: int, classes: int, pool: bool = False) -> nn.Sequential:
    head = [nn.AdaptiveAvgPool2d(1)] if pool else []
    return nn.Sequential(*head, nn.Flatten(), nn.Linear(fin, classes))


def _mlp(cfg, features: int):
    """Flatten → features→256 (full-precision stem) → 256→256 → classifier 256→classes."""
    feats = nn.Sequential(nn.Flatten(), LinearUnit(cfg, features, 256, "full"), LinearUnit(cfg, 256, 256))
    return feats, nn.Linear(256, cfg.num_classes)


def digits_mlp(cfg):
    return _mlp(cfg, 64)


def mnist1d_mlp(cfg):
    """MLP for MNIST-1D's signals of length 40 (1×1×40)."""
    return _mlp(cfg, 40)


def digits_cnn(cfg):
    feats = nn.Sequential(ConvUnit(cfg, 1, 32, 3, 1, 1, "full"), ConvUnit(cfg, 32, 64, 3, 1, 1), nn.AvgPool2d(2),
                          ConvUnit(cfg, 64, 64, 3, 1, 1), nn.AvgPool2d(2))
    return feats, _classifier(64 * 2 * 2, cfg.num_classes)


def mnist1d_cnn(cfg):
    """1-D CNN for MNIST-1D (1×1×40) as 1×k convolutions: 1×5/2 full-precision stem (32 × 19), 1×3/2 binary convs
    (64 × 10, 64 × 5), classifier 320→classes."""
    feats = nn.Sequential(ConvUnit(cfg, 1, 32, (1, 5), (1, 2), (0, 1), "full"),
                          ConvUnit(cfg, 32, 64, (1, 3), (1, 2), (0, 1)), ConvUnit(cfg, 64, 64, (1, 3), (1, 2), (0, 1)))
    return feats, _classifier(64 * 1 * 5, cfg.num_classes)


def mnist_cnn(cfg):
    feats = nn.Sequential(ConvUnit(cfg, 1, 32, 3, 1, 1, "full"), ConvUnit(cfg, 32, 64, 3, 1, 1), nn.AvgPool2d(2),
                          ConvUnit(cfg, 64, 128, 3, 1, 1), nn.AvgPool2d(2))
    return feats, _classifier(128 * 7 * 7, cfg.num_classes)


def _vgg(cfg, plan, cin, head_in):
    layers, first = [], True
    for v in plan:
        if v == "M":
            layers.append(nn.AvgPool2d(2))
        else:
            layers.append(ConvUnit(cfg, cin, v, 3, 1, 1, "full" if first else None))
            cin, first = v, False
    return nn.Sequential(*layers), _classifier(head_in, cfg.num_classes)


def vgg11(cfg):
    """VGG-11 for CIFAR (3×32×32): five pooling stages down to 1×1, then a 512→classes classifier."""
    return _vgg(cfg, [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], 3, 512)


def vgg_snn_dvs(cfg):
    """The DVS "VGG-SNN" (2×48×48, as in TET/OTTT/EM-PF): 64,128,M,256,256,M,512,512,M,512,512,M → 512·3·3→10."""
    return _vgg(cfg, [64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], 2, 512 * 3 * 3)


def _resnet(cfg, stem, widths, blocks):
    layers, cin = list(stem), widths[0]
    for i, (w, n) in enumerate(zip(widths, blocks)):
        for j in range(n):
            layers.append(BasicBlock(cfg, cin, w, 2 if (j == 0 and i > 0) else 1))
            cin = w
    return nn.Sequential(*layers), _classifier(cin, cfg.num_classes, pool=True)


def resnet18(cfg):
    """ResNet-18 for CIFAR: 3×3 stem, 64-128-256-512 basic blocks [2, 2, 2, 2]."""
    return _resnet(cfg, [ConvUnit(cfg, 3, 64, 3, 1, 1, "full")], (64, 128, 256, 512), (2, 2, 2, 2))


def resnet19(cfg):
    """ResNet-19 for CIFAR (tdBN/TET layout): 3×3 stem of 128, 128-256-512 basic blocks [3, 3, 2]."""
    return _resnet(cfg, [ConvUnit(cfg, 3, 128, 3, 1, 1, "full")], (128, 256, 512), (3, 3, 2))


def resnet34(cfg):
    """ResNet-34 for ImageNet (3×224×224): 7×7/2 stem + 3×3/2 max pool, blocks [3, 4, 6, 3], 1000 classes."""
    stem = [ConvUnit(cfg, 3, 64, 7, 2, 3, "full"), nn.MaxPool2d(3, 2, 1)]
    return _resnet(cfg, stem, (64, 128, 256, 512), (3, 4, 6, 3))


# name → builder; input shapes and default class counts are in ``catalog.ARCHS``
ARCHITECTURES = {f.__name__: f for f in (digits_mlp, digits_cnn, mnist1d_mlp, mnist1d_cnn, mnist_cnn, vgg11,
                                         vgg_snn_dvs, resnet18, resnet19, resnet34)}


def build_model(cfg: ModelConfig) -> SpikingNet:
    """Build the network a config describes (weights freshly initialised)."""
    features, classifier = ARCHITECTURES[cfg.arch](cfg)
    return SpikingNet(cfg, features, classifier)
