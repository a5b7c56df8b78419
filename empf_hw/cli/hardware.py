"""Hardware commands: ``cost``, ``ert``, ``scalesim``."""

from ..errors import EmpfError
from .args import add_data_dir, add_model, add_out, add_samples, add_spike_bits


def default_arch(card: dict) -> str:
    return "stbp-core-45nm" if card["config"]["neuron"] == "lif" else "empf-core-45nm"


def cmd_ert(a) -> int:
    from ..hw import format_table, load_arch

    print(format_table(load_arch(a.arch)))
    return 0


def cmd_cost(a) -> int:
    import json

    from ..hw import evaluate, load_arch
    from ..nn.checkpoint import load_card
    from ..report.files import check_output_dir, write_outputs
    from ..sim.pipeline import deploy, hardware_spike_bits

    card = load_card(a.model)
    arch = load_arch(a.arch or default_arch(card))
    if a.out:
        check_output_dir(a.out, a.force)
    d = deploy(a.model, spike_bits=hardware_spike_bits(card, a.spike_bits), samples=a.samples,
               data_dir=a.data_dir, mode="fixed")
    costs = evaluate(d.trace, arch, model=d.name, accuracy=d.accuracy)
    summary, layers = costs.summary(), costs.by_layer()
    if a.out:
        write_outputs(a.out, {"summary.csv": summary, "layers.csv": layers}, force=a.force)
    if a.json:
        print(json.dumps(summary.iloc[0].to_dict(), sort_keys=True, default=float))
        return 0
    cols = ["layer", "op", "tiles", "value_width_bits", "sops", "syn_ops_hw", "neuron_updates", "busy_cycles",
            "energy_pJ"]
    print(layers[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(summary.T.to_string(header=False, float_format=lambda v: f"{v:.6g}"))
    return 0


def cmd_scalesim(a) -> int:
    import json

    from ..hw import load_arch
    from ..hw.scalesim_io import dense_cycles, read_topology

    arch = load_arch(a.arch)
    if arch.template != "systolic":
        raise EmpfError(f"arch={a.arch!r} uses the {arch.template} template; allowed: a systolic preset, YAML or "
                        "SCALE-Sim .cfg")
    layers = read_topology(a.topology, True if a.gemm else None)
    cycles = dense_cycles(layers, arch)
    rows = [{"layer": g.name, "M": g.M, "N": g.N, "K": g.K, "compute_cycles": c} for g, c in zip(layers, cycles)]
    if a.json:
        print(json.dumps(rows))
        return 0
    c = arch.core
    print(f"{arch.name}: {c['rows']}x{c['cols']} {c['dataflow'].upper()} array, dense compute cycles per layer")
    print(f"{'layer':<24} {'M':>8} {'N':>8} {'K':>8} {'compute_cycles':>15}")
    for r in rows:
        print(f"{r['layer']:<24} {r['M']:>8} {r['N']:>8} {r['K']:>8} {r['compute_cycles']:>15}")
    print(f"total compute cycles: {sum(cycles)}")
    return 0


def add_parsers(sub) -> None:
    c = sub.add_parser("cost", help="energy, latency, operations and memory of one model on one architecture")
    add_model(c)
    c.add_argument("--arch", help="preset name, YAML path or SCALE-Sim .cfg (default: stbp-core-45nm for LIF, "
                   "else empf-core-45nm)")
    add_spike_bits(c, "spike width of EM-PF models (default: the model's own width; 4 for floating-point spikes)")
    add_samples(c)
    c.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_out(c, "also write summary.csv and layers.csv into this directory")
    add_data_dir(c)
    c.set_defaults(func=cmd_cost)

    h = sub.add_parser("ert", help="print an architecture's energy reference table with sources")
    h.add_argument("--arch", default="empf-core-45nm", help="preset name or YAML path (default empf-core-45nm)")
    h.set_defaults(func=cmd_ert)

    sc = sub.add_parser("scalesim", help="dense-mode cycles of a SCALE-Sim topology CSV on a systolic array")
    sc.add_argument("--topology", required=True, help="SCALE-Sim topology CSV (conv or GEMM)")
    sc.add_argument("--arch", default="systolic-32x32-45nm", help="systolic preset, YAML or SCALE-Sim .cfg "
                    "(default systolic-32x32-45nm)")
    sc.add_argument("--gemm", action="store_true", help="require a GEMM topology (header Layer, M, N, K); by "
                    "default the header decides")
    sc.add_argument("--json", action="store_true", help="print the rows as JSON")
    sc.set_defaults(func=cmd_scalesim)
