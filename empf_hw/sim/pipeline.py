"""Checkpoint → DeployGraph → fixed-point ActivityTrace on the model's test split, as used by the CLI and sweeps."""

from dataclasses import dataclass

import numpy as np

from ..errors import EmpfError, check_range

CALIBRATION_SAMPLES = 256  # training samples used to set per-layer spike scales
DEFAULT_SPIKE_BITS = 4  # EM-PF models with floating-point spikes need a width on hardware


@dataclass
class Deployed:
    name: str
    card: dict
    graph: object  # DeployGraph (calibrated in fixed mode)
    trace: object  # ActivityTrace
    labels: np.ndarray
    mode: str
    spike_bits: int | None  # the width used (None: the model's own formats)
    inputs: np.ndarray | None = None  # the test samples executed (N, ...)
    schedule: str = "pipelined"  # timestep semantics the trace was executed with (see empf_hw.sim.executor)

    @property
    def accuracy(self) -> float | None:
        """Test accuracy of the executed samples; None for an untrained (random-init) network."""
        if self.card.get("test_accuracy") is None:
            return None
        return float(np.mean(self.trace.predictions == self.labels))

    @property
    def method(self) -> str:
        return self.card["training"]["method"]


def hardware_spike_bits(card: dict, bits: int | None) -> int | None:
    """Spike width to deploy with: as given, the model's own, or DEFAULT_SPIKE_BITS for float-spike EM-PF."""
    c = card["config"]
    if c["neuron"] == "lif":
        return None
    return bits if bits is not None else (None if c["spike_bits"] else DEFAULT_SPIKE_BITS)


def deploy(path, *, spike_bits: int | None = None, timesteps: int | None = None, samples: int | None = None,
           seed: int = 0, data_dir: str | None = None, mode: str | None = None, batch_size: int = 128,
           schedule: str = "pipelined") -> Deployed:
    """Load a checkpoint, export it (optionally re-timed to ``timesteps``), calibrate spike formats on training
    samples and execute the test split (the first ``samples``, or a seeded random subset when ``seed`` != 0) with
    the timestep semantics of the target chip (``schedule``: pipelined | lockstep)."""
    from ..deploy import export_model
    from ..nn import load_checkpoint
    from ..nn.checkpoint import checkpoint_paths
    from ..nn.data import load_dataset
    from .executor import calibrate, execute

    model, card = load_checkpoint(path)
    cfg = model.cfg
    if cfg.time_axis and timesteps not in (None, cfg.timesteps):
        raise EmpfError(f"timesteps={timesteps}: model {path} reads one input frame per timestep from data of "
                        f"{cfg.timesteps} frames; allowed: {cfg.timesteps}")
    train_set, (x, y) = load_dataset(card["dataset"], data_dir, cfg.input_shape, cfg.num_classes,
                                     card.get("seed", 0))
    if tuple(x.shape[1:]) != cfg.input_shape:
        raise EmpfError(f"dataset {card['dataset']} has inputs of shape {tuple(x.shape[1:])} but arch {cfg.arch} "
                        f"expects {cfg.input_shape}")
    if samples is not None:
        check_range("samples", samples, 1, len(x))
        idx = np.sort(np.random.default_rng(seed).choice(len(x), samples, replace=False)) if seed else \
            np.arange(samples)
        x, y = x[idx], y[idx]
    graph = export_model(model)
    if timesteps is not None and timesteps != graph.timesteps:
        graph = graph.with_timesteps(timesteps)
    formatted = spike_bits is not None or all(n.attrs["spike_bits"] for n in graph.nodes if n.op == "neuron")
    mode = mode or ("fixed" if formatted else "float")
    if mode == "fixed":
        graph = calibrate(graph, train_set[0][:CALIBRATION_SAMPLES], spike_bits)
    trace = execute(graph, x, mode, batch_size=batch_size, schedule=schedule)
    return Deployed(checkpoint_paths(path)[1].stem, card, graph, trace, y, mode, spike_bits, x, schedule)
