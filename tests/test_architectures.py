"""Architecture registry: shapes, precision of stem/classifier, parameter counts from layer shapes."""

import pytest
import torch
from torch import nn

from empf_hw.errors import EmpfError
from empf_hw.nn import ARCHITECTURES, ModelConfig, build_model
from empf_hw.nn.layers import BinaryConv2d, BinaryLinear

T = 4


def conv_bn(cin, cout, k):
    return cin * cout * k * k + 2 * cout


def neuron(cout):  # EM-PF: learnable a_t, b_t per timestep
    return 2 * T


def unit(cin, cout, k):
    return conv_bn(cin, cout, k) + neuron(cout)


def resnet_count(stem_k, widths, blocks, classes):
    total, cin = unit(3, widths[0], stem_k), widths[0]
    for i, (w, n) in enumerate(zip(widths, blocks)):
        for j in range(n):
            total += unit(cin, w, 3) + conv_bn(w, w, 3) + neuron(w)
            if (j == 0 and i > 0) or cin != w:
                total += conv_bn(cin, w, 1)
            cin = w
    return total + cin * classes + classes


def test_resnet18_parameter_count():
    expected = resnet_count(3, (64, 128, 256, 512), (2, 2, 2, 2), 10)
    assert sum(p.numel() for p in build_model(ModelConfig("resnet18", timesteps=T)).parameters()) == expected
    # the widely quoted CIFAR ResNet-18 count (with BN) is 11,173,962; 17 neuron layers add 2T each
    assert expected == 11_173_962 + 17 * 2 * T


def test_resnet34_parameter_count():
    expected = resnet_count(7, (64, 128, 256, 512), (3, 4, 6, 3), 1000)
    assert expected == 21_797_672 + 33 * 2 * T  # torchvision's resnet34 plus 33 neuron layers
    assert sum(p.numel() for p in build_model(ModelConfig("resnet34", timesteps=T)).parameters()) == expected


def test_vgg11_parameter_count():
    chans = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    expected = sum(unit(a, b, 3) for a, b in chans) + 512 * 10 + 10
    assert sum(p.numel() for p in build_model(ModelConfig("vgg11", timesteps=T)).parameters()) == expected


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("neuron_type", ["empf", "lif"])
def test_every_architecture_runs_with_both_neurons(arch, neuron_type):
    cfg = ModelConfig(arch, neuron=neuron_type, timesteps=2)
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model.run(torch.rand(1, *cfg.input_shape))
    assert out.shape == (2, 1, cfg.num_classes)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    binary = [isinstance(m, (BinaryConv2d, BinaryLinear)) for m in layers]
    assert not binary[0] and not binary[-1]  # stem and classifier stay full precision
    assert all(binary[1:-1]) == (neuron_type == "empf") and any(binary[1:-1]) == (neuron_type == "empf")


def test_bad_config_errors_name_the_field():
    with pytest.raises(EmpfError, match="arch='alexnet'.*digits_cnn"):
        ModelConfig("alexnet")
    with pytest.raises(EmpfError, match="timesteps=0"):
        ModelConfig("digits_cnn", timesteps=0)
    with pytest.raises(EmpfError, match="spike_bits=20"):
        ModelConfig("digits_cnn", spike_bits=20)
    with pytest.raises(EmpfError, match="neuron=empf only"):
        ModelConfig("digits_cnn", neuron="lif", spike_bits=4)
    with pytest.raises(EmpfError, match="unknown model config field"):
        ModelConfig.from_dict({"arch": "digits_cnn", "bogus": 1})
