"""Per-cycle reference simulator for tiny networks, written for clarity, not speed.

It takes a batch-1 ActivityTrace, lists every input event of every tile, finds each event's fan-out by checking
every output neuron of the tile against the kernel, then advances a global clock one cycle at a time: the bus
moves its packets per cycle, the lanes serve one event at a time, each neuron unit updates one neuron, and a
layer's timestep starts once its producers' spikes have crossed the NoC, its previous timestep is done and its
cores are free. ``empf_hw.hw.timing`` must agree with it cycle for cycle.
"""

import math

from ..errors import EmpfError
from .mapper import Mapping


def _fanout(lay, tile, pos) -> int:
    """Neurons of ``tile`` that an input event at ``pos`` reaches (brute force over the tile's neurons)."""
    o0, o1 = tile.outputs
    if lay.node.op == "linear":
        return o1 - o0 if tile.inputs[0] <= pos[0] < tile.inputs[1] else 0
    c, y, x = pos
    if not tile.inputs[0] <= c < tile.inputs[1]:
        return 0
    k = lay.node.tensors["weight"].shape[-1]
    s, p = lay.node.attrs["stride"], lay.node.attrs["padding"]
    wo = lay.node.shape[2]
    count = 0
    for _ in range(o0, o1):
        for r in range(*tile.rows):
            for q in range(wo):
                if 0 <= y + p - r * s < k and 0 <= x + p - q * s < k:
                    count += 1
    return count


def _positions(shape):
    if len(shape) == 1:
        return [(i,) for i in range(shape[0])]
    return [(c, y, x) for c in range(shape[0]) for y in range(shape[1]) for x in range(shape[2])]


def _hops(a, b) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def _phase_a_cycles(arch, lay, tile, events: list[int]) -> int:
    """DRAM reload, then one bus cycle per group of packets, then the lanes working through each event."""
    c, ch = arch.core, arch.chip
    cycles = 0
    if not tile.resident:
        left = tile.synapse_bits
        while left > 0:
            left -= ch["dram_bits_per_cycle"]
            cycles += 1
    bits = c["address_bits"] + lay.value_bits
    per_cycle = c["spike_bus_bits"] // bits
    left = len(events)
    while left > 0:
        if per_cycle >= 1:
            left -= per_cycle
            cycles += 1
        else:
            cycles += math.ceil(bits / c["spike_bus_bits"])
            left -= 1
    for fan in events:
        for _ in range(lay.slices):
            left = fan
            while left > 0:
                left -= c["accumulator_lanes"]
                cycles += 1
    return cycles


def _phase_b_cycles(arch, neurons: int, psums: int, aux: int) -> int:
    c = arch.core
    cycles = 0
    while psums > 0:
        psums -= c["accumulator_lanes"]
        cycles += 1
    while neurons > 0:
        neurons -= c["neuron_units"]
        cycles += c["neuron_update_cycles"]
    while aux > 0:
        aux -= c["neuron_units"]
        cycles += 1
    return cycles


def _psums(mapping: Mapping, lay, t: int, received: dict) -> tuple[dict[int, int], int]:
    """Partial sums each merging tile receives in timestep t (only tiles that got an event send), and the latency
    of the farthest sender."""
    ch, c = mapping.arch.chip, mapping.arch.core
    bits = c["address_bits"] + c["accumulator_bits"]
    got = {i: 0 for i in range(len(lay.tiles))}
    latency = 0
    for j, tile in enumerate(lay.tiles):
        if not tile.merges:
            for i, h in enumerate(lay.tiles):
                if h.merges and h.outputs == tile.outputs and h.rows == tile.rows:
                    if received[(lay.name, j, t)]:
                        got[i] += tile.neurons
                    latency = max(latency, _hops(tile.xy, h.xy) * ch["noc_hop_cycles"]
                                  + math.ceil(bits / ch["noc_link_bits"]) - 1)
    width = lay.node.shape[2] if len(lay.node.shape) == 3 else 1
    for src in lay.psum_sources:
        for j, st in enumerate(mapping.layer(src).tiles):
            if not (st.merges and received[(src, j, t)]):
                continue
            for i, h in enumerate(lay.tiles):
                if h.merges:
                    for o in range(*st.outputs):
                        for r in range(*st.rows):
                            if h.outputs[0] <= o < h.outputs[1] and h.rows[0] <= r < h.rows[1]:
                                got[i] += width
    return got, latency


