"""Action counts of the cores template, per layer and timestep (per inference), in the vocabulary of
``empf_hw.hw.energy.CORES_ENTRIES``.

- synapse stage and accumulator: the layer's compute mode's (``empf_hw.hw.cores.compute``): event-driven,
  ``syn_<kind>`` per synaptic event (event × connection × weight slice; kind: ``conv`` for shared kernels, ``dense``
  for crossbars), ``syn_mult`` where a multi-bit value meets a multi-bit cell, ``dendrite_acc`` per synaptic event
  and slice, weight reads (``synapse_read_word``: whole SRAM words, ⌈cells / word⌉ per connected tap or row; with
  ``core.time_batched``, once per tap or row of a position with an event at any step), accumulator words and bits
  per synaptic event (read-modify-write, or lane registers with output-stationary accumulation); popcount,
  ``popcount_bit`` per weight × input bit pair, ``dendrite_acc`` per shift-add, the crossbar read per position and
  bit plane, the input window read from the spike buffer, one accumulator write per output;
- dendrite: ``psum_add`` per partial sum merged;
- soma: ``neuron_access`` per neuron visited per timestep, ``neuron_update`` per neuron updated (all neurons with
  ``neuron_update_mode: clock``; those with input or non-zero potential with ``event``), ``neuron_affine`` per
  update of a neuron with a membrane affine (EM-PF Mem-BN), ``spike_gen`` per spike, ``spike_quantize`` per
  multi-bit spike (EM-PF: (m − θ) scaled to the spike code and clipped),
  ``aux_op`` per pooling / residual / attention op and per neuron and extra sub-step of a serial lowering (shift);
- network: ``message_send`` and ``message_receive`` per packet (one per spike and destination core, and per
  partial-sum packet; the network's input is sent from the I/O port), ``message_bit`` per value bit a packet
  carries beyond its address, ``hop_ns`` / ``hop_ew`` per packet-hop, ``hop_bit`` per bit-hop on chip,
  ``router_buffer_bit`` / ``router_xbar_bit`` per flit bit and router traversed (the source's router and one per
  hop, flits of ``noc_link_bits``), ``router_arb`` per packet and router traversed, ``pack_bit`` per bit of a
  multi-spike packet assembled (``core.spikes_per_packet`` > 1), ``chip_link_bit`` per bit
  crossing between chips, ``barrier`` per lockstep (sub-)step; with ``chip.readout: host`` the same per readout
  packet (one per output neuron, address + membrane bits, to the I/O port after the last timestep; the port's
  receipt is its ``message_receive``);
- memories: partial sums (``acc_*``; the accumulator is read once more by the neuron update), membrane read per neuron
  visited and write per neuron updated, per-timestep neuron parameters (``param_read_bit``), the spike buffer written
  and read once per packet, DRAM weight reloads of spilled tiles, and leakage of every used core for the whole
  inference (a layer is charged its cores × each timestep window); board-level static power (routers, chip links,
  idle cores without power gating, wake-ups) is charged to the first layer (``board_static``).

Network actions are charged to the layer that receives the packets; partial-sum and readout packets to the layer
that sends them.
"""

import numpy as np

from ..energy import CORES_ENTRIES
from .compute import MODES
from .tiles import Layer, Mapping
from .work import LayerWork, flits, psum_bits, readout_bits


def _share(total: np.ndarray, neurons: np.ndarray) -> np.ndarray:
    """(T,) layer totals split over tiles in proportion to their neurons → (T, n)."""
    return np.outer(total, neurons / max(neurons.sum(), 1))


def soma_activity(mapping: Mapping, works: dict[str, LayerWork], by: dict, batch: int) -> dict[str, tuple]:
    """Per layer: (updated, spikes, sent) per tile and timestep — neurons with input or potential, spikes emitted,
    packets the tile sends (spikes to every consumer core, partial sums)."""
    sent = {lay.name: works[lay.name].psum_out.copy() for lay in mapping.layers}
    for lay in mapping.layers:
        w = works[lay.name]
        if lay.producer != "input":
            per_src = w.flows.sum(axis=2)  # (T, P) packets from each producer tile
            sent[lay.producer][:, w.src_tiles] += per_src
    out = {}
    for lay in mapping.layers:
        w = works[lay.name]
        T = w.packets.shape[0]
        node = lay.neuron if lay.neuron is not None else lay.node
        c = by[node.name].counts
        # traces without per-step activity (older files) count every neuron as active
        active = c.get("active_neurons", c["neuron_updates"]) / batch if w.neurons.any() else np.zeros(T)
        if lay.neuron is None:  # the classifier's integrators
            active = np.full(T, float(w.neurons.sum())) if "active_neurons" not in c else active
        spikes = c["output_events"] / batch if lay.neuron is not None else np.zeros(T)
        out[lay.name] = (_share(active, w.neurons), _share(spikes, w.neurons), sent[lay.name])
    return out


