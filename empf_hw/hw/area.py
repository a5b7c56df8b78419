"""Silicon area of the cores template (mm²): SRAM arrays, core logic and routers, and the router pitch (the wire
length of a hop) that follows from them.

- SRAM: a 6T cell of 146 F² (CACTI's SRAM cell; Thoziyoor et al., CACTI 5.1, HPL-2008-20) over an array
  efficiency of 60 % (decoders, sense amplifiers, I/O; assumption, CACTI reports 50–75 % for small arrays).
- Logic in NAND2 gate equivalents (GE) of 0.798 µm² at 45 nm (Nangate 45 nm Open Cell Library, NAND2_X1): a full
  adder 6 GE per bit, an n × n array multiplier 6·n² GE, a flip-flop 5.67 GE (DFF_X1, 4.52 µm²), a 2:1 mux 2 GE
  per input and bit of a crossbar, an AND2 1.33 GE; core control 5 kGE, router control (route compute, allocators) 2 kGE
  (assumptions).
- A core: its three SRAMs, ``accumulator_lanes`` adders of ``accumulator_bits`` with a lane register each,
  ``neuron_units`` units (a ``membrane_bits`` multiplier and three adders), the input FIFO's and output queue's
  packets, the lane registers of output-stationary accumulation, the popcount array (``popcount_bits`` AND gates and
  full adders; the lane adders shift-add) where ``synapse_compute`` allows it. A router: five input ports ×
  ``noc_buffer_flits`` flits × ``noc_link_bits`` flip-flops, a 5 × 5 crossbar of ``noc_link_bits`` and its control.
- Other nodes scale areas by (node / 45 nm)² (ideal scaling; assumption: SRAM cells shrink somewhat less).

The router pitch is ``chip.router_pitch_mm`` when given, else the side of a square router tile holding
``cores_per_router`` cores and the router.
"""

import math

from .acc_width import OUTPUT_STATIONARY, acc_width

SRAM_CELL_F2 = 146
SRAM_EFFICIENCY = 0.6
GE_UM2 = 0.798  # NAND2_X1, 45 nm
FA_GE, DFF_GE, MUX_GE, AND_GE = 6.0, 5.67, 2.0, 1.33  # AND2_X1 1.064 µm²
CORE_CONTROL_GE, ROUTER_CONTROL_GE = 5000, 2000
PORTS = 5  # local + four neighbours
TRACK_PITCH_UM_45 = 0.14  # intermediate metal (metal 2–3) pitch of NCSU FreePDK45: 70 nm width + 70 nm spacing


def track_pitch_um(node_nm: float) -> float:
    """Wire track pitch at ``node_nm`` (FreePDK45's, scaled with the node)."""
    return TRACK_PITCH_UM_45 * node_nm / 45.0


def _scale(arch) -> float:
    return (arch.chip["tech_node_nm"] / 45.0) ** 2


def sram_mm2(bits: float, node_nm: float) -> float:
    """Area of an SRAM array of ``bits`` at ``node_nm``."""
    return bits * SRAM_CELL_F2 * (node_nm * 1e-6) ** 2 / SRAM_EFFICIENCY


def core_logic_ge(arch) -> float:
    """Gate equivalents of a core's datapath, FIFO, registers and control."""
    c = arch.core
    acc, mem = acc_width(c), c["membrane_bits"]
    lanes = c["accumulator_lanes"] * acc * (FA_GE + DFF_GE)
    units = c["neuron_units"] * (FA_GE * mem * mem + 3 * FA_GE * mem)
    fifo = ((c["input_fifo_packets"] + c["output_queue_packets"]) * (c["address_bits"] + c["spike_payload_bits"])
            * DFF_GE)
    regs = c["accumulator_registers"] * acc * DFF_GE if c["accumulation"] == OUTPUT_STATIONARY else 0.0
    pop = c["popcount_bits"] * (AND_GE + FA_GE) if c["synapse_compute"] != "event" else 0.0
    return lanes + units + fifo + regs + pop + CORE_CONTROL_GE


def router_ge(arch) -> float:
    """Gate equivalents of a router: input buffers, crossbar and control."""
    ch = arch.chip
    link = ch["noc_link_bits"]
    return PORTS * ch["noc_buffer_flits"] * link * DFF_GE + PORTS * PORTS * link * MUX_GE + ROUTER_CONTROL_GE


def core_mm2(arch) -> float:
    """Area of one core: its SRAMs and its logic."""
    bits = sum(arch.kib_bits(m) for m in ("synapse", "membrane", "buffer"))
    return sram_mm2(bits, arch.chip["tech_node_nm"]) + core_logic_ge(arch) * GE_UM2 * 1e-6 * _scale(arch)


def router_mm2(arch) -> float:
    return router_ge(arch) * GE_UM2 * 1e-6 * _scale(arch)


def tile_mm2(arch) -> float:
    """One router with its cores."""
    return arch.chip["cores_per_router"] * core_mm2(arch) + router_mm2(arch)


def chip_mm2(arch) -> float:
    """One chip: its mesh of router tiles (I/O pads and SerDes not included)."""
    return arch.chip["mesh_rows"] * arch.chip["mesh_cols"] * tile_mm2(arch)


def router_pitch_mm(arch) -> float:
    """Distance between neighbouring routers: ``chip.router_pitch_mm``, or the side of a square router tile."""
    given = arch.chip["router_pitch_mm"]
    return given if given is not None else math.sqrt(tile_mm2(arch))