def simulate(mapping: Mapping, trace) -> dict:
    """Cycle-by-cycle schedule of a batch-1 trace: {"start": {(layer, t): cycle}, "finish": ..., "cycles": n}."""
    if trace.batch != 1:
        raise EmpfError(f"the reference simulator takes batch-1 traces; got batch {trace.batch}")
    arch = mapping.arch
    ch, c = arch.chip, arch.core
    by = {lt.name: lt for lt in trace.layers}
    T = trace.meta["timesteps"]
    events = {}  # (layer, tile, t) → fan-out of every event the tile receives
    for lay in mapping.layers:
        em = by[lay.name].event_map
        for i, tile in enumerate(lay.tiles):
            for t in range(T):
                events[(lay.name, i, t)] = []
                for pos in _positions(lay.in_shape):
                    for _ in range(int(em[(t, *pos)])):
                        fan = _fanout(lay, tile, pos)
                        if fan:
                            events[(lay.name, i, t)].append(fan)
    tasks = {}  # (t, layer index) → {"cores": core → [A cycles, B cycles], "latency": psum latency}
    for li, lay in enumerate(mapping.layers):
        aux = [sum(int(by[a].counts["other_ops"][t]) for a in lay.aux) for t in range(T)]
        total_neurons = sum(t.neurons for t in lay.tiles if t.merges)
        for t in range(T):
            got, psum_latency = _psums(mapping, lay, t, events)
            per_core = {}
            for i, tile in enumerate(lay.tiles):
                a = _phase_a_cycles(arch, lay, tile, events[(lay.name, i, t)])
                b = 0
                if tile.merges:
                    share = -(-aux[t] * tile.neurons // max(total_neurons, 1))
                    neurons = tile.neurons if lay.neuron is not None else 0
                    b = _phase_b_cycles(arch, neurons, got[i], share)
                slot = per_core.setdefault(tile.core, [0, 0])
                slot[0] += a
                slot[1] += b
            tasks[(t, li)] = {"cores": per_core, "latency": psum_latency}
    names = [lay.name for lay in mapping.layers]

    def link_latency(src: str, dst, bits: int) -> int:
        far = 0
        for st in mapping.layer(src).tiles:
            if st.merges:
                for dt in dst.tiles:
                    far = max(far, _hops(st.xy, dt.xy))
        return far * ch["noc_hop_cycles"] + math.ceil(bits / ch["noc_link_bits"]) - 1

    deps = {}
    for li, lay in enumerate(mapping.layers):
        spike_bits = c["address_bits"] + lay.value_bits
        d = []
        if lay.producer != "input":
            d.append((names.index(lay.producer), link_latency(lay.producer, lay, spike_bits)))
        for s in lay.psum_sources:
            d.append((names.index(s), link_latency(s, lay, c["address_bits"] + c["accumulator_bits"])))
        for s in lay.spike_sources:
            d.append((names.index(s), link_latency(s, lay, spike_bits)))
        deps[li] = d
    order = sorted(tasks)
    start, finish, state = {}, {}, {}  # state: [phase, cycles left per core (A, B) or latency left (L)]
    now = 0

    def ready(k) -> bool:
        t, li = k
        if not all((t, p) in finish and finish[(t, p)] + lat <= now for p, lat in deps[li]):
            return False
        if t and (t - 1, li) not in finish:
            return False
        cores = set(tasks[k]["cores"])
        return all(j in finish for j in order[:order.index(k)] if cores & set(tasks[j]["cores"]))

    def settle(k) -> bool:
        """Zero-time phase changes of a running task; True when it finished now."""
        st = state[k]
        while True:
            if st[0] == "A" and all(v <= 0 for v in st[1].values()):
                st[:] = ["L", tasks[k]["latency"]]
            elif st[0] == "L" and st[1] <= 0:
                st[:] = ["B", {cr: v[1] for cr, v in tasks[k]["cores"].items()}]
            elif st[0] == "B" and all(v <= 0 for v in st[1].values()):
                finish[k] = now
                return True
            else:
                return False

    while len(finish) < len(order):
        changed = True
        while changed:  # start what is ready and finish what is done at this cycle, until nothing changes
            changed = False
            for k in order:
                if k not in state and ready(k):
                    start[k] = now
                    state[k] = ["A", {cr: v[0] for cr, v in tasks[k]["cores"].items()}]
                    changed = True
                if k in state and k not in finish and settle(k):
                    changed = True
        for k in order:  # one cycle of work for every running task
            if k in state and k not in finish:
                st = state[k]
                if st[0] == "L":
                    st[1] -= 1
                else:
                    for cr in st[1]:
                        st[1][cr] -= 1
        if len(finish) < len(order):
            now += 1
    return {"start": {(names[li], t): v for (t, li), v in start.items()},
            "finish": {(names[li], t): v for (t, li), v in finish.items()},
            "cycles": max(finish.values(), default=0)}