def board_static(mapping: Mapping, windows: np.ndarray, used_cores: int) -> np.ndarray:
    """(actions, T) static actions no layer owns: powered routers' leakage (every router of a chip holding a tile;
    of every chip with ``chip.power_gating: none``), the always-on chip-to-chip links between powered chips, idle
    cores' leakage without power gating, and one wake-up per used core with it (at the first timestep)."""
    arch = mapping.arch
    ch = arch.chip
    w = windows.astype(np.float64)
    gated = ch["power_gating"] == "idle"
    s = arch.system
    chips = {(t.xy[0] // ch["mesh_rows"], t.xy[1] // ch["mesh_cols"]) for t in mapping.tiles}
    if not gated:
        chips = {(r, c) for r in range(s["chips_rows"]) for c in range(s["chips_cols"])}
    routers = ch["mesh_rows"] * ch["mesh_cols"] * len(chips)
    # directed chip-to-chip links between powered neighbours: one per router on the shared edge, each way
    links = 2 * sum(ch["mesh_rows"] * ((r, c + 1) in chips) + ch["mesh_cols"] * ((r + 1, c) in chips)
                    for r, c in chips)
    wake = np.zeros(len(w))
    wake[0] = used_cores if gated else 0
    counts = {"leakage_router_cycle": routers * w, "leakage_chip_link_cycle": links * w,
              "leakage_core_cycle": (0 if gated else arch.cores - used_cores) * w, "wakeup_core": wake}
    return np.stack([np.asarray(counts.get(k, np.zeros(len(w))), np.float64) for k in CORES_ENTRIES])


def layer_counts(mapping: Mapping, lay: Layer, w: LayerWork, soma: tuple, windows: np.ndarray, leak_cores: int,
                 barriers: int) -> np.ndarray:
    """(actions, T) counts of one layer in CORES_ENTRIES order."""
    arch = mapping.arch
    c = arch.core
    acc, mem, pb = c["accumulator_bits"], c["membrane_bits"], c["param_bits"]
    updated, spikes, _ = soma
    T = w.packets.shape[0]
    neurons = np.full(T, float(w.neurons.sum()))
    upd = updated.sum(axis=1) if c["neuron_update_mode"] == "event" else neurons
    psums = w.psum_in.sum(axis=1)
    packets = w.packets.sum(axis=1)
    psum_pk = w.psum_out.sum(axis=1)
    ns = w.hops_ns.sum(axis=1) + w.psum_hops[:, 0].sum(axis=1)
    ew = w.hops_ew.sum(axis=1) + w.psum_hops[:, 1].sum(axis=1)
    pbits = psum_bits(arch)
    on_chip_bits = (w.hops_ns + w.hops_ew).sum(axis=1) * w.packet_bits + w.psum_hops[:, :2].sum(axis=(1, 2)) * pbits
    cross_bits = w.crossings.sum(axis=1) * w.packet_bits + w.psum_hops[:, 2].sum(axis=1) * pbits
    # routers traversed: the source's and one per hop (on chip or across a chip link), spike and partial-sum packets
    traversals = packets + (w.hops_ns + w.hops_ew + w.crossings).sum(axis=1)
    psum_traversals = psum_pk + w.psum_hops.sum(axis=(1, 2))
    link = arch.chip["noc_link_bits"]
    flit_bits = (traversals * flits(w.packet_bits, link) + psum_traversals * flits(pbits, link)) * link
    last = np.arange(T) == T - 1  # the readout: after the last timestep, each output value to the I/O port
    rbits, out_pk = readout_bits(arch), last * float(w.readout.sum())
    out_ns, out_ew, out_cross = (last * float(w.readout @ h) for h in w.readout_hops)
    out_traversals = out_pk + out_ns + out_ew + out_cross
    heads = [t for t in lay.tiles if t.merges]
    nrn = lay.neuron
    affine = nrn is not None and not (np.all(nrn.tensors["in_scale"] == 1) and np.all(nrn.tensors["in_bias"] == 0))
    graded = nrn is not None and nrn.attrs["spike_bits"] > 1
    per_channel = 3 + 2 * affine
    params = sum((t.outputs[1] - t.outputs[0]) * per_channel + 1 for t in heads) * pb
    counts = {
        "psum_add": psums,
        "neuron_access": neurons,
        "neuron_update": upd,
        "neuron_affine": upd * affine,
        "spike_gen": spikes.sum(axis=1),
        "spike_quantize": spikes.sum(axis=1) * graded,
        "aux_op": w.aux.sum(axis=1),
        "message_send": packets + psum_pk + out_pk,
        "message_bit": packets * (w.packet_bits - c["address_bits"]) + out_pk * mem,
        "message_receive": packets + psum_pk + out_pk,
        "hop_ew": ew + out_ew,
        "hop_ns": ns + out_ns,
        "hop_bit": on_chip_bits + (out_ns + out_ew) * rbits,
        "router_buffer_bit": flit_bits + out_traversals * flits(rbits, link) * link,
        "router_xbar_bit": flit_bits + out_traversals * flits(rbits, link) * link,
        "router_arb": traversals + psum_traversals + out_traversals,
        "pack_bit": packets * w.packet_bits * (c["spikes_per_packet"] > 1),
        "chip_link_bit": cross_bits + out_cross * rbits,
        "barrier": np.full(T, float(barriers)),
        "membrane_read_bit": neurons * mem,
        "membrane_write_bit": upd * mem,
        "param_read_bit": np.full(T, float(params)),
        "buffer_read_bit": packets * w.packet_bits,
        "buffer_write_bit": packets * w.packet_bits,
        "dram_bit": np.full(T, float(w.dram_bits.sum())),
        "leakage_core_cycle": leak_cores * windows.astype(np.float64),
        **MODES[w.syn.mode].counts(c, lay, w.syn, psums * acc, upd * acc),  # the synapse stage and accumulator
    }
    out = np.zeros((len(CORES_ENTRIES), T))
    for i, k in enumerate(CORES_ENTRIES):
        if k in counts:
            out[i] = counts[k]
    return out
