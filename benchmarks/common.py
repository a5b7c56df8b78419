"""Shared by the benchmarks: median timing and a randomly initialised network whose activity reaches every layer."""

import argparse
import time

import numpy as np
import torch

from empf_hw.nn import ModelConfig, build_model


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def active_model(arch: str, batch: int, timesteps: int):
    """(model, input batch): random weights, BatchNorm statistics measured on the batch so spikes reach every layer."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch, timesteps=timesteps)).train()
    x = torch.rand(batch, *model.cfg.input_shape)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        model.run(x)
    return model.eval(), x


def parser(doc: str, spike_bits: int) -> argparse.ArgumentParser:
    """The options every executor-based benchmark takes."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--arch", default="vgg11")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--spike-bits", type=int, default=spike_bits)
    p.add_argument("--repeats", type=int, default=5)
    return p
