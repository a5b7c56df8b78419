"""Runs an empf-hw SANA-FE export in SANA-FE (inside its own virtual environment; see peers.py) and prints JSON.

    python sanafe_runner.py EXPORT_DIR [simple|detailed]

It unzips ``network.yaml.gz`` (as a user would, ``gunzip -k``); for every sample in ``inputs.json`` it loads
``arch.yaml`` and ``network.yaml``, sets the input neurons' spike
trains, simulates ``steps`` timesteps on a fresh chip and records, per timestep: spikes per group, synaptic events,
messages, hops, energy per component and simulated time."""

import gzip
import json
import sys
import time
from pathlib import Path

import sanafe


def run(export: Path, timing: str) -> dict:
    inputs = json.loads((export / "inputs.json").read_text())
    (export / "network.yaml").write_bytes(gzip.decompress((export / "network.yaml.gz").read_bytes()))
    out = {"samples": [], "wall_s": {}}
    t0 = time.perf_counter()
    arch = sanafe.load_arch(str(export / "arch.yaml"))
    out["wall_s"]["load_arch"] = time.perf_counter() - t0
    for spikes in inputs["samples"]:
        t1 = time.perf_counter()
        net = sanafe.load_net(str(export / "network.yaml"), arch)
        for i, neuron in enumerate(net.groups[inputs["group"]].neurons):
            neuron.set_attributes(model_attributes={"spikes": spikes[i]})
        chip = sanafe.SpikingChip(arch)
        chip.load(net)
        t2 = time.perf_counter()
        res = chip.sim(inputs["steps"], timing_model=timing, spike_trace=True, perf_trace=True, message_trace=True)
        t3 = time.perf_counter()
        perf = res["perf_trace"]
        fired = []  # per step: group → offsets of the neurons that fired
        for step in res["spike_trace"]:
            groups = {}
            for a in step:
                groups.setdefault(a.group_name, []).append(a.neuron_offset)
            fired.append(groups)
        out["samples"].append({
            "fired": fired, "synaptic_events": list(perf["spikes"]), "hops": list(perf["hops"]),
            "messages": [sum(not m["placeholder"] for m in step) for step in res["message_trace"]],
            "updated": list(perf["updated"]), "sim_time_s": list(perf["sim_time"]),
            "energy_J": {k: list(perf[f"{k}_energy"]) for k in ("synapse", "dendrite", "soma", "network", "total")},
            "wall_s": {"build_and_load": t2 - t1, "sim": t3 - t2}})
    return out


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "simple")))
