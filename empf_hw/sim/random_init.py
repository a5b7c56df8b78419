"""Deploy an untrained network of the catalog for costing before training (``empf-hw cost --random-init ARCH``):
random weights (seeded), BatchNorm statistics measured on seeded synthetic inputs so that activity reaches every
layer, spike formats calibrated on the same inputs, and test samples drawn the same way (uniform pixels, or
synthetic event-camera frames for a time-axis model). Accuracy is meaningless (labels are 0) and reported as such."""

import numpy as np

from .pipeline import DEFAULT_SPIKE_BITS, Deployed

CALIBRATION_INPUTS = 4  # synthetic inputs measuring BatchNorm statistics and spike formats


def synthetic_inputs(cfg, n: int, seed: int) -> np.ndarray:
    """``n`` inputs of the model's shape: event-camera frames for a time-axis model, else uniform in [0, 1]."""
    if cfg.time_axis:
        from ..nn.events import synthetic_dvs

        (x, _), _ = synthetic_dvs(cfg.input_shape, cfg.num_classes, n_train=n, n_test=1, seed=seed)
        return x[:n]
    return np.random.default_rng(seed).random((n, *cfg.input_shape), dtype=np.float32)


def deploy_random(arch: str, *, neuron: str = "empf", timesteps: int = 4, num_classes: int = 0,
                  time_axis: bool = False, spike_bits: int | None = None, samples: int = 1, seed: int = 0,
                  schedule: str = "pipelined") -> Deployed:
    import torch

    from ..deploy import export_model
    from ..nn import ModelConfig, build_model
    from .executor import calibrate, execute

    cfg = ModelConfig(arch, neuron=neuron, timesteps=timesteps, num_classes=num_classes, time_axis=time_axis)
    torch.manual_seed(seed)
    model = build_model(cfg).train()
    x = synthetic_inputs(cfg, CALIBRATION_INPUTS + samples, seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # cumulative average: the statistics of the calibration inputs
    with torch.no_grad():
        model.run(torch.from_numpy(x[:CALIBRATION_INPUTS]))
    model.eval()
    bits = None if neuron == "lif" else (spike_bits or DEFAULT_SPIKE_BITS)
    graph = calibrate(export_model(model), x[:CALIBRATION_INPUTS], bits)
    test = x[CALIBRATION_INPUTS:]
    trace = execute(graph, test, "fixed", schedule=schedule)
    card = {"config": cfg.to_dict(), "dataset": "synthetic", "training": {"method": "untrained"},
            "test_accuracy": None, "parameters": int(sum(p.numel() for p in model.parameters()))}
    return Deployed(f"{arch}-{neuron}-random-T{timesteps}", card, graph, trace, np.zeros(len(test), np.int64),
                    "fixed", bits, test, schedule)
