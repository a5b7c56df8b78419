"""Cycle-level simulation of one inference (a batch-1 trace) on the cores template.

Every spike becomes packets — one per destination tile whose input window contains it; a split tile sends one
partial sum per neuron — that leave the router of the core holding the spiking neuron (the network's input: the I/O
port) while that neuron's tile runs its neuron phase, and cross the board flit by flit:

- routers: five input ports (local injection, one per neighbour) with ``noc_buffer_flits``-deep buffers, XY
  dimension-order routing, one flit per link and cycle (``noc_link_bits`` wide; a chip-to-chip link passes a flit
  every ⌈noc_link_bits / chip_link_bits⌉ cycles and a packet's partly filled last flit in ⌈its bits /
  chip_link_bits⌉, ``chip_link_cycles`` late), the direction's per-hop latency
  (``latency.hop_ew`` / ``hop_ns``), wormhole switching (an output is held from a packet's head to its tail),
  round-robin arbitration and credit back-pressure (a flit moves only into a free buffer slot);
- cores: a spike packet is ejected into the core's input FIFO (``input_fifo_packets``; full → it waits in the
  router; 0: no FIFO limit, the spike buffer holds the timestep's input window); one synapse engine takes the
  packets in order: spike bus
  (1 / packets per bus word) + ``latency.message_receive``, then the packet's lane rows one per
  ``latency.syn_<kind>`` from the banked synapse SRAM (row k of a packet whose first event is input neuron i is in
  bank (i + k) mod ``synapse_banks``; a read waits for its bank, which it holds ``synapse_bank_cycles``: bank
  conflicts arise from the addresses); the ``neuron_units`` then
  run the tile's neuron phase (psum merge on the accumulator lanes, which it shares with the synapse engine: it
  waits for the packet in service, and the packets behind it wait for the merge; then a sweep over the neurons in
  order, ``neuron_units`` at a time: access, update, spike generation; ``latency.message_send`` per packet,
  auxiliary ops: the fast model's phase B), and a neuron's spikes leave once its group is done, one send after
  another, into the core's output queue (``output_queue_packets``: the packets released to the router but not yet
  injected; full → the encoder and the neuron units stall, and the phase ends that much later; 0: unbounded);
- timesteps, ``pipelined``: a tile opens timestep t when it finished t−1; its neuron phase starts when it processed
  every packet of t, its partial sums arrived, every producer finished t (a sideband signal after the route's
  latency, at least a cycle per router) and every consumer opened t (back-pressure: no packet is ever sent for a
  timestep its destination has not opened, so FIFOs cannot deadlock); the input is injected once the input layer
  opened the timestep.
  ``lockstep``: in step s every neuron phase starts at once (per core one tile after another), the packets they
  send are delivered and processed (the trace's synaptic rows of the step), and ``barrier_cycles`` end the step;
- ``chip.readout: host``: once a tile of a layer no other layer reads ends the last timestep (lock-step: after the
  last step), its output values leave as packets (address + membrane bits) for the I/O router, eject into the I/O
  port and cross the host link one after another, readout bits / ``host_link_bits`` cycles each (the port is an
  engine of its own); the layer's last timestep ends when the host has the last.

Time advances cycle by cycle while flits are in flight, vectorized over the routers' ports, and jumps over idle
stretches. Energy counts are the fast model's (the same packets); the simulation adds timing, stalls by cause
(router ports: arbitration lost or output held by another packet, link serializing, no credit downstream, core
FIFO full; cores: bank conflicts, accumulator lanes busy, output queue full, waiting for producers, for consumers
and for neuron units; lockstep barriers), flits per link and the peak occupancy of every router buffer.

The package: ``packets`` (each layer's input packets from the trace), ``simulation`` (tiles, timesteps, neuron
phases and the event heap), ``network`` (the mesh: its state and the readable NumPy reference routers),
``netkernel`` (the same routers compiled with numba; tested equal cycle for cycle), ``result`` (the Timing).
"""

from .simulation import simulate

__all__ = ["simulate"]
