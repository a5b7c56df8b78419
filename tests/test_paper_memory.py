"""``empf-hw memory``: the paper's model-memory figures, a hand-counted network and the command line."""

import json

import pytest
from torch import nn

from empf_hw.cli import main
from empf_hw.nn import ModelConfig, build_model
from empf_hw.nn.memory import memory_row

# (arch, classes, column, the paper's printed value in MB)
PAPER = [
    ("resnet18", 10, "fp32_MB", "44.66"),  # CIFAR-10
    ("resnet18", 100, "fp32_MB", "44.84"),  # CIFAR-100
    ("resnet34", 1000, "fp32_MB", "87.12"),  # ImageNet
    ("vgg_snn_dvs", 10, "fp32_MB", "37.05"),  # CIFAR10-DVS
    ("resnet18", 10, "binary_2bit_MB", "2.82"),
    ("vgg_snn_dvs", 10, "binary_2bit_MB", "2.49"),
    ("resnet18", 10, "binary_1bit_MB", "1.42"),
]


@pytest.mark.parametrize("arch,classes,column,printed", PAPER)
def test_paper_figures_to_the_printed_digit(arch, classes, column, printed):
    assert f"{memory_row(arch, classes)[column]:.2f}" == printed


def test_counting_batchnorm_would_miss_the_paper():
    """The convention matters: BatchNorm's affine parameters on top give 44.70 MB, not the paper's 44.66."""
    model = build_model(ModelConfig("resnet18"))
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert bn == 2 * (64 + 4 * 64 + 5 * 128 + 5 * 256 + 5 * 512)  # stem, 8 blocks × 2 BNs, 3 shortcut BNs
    assert f"{4 * (memory_row('resnet18')['parameters'] + bn) / 1e6:.2f}" == "44.70"


def test_hand_counted_mlp():
    """digits_mlp: 64→256 full-precision stem, 256→256 binary, 256→10 classifier with bias."""
    stem, hidden, head = 64 * 256, 256 * 256, 256 * 10 + 10
    row = memory_row("digits_mlp")
    assert (row["parameters"], row["binary_weights"]) == (84_490, 65_536) == (stem + hidden + head, hidden)
    full_bytes = 4 * (stem + head)  # 75,816
    assert row["fp32_MB"] == pytest.approx(4 * 84_490 / 1e6, abs=1e-12)
    assert row["binary_2bit_MB"] == pytest.approx((full_bytes + hidden * 2 / 8) / 1e6, abs=1e-12)  # 0.092200
    assert row["binary_1bit_MB"] == pytest.approx((full_bytes + hidden / 8) / 1e6, abs=1e-12)  # 0.084008


def test_cli_table_prints_the_paper_rows(capsys):
    assert main(["memory"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header == ["arch", "classes", "parameters", "binary_weights", "fp32_MB", "binary_2bit_MB",
                      "binary_1bit_MB"]
    rows = {(c[0], int(c[1])): dict(zip(header, c)) for c in (line.split() for line in lines[1:])}
    assert {"resnet18", "resnet19", "resnet34", "vgg_snn_dvs"} == {a for a, _ in rows}
    for arch, classes, column, printed in PAPER:
        assert rows[arch, classes][column] == printed


def test_cli_json_and_num_classes(capsys):
    assert main(["memory", "--arch", "resnet18", "--num-classes", "100", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["classes"] == 100 and f"{row['fp32_MB']:.2f}" == "44.84"


@pytest.mark.parametrize("value", ["1", "0", "-3", "2.5", "many"])
def test_cli_bad_num_classes_is_one_error_line(value, capsys):
    assert main(["memory", "--arch", "resnet18", "--num-classes", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: argument --num-classes:") and "2..100000" in err[0]
