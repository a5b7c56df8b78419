"""Lowerings for binary-spike chips (loihi-sanafe): synaptic events and folded weights against brute force, serial
against parallel, and the refusal without a lowering."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hw_helpers import rect_graph, tiny_arch

from empf_hw.cli import main
from empf_hw.hw import evaluate
from empf_hw.hw.cores.lowering import lower
from empf_hw.sim import execute
from empf_hw.sim.pipeline import deploy

MODEL = "models/digits_cnn-lif-stbp-T4"


@pytest.fixture(scope="module")
def lowered():
    d = deploy(MODEL, samples=1, mode="fixed", schedule="lockstep")
    return d, {m: evaluate(d.trace, "loihi-sanafe", lowering=m) for m in ("parallel", "serial")}


def conv_fanout(h, w, k, stride, pad, pool=1):
    """How many output positions of a conv (after a pool×pool pooling) each input pixel reaches (loops); kernel,
    stride and padding: ints or (rows, columns)."""
    (kh, kw), (sh, sw), (pad_h, pad_w) = ((v, v) if isinstance(v, int) else v for v in (k, stride, pad))
    ph, pw = h // pool, w // pool
    oh, ow = (ph + 2 * pad_h - kh) // sh + 1, (pw + 2 * pad_w - kw) // sw + 1
    fan = np.zeros((h, w), np.int64)
    for y in range(h):
        for x in range(w):
            py, px = y // pool, x // pool
            fan[y, x] = sum(0 <= py + pad_h - oy * sh < kh and 0 <= px + pad_w - ox * sw < kw
                            for oy in range(oh) for ox in range(ow))
    return fan


def syn_events(costs, layer):
    by = costs.by_layer().set_index("layer")
    return by.loc[layer, "syn_ops_hw"]


def test_parallel_lowering_counts_one_event_per_set_bit_and_unpooled_spike(lowered):
    d, costs = lowered
    c = costs["parallel"]
    T = d.graph.timesteps
    codes = np.round(np.clip(d.inputs[0, 0], 0, 1) * 255).astype(np.int64)  # 8-bit pixels, the first T steps
    popcount = np.vectorize(lambda v: bin(v).count("1"))(codes)
    assert syn_events(c, "0.conv") == T * 32 * (popcount * conv_fanout(8, 8, 3, 1, 1)).sum()
    by = {lt.name: lt for lt in d.trace.layers}
    spikes = by["2"].event_map  # binary spikes of 1.neuron entering the 2×2 average pool (T', 64, 8, 8)
    assert syn_events(c, "3.conv") == 64 * (spikes.sum(axis=(0, 1)) * conv_fanout(8, 8, 3, 1, 1, pool=2)).sum()
    assert syn_events(c, "classifier.1") == 10 * by["4"].event_map.sum()


def test_folded_conv_computes_pool_then_conv(lowered):
    d, costs = lowered
    orig = d.graph["3.conv"]
    folded = next(n for n in costs["parallel"].graph.nodes if n.name == "3.conv")
    x = torch.from_numpy((np.random.default_rng(0).random((2, 64, 8, 8)) < 0.3).astype(np.float64))

    def conv(node, v):
        return F.conv2d(v, torch.from_numpy(node.tensors["weight"].astype(np.float64)),
                        stride=node.attrs["stride"], padding=node.attrs["padding"])

    assert torch.allclose(conv(folded, x), conv(orig, F.avg_pool2d(x, 2)), atol=1e-9)


def test_serial_lowering_same_events_more_steps(lowered):
    d, costs = lowered
    par, ser = costs["parallel"], costs["serial"]
    assert syn_events(ser, "0.conv") == syn_events(par, "0.conv")
    assert ser.count("message_send") == par.count("message_send")
    steps = len(d.trace.logits)  # T + depth lockstep steps, each of 8 sub-steps for the 8-bit input
    assert ser.count("barrier") == 8 * par.count("barrier") == 8 * steps
    assert ser.count("aux_op") - par.count("aux_op") == 7 * (32 * 8 * 8) * steps  # one shift per extra sub-step
    assert ser.timing.cycles > par.timing.cycles


def test_graded_spikes_on_a_binary_chip_are_refused(capsys):
    assert main(["cost", "--model", "models/digits_cnn-empf-online-T4", "--arch", "loihi-like", "--samples", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: layer conv1")
    assert "core.spike_payload_bits" in err and "--lowering parallel|serial" in err


def test_pool_folds_into_a_rectangular_conv():
    """A 2×2 average pool before a 2×3 conv (stride 1×2, padding 0×1) folds into a 4×6 conv with stride 2×4 and
    padding 0×2 over the unpooled map: pooling then convolving (torch) gives the same outputs, and every unpooled
    spike is an event to the positions its pooled position reaches (loops)."""
    rng = np.random.default_rng(0)
    g = rect_graph(rng, size=(9, 10), pool=True, spike_bits=1)  # LIF: binary spikes, 2-bit pooled values
    trace = execute(g, rng.random((1, 2, 9, 10)).astype(np.float32), "fixed", schedule="lockstep")
    arch = tiny_arch(spike_payload_bits=0, timestep_mode="lockstep", mesh_rows=8, mesh_cols=8)
    folded = lower(g, trace, arch, "parallel")[0]["c2"]
    orig = g["c2"]
    assert folded.tensors["weight"].shape[2:] == (4, 6)
    assert folded.attrs["stride"] == [2, 4] and folded.attrs["padding"] == [0, 2]
    x = torch.from_numpy((rng.random((2, 4, 5, 9)) < 0.3).astype(np.float64))

    def conv(node, v):
        return F.conv2d(v, torch.from_numpy(node.tensors["weight"].astype(np.float64)),
                        stride=node.attrs["stride"], padding=node.attrs["padding"])

    assert torch.allclose(conv(folded, x), conv(orig, F.avg_pool2d(x, 2)), atol=1e-9)
    spikes = {lt.name: lt for lt in trace.layers}["pool"].event_map  # unpooled binary spikes (T', 4, 5, 9)
    fan = conv_fanout(5, 9, (2, 3), (1, 2), (0, 1), pool=2)
    assert spikes.sum() > 0
    assert syn_events(evaluate(trace, arch, lowering="parallel"), "c2") == 4 * (spikes.sum(axis=(0, 1)) * fan).sum()
