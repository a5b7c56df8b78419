"""ActivityTrace: per layer and timestep, the activity that drives every hardware cost figure.

Counts are totals over the executed batch (divide by ``batch`` for one inference). Per node, arrays of length T:

- ``input_events``   non-zero inputs arriving at a synaptic layer
- ``sops``           synaptic operations: Σ over events of the event's exact fan-out (padding/stride honoured)
- ``dense_ops``      operations of a dense evaluation, ``C_out·H_out·W_out·C_in·k²`` (padding taps included)
- ``macs``           multiply-accumulates of layers with real-valued input (the stem): their dense count, ``sops`` 0
- ``neuron_updates`` membrane updates; ``output_events`` non-zero spikes emitted
- ``active_neurons`` neurons with input current or a non-zero potential in the step (the rest only need a state
  check on event-driven hardware); for the classifier, its outputs with a non-zero current
- ``other_ops``      pooling adds/compares, residual adds, attention arithmetic
- ``acc_saturations``, ``membrane_saturations``, ``spike_clips`` (fixed mode only)
- ``nonbinary_inputs`` inputs of a synaptic layer whose value is not in {−1, 0, 1} (NeuroBench counts a layer's
  operations as MACs, not ACs, when any input is such a value)

Synaptic layers also carry ``value_bits`` (T, 33): events by the bits needed for their integer code (fixed mode;
in float mode every event is filed under 0), ``event_map`` (T, *input shape): per input position, in how many
samples of the batch it produced an event, for multi-bit codes in fixed mode ``bit_maps`` (T, B, *input shape): in
how many samples bit j of the code was set, and ``any_map`` (*input shape): per position, in how many samples it
produced an event at any timestep (what a time-batched layer fetches weights for), and in fixed mode ``acc_bits``
(T, ACC_WIDTHS): the layer's accumulator sums (one per output neuron and sample) by the signed width they need,
``bit_length(|sum|) + 1`` (what a narrower hardware accumulator would saturate). Pooling nodes keep the same
maps of their *input* (what a chip without pooling hardware receives, see ``empf_hw.hw.cores.lowering``). With
``lockstep`` timesteps (``meta["schedule"]``) the time axis is the chip's T + depth steps.
``meta["static_input"]``: true when one input frame was presented at every logical timestep (a layer fed only by it
could be computed once), false for a time-varying input (one frame per timestep); traces saved before it existed
lack the key (they were static).
Saved as ``.npz`` (no pickle) + ``.json``.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EmpfError
from ..paths import check_parent

COUNTS = ("input_events", "sops", "dense_ops", "macs", "neuron_updates", "active_neurons", "output_events",
          "other_ops",
          "acc_saturations", "membrane_saturations", "spike_clips", "nonbinary_inputs")
MAX_BITS = 32
ACC_WIDTHS = 66  # signed widths 0..65 of an accumulator sum (wider sums are filed under 65)
MAPS = ("value_bits", "event_map", "bit_maps", "any_map", "acc_bits")  # a synaptic layer's arrays besides its counts


def check_trace_target(path: str | Path, force: bool) -> None:
    """Refuse to overwrite ``<path>.npz/.json`` unless ``force`` is given and both are empf-hw traces."""
    stem = Path(path).with_suffix("")
    existing = [p for p in (Path(f"{stem}.npz"), Path(f"{stem}.json")) if p.exists()]
    if not existing:
        check_parent(f"{stem}.npz", "--trace-out")
        return
    if not force:
        raise EmpfError(f"--trace-out {path}: {existing[0]} already exists; allowed: a new path, or --force to "
                        "replace an empf-hw trace")
    ActivityTrace.load(stem)  # both files must be an empf-hw trace; anything else is never overwritten


@dataclass
class LayerTrace:
    name: str
    op: str
    shape: tuple[int, ...]
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # field → (T,) int64
    value_bits: np.ndarray | None = None  # (T, 33)
    event_map: np.ndarray | None = None  # (T, *input shape)
    bit_maps: np.ndarray | None = None  # (T, B, *input shape): per position, samples with bit j of the code set
    any_map: np.ndarray | None = None  # (*input shape): per position, samples with an event at any timestep
    acc_bits: np.ndarray | None = None  # (T, ACC_WIDTHS): accumulator sums by the signed width they need


@dataclass
class ActivityTrace:
    layers: list[LayerTrace]
    logits: np.ndarray  # (T, N, classes)
    meta: dict  # mode, timesteps, batch, graph_attrs, schedule, logical_timesteps, static_input
    graph: object = field(default=None, repr=False, compare=False)  # the DeployGraph run (in memory only)
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # derived tables (empf_hw.hw)

    @property
    def batch(self) -> int:
        return self.meta["batch"]

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.mean(axis=0).argmax(axis=1)

    def total(self, count: str) -> int:
        """Sum of one count over layers and timesteps (whole batch)."""
        return int(sum(lt.counts[count].sum() for lt in self.layers))

    def summary(self) -> dict:
        """Per-inference totals of every count."""
        return {c: self.total(c) / self.batch for c in COUNTS}

    def save(self, path: str | Path) -> None:
        stem = Path(path).with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"logits": self.logits}
        for lt in self.layers:
            arrays.update({f"{lt.name}/{k}": v for k, v in lt.counts.items()})
            for k in MAPS:
                if getattr(lt, k) is not None:
                    arrays[f"{lt.name}/{k}"] = getattr(lt, k)
        np.savez_compressed(str(stem) + ".npz", **arrays)
        layers = [{"name": lt.name, "op": lt.op, "shape": list(lt.shape)} for lt in self.layers]
        Path(str(stem) + ".json").write_text(json.dumps({"meta": self.meta, "layers": layers}, indent=1,
                                                         sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ActivityTrace":
        stem = Path(path).with_suffix("")
        try:
            info = json.loads(Path(str(stem) + ".json").read_text())
            with np.load(str(stem) + ".npz", allow_pickle=False) as z:
                arrays = dict(z)
        except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
            raise EmpfError(f"trace {stem}: cannot read ({str(e).splitlines()[0]})") from None
        layers = []
        for d in info["layers"]:
            n = d["name"]
            counts = {c: arrays[f"{n}/{c}"] for c in COUNTS if f"{n}/{c}" in arrays}
            layers.append(LayerTrace(n, d["op"], tuple(d["shape"]), counts, *(arrays.get(f"{n}/{k}") for k in MAPS)))
        return cls(layers, arrays["logits"], info["meta"])
