"""The network a hardware command costs: a trained checkpoint (``--model``) or an untrained network of the catalog
(``--random-init ARCH``, for costing before training), deployed with the timestep semantics of the chip."""

from ..errors import EmpfError
from ..nn.catalog import ARCHS, NEURONS
from .args import add_data_dir, add_num_classes, add_spike_bits, integer


def add_workload(p, samples_default: int | None = None) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="checkpoint: path stem, .json or .safetensors, or a shipped model's name")
    g.add_argument("--random-init", choices=sorted(ARCHS), metavar="ARCH", help="an untrained catalog network "
                   "(random weights, BatchNorm statistics on synthetic inputs): " + ", ".join(sorted(ARCHS)))
    p.add_argument("--neuron", choices=NEURONS, default="empf", help="with --random-init: neuron (default empf)")
    p.add_argument("--timesteps", type=integer(1, 1024), default=4, help="with --random-init: timesteps (default 4)")
    add_num_classes(p)
    p.add_argument("--time-axis", action="store_true", help="with --random-init: one synthetic event-camera frame "
                   "per timestep (e.g. vgg_snn_dvs)")
    add_spike_bits(p, "spike width of EM-PF models (default: the model's own width; 4 for floating-point spikes)")
    p.add_argument("--samples", type=integer(1, 1_000_000), default=samples_default,
                   help="only the first N test samples (default: " + (f"{samples_default})" if samples_default
                                                                       else "the whole split; 1 with --random-init)"))
    add_data_dir(p)


def add_lowering(p) -> None:
    p.add_argument("--lowering", choices=("parallel", "serial"), help="send spikes wider than the chip's packets "
                   "as binary spikes on parallel axons or over serial sub-steps, folding pooling into the synapses "
                   "(default: refuse such networks)")


def neuron_of(a) -> str:
    from ..nn.checkpoint import load_card

    return a.neuron if a.random_init else load_card(a.model)["config"]["neuron"]


def default_arch(a) -> str:
    return "stbp-core-45nm" if neuron_of(a) == "lif" else "empf-core-45nm"


def check_spike_bits(card: dict, bits: int | None, mode: str = "fixed") -> None:
    """Refuse ``--spike-bits`` where it cannot apply: LIF neurons (binary spikes) or float mode."""
    if bits is None:
        return
    if card["config"]["neuron"] == "lif":
        raise EmpfError(f"--spike-bits {bits}: the model has LIF neurons, whose spikes are binary; allowed: "
                        "--spike-bits with an EM-PF model, or no --spike-bits")
    if mode == "float":
        raise EmpfError(f"--spike-bits {bits} quantizes spikes in fixed point; allowed: --mode fixed, or no "
                        "--spike-bits with --mode float")


def deploy_for(a, arch):
    """Deploy the workload of ``a`` in fixed point for ``arch`` (its timestep semantics)."""
    from ..hw.evaluate import schedule_of

    if a.random_init:
        from ..sim.random_init import deploy_random

        return deploy_random(a.random_init, neuron=a.neuron, timesteps=a.timesteps, num_classes=a.num_classes or 0,
                             time_axis=a.time_axis, spike_bits=a.spike_bits, samples=a.samples or 1,
                             schedule=schedule_of(arch))
    from ..nn.checkpoint import load_card
    from ..sim.pipeline import deploy, hardware_spike_bits

    card = load_card(a.model)
    check_spike_bits(card, a.spike_bits)
    return deploy(a.model, spike_bits=hardware_spike_bits(card, a.spike_bits), samples=a.samples,
                  data_dir=a.data_dir, mode="fixed", schedule=schedule_of(arch))
