"""Placement of tiles on cores: policies, capacity rules, DRAM spill, the seeded search, ``empf-hw map``, sweeps."""

import itertools
import json

import numpy as np
import pytest
from hw_helpers import _add, _neuron, _synaptic, random_trace, tiny_arch, tiny_graph

from empf_hw.cli import main
from empf_hw.cli import mapping as cli_mapping
from empf_hw.deploy.graph import DeployGraph
from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate, load_arch
from empf_hw.hw.cores import search as S
from empf_hw.hw.cores.mapper import map_graph
from empf_hw.hw.cores.placement import POLICIES

LIF = "models/digits_cnn-lif-stbp-T4"
NEURON_BITS = 24 + 32  # membrane + accumulator bits of a neuron in the tiny architectures


def chain(features: int, widths: list[int], T: int = 1) -> DeployGraph:
    """input → linear → LIF → … → linear → output (binary weights, binary spikes)."""
    rng = np.random.default_rng(0)
    nodes = []
    h = _add(nodes, "input", "input", [], {"shape": [features], "input_bits": 8})
    for i, w in enumerate(widths):
        h = _synaptic(nodes, f"fc{i + 1}", h, w, rng)
        if i < len(widths) - 1:
            h = _neuron(nodes, f"n{i + 1}", h, T, 1)
    _add(nodes, "output", "output", [h])
    return DeployGraph(nodes, {"timesteps": T, "membrane_bits": 24, "membrane_frac_bits": 8, "accumulator_bits": 32})


def ones_trace(g: DeployGraph):
    """One event at every input position of every synaptic layer in every timestep (batch 1)."""
    tr = random_trace(g, np.random.default_rng(0))
    for lt in tr.layers:
        if lt.event_map is not None:
            lt.event_map[:] = 1
    return tr


def path_xy(k: int, cols: int) -> tuple[int, int]:
    """Serpentine router order, written out: even rows left to right, odd rows right to left."""
    r = k // cols
    return (r, k % cols) if r % 2 == 0 else (r, cols - 1 - k % cols)


def hops(costs) -> tuple[float, float]:
    a = costs.actions.groupby("action")["count"].sum()
    return a["hop_ew"], a["hop_ns"]


# --- every policy gives a valid mapping ------------------------------------------------------------------------

ARCHS = [dict(mesh_rows=6, mesh_cols=6), dict(mesh_rows=3, mesh_cols=4, cores_per_router=3),
         dict(mesh_rows=2, mesh_cols=2, dram_spill=True, membrane_sram_KiB=2),
         dict(mesh_rows=1, mesh_cols=3, dram_spill=True, synapse_sram_KiB=4, membrane_sram_KiB=3),
         dict(mesh_rows=1, mesh_cols=2, dram_spill=True, synapse_sram_KiB=0.125, membrane_sram_KiB=3)]


def capacity(arch) -> int:
    """Neurons a core holds: its membrane SRAM over the bits of one neuron, at most core.max_neurons."""
    c = arch.core
    cap = int(c["membrane_sram_KiB"] * 8192) // NEURON_BITS
    return min(cap, c["max_neurons"]) if c["max_neurons"] else cap


def check_valid(m, arch):
    """Capacity rules, computed here from the arch fields: every tile on one core of the arch; one tile per core
    unless chip.dram_spill; a core's summed neuron state within its membrane SRAM (and max_neurons); each tile
    within the crossbar and the buffer; resident weights within the synapse SRAM, in tile order."""
    c, cap = arch.core, capacity(arch)
    tiles = m.tiles
    assert [t.index for t in tiles] == list(range(len(tiles)))
    assert all(0 <= t.core < arch.cores for t in tiles)
    cols = arch.chip["mesh_cols"] * arch.system["chips_cols"]
    assert all(t.xy == path_xy(t.core // arch.chip["cores_per_router"], cols) for t in tiles)
    per_core = {}
    for t in tiles:
        per_core.setdefault(t.core, []).append(t)
        assert t.buffer_bits <= c["buffer_sram_KiB"] * 8192 and t.synapse_bits <= c["synapse_sram_KiB"] * 8192
    for ts in per_core.values():
        assert len(ts) == 1 or arch.chip["dram_spill"]
        assert sum(t.neurons for t in ts) <= cap
        held = 0
        for t in ts:
            assert t.resident == (held + t.synapse_bits <= c["synapse_sram_KiB"] * 8192)
            held += t.synapse_bits * t.resident
    for lay in m.layers:  # the tiles of a layer cover its outputs (and rows) once per input group
        n_in = len(lay.splits[0])
        cover = sum((t.outputs[1] - t.outputs[0]) * (t.rows[1] - t.rows[0]) for t in lay.tiles)
        rows = lay.node.shape[1] if len(lay.node.shape) == 3 else 1
        assert cover == n_in * lay.node.shape[0] * rows


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("over", ARCHS)
def test_every_policy_yields_a_valid_mapping(seed, over):
    rng = np.random.default_rng(seed)
    g = tiny_graph(rng, residual=seed % 2 == 0, pool=seed % 3 == 0, width=int(rng.integers(2, 7)))
    arch = tiny_arch(**over)
    tr = random_trace(g, rng)
    for policy in POLICIES:
        try:
            m = map_graph(g, arch, policy)
        except EmpfError as e:  # only layer-sequential without spill, or a network too large, is refused
            assert (policy == "layer-sequential" and "chip.dram_spill" in str(e)) or "not fit" in str(e)
            continue
        check_valid(m, arch)
        c = evaluate(tr, arch, placement=policy)
        assert c.mapping.placement == m.placement and c.cores_used == len(set(m.placement))
        cyc = evaluate(tr, arch, placement=policy, timing="cycle")  # the simulator counts the same events
        dyn = [i for i, a in enumerate(c.action_names) if not a.startswith("leakage_")]
        assert np.array_equal(cyc.counts[:, dyn], c.counts[:, dyn])
        if policy != "layer-sequential" and len(m.tiles) <= arch.cores:  # layer-pipelined: a core per tile
            assert len(set(m.placement)) == len(m.tiles)
        if policy == "layer-sequential":  # each layer starts again at the first core of the path with room
            for lay in m.layers:
                t = lay.tiles[0]
                held = [sum(x.neurons for x in m.tiles[:t.index] if x.core == k) for k in range(arch.cores)]
                assert t.core == next(k for k in range(arch.cores) if held[k] + t.neurons <= capacity(arch))


def test_explicit_placements_are_checked():
    g = chain(4, [8, 2])
    arch = tiny_arch(mesh_rows=2, mesh_cols=4, crossbar_cols=2)
    assert map_graph(g, arch, [7, 6, 5, 4, 0]).placement == [7, 6, 5, 4, 0]
    for bad, msg in (([0, 1], "2 cores for 5 tiles"), ([0, 1, 2, 3, 8], r"core 8 .* allowed: 0\.\.7"),
                     ([0, 1, 2, 3, 3], "no chip.dram_spill"), ("diagonal", "allowed: serpentine, greedy")):
        with pytest.raises(EmpfError, match=msg):
            map_graph(g, arch, bad)


# --- serpentine is today's placement, bit for bit --------------------------------------------------------------

@pytest.fixture(scope="module")
def lif_trace():
    from empf_hw.sim.pipeline import deploy

    return deploy(LIF, samples=24, mode="fixed").trace


@pytest.mark.parametrize("preset", ["stbp-core-45nm", "empf-core-45nm"])
def test_serpentine_is_the_default_and_todays_placement(lif_trace, preset):
    arch = load_arch(preset)
    default = evaluate(lif_trace, arch)
    tiles = default.mapping.tiles
    assert [t.core for t in tiles] == list(range(len(tiles)))  # tile k on core k, along the serpentine path
    assert [t.xy for t in tiles] == [path_xy(k, arch.chip["mesh_cols"]) for k in range(len(tiles))]
    assert all(t.resident for t in tiles)
    named = evaluate(lif_trace, arch, placement="serpentine")
    explicit = evaluate(lif_trace, arch, placement=list(range(len(tiles))))
    assert default.summary().equals(named.summary()) and default.summary().equals(explicit.summary())
    assert default.by_layer().equals(explicit.by_layer())


# --- greedy: a chain whose packet-hops are counted by hand -----------------------------------------------------

def test_greedy_beats_serpentine_on_a_hand_computed_chain():
    """input 4 → fc1 (4 tiles of 2 outputs) → LIF → fc2 (1 tile) on a 2×4 mesh (path: cores 0-3 on row 0 left to
    right, 4-7 on row 1 right to left), I/O port at (0, 0), one event at every input.
    Serpentine: fc1 on (0, 0)..(0, 3), each tile gets the 4 inputs: 4·(0+1+2+3) = 24 east-west hops; fc2 on core 4 =
    (1, 3): each head sends 2 spikes over 1 north-south and 3, 2, 1, 0 east-west hops: 8 NS, 12 EW.
    Greedy: fc1 nearest the port, ties to the earlier core: (0, 0) = 0, (0, 1) = 1, (1, 0) = 7, (0, 2) = 2 (before
    (1, 1) = 6): inputs 4·(1 + 2) = 12 EW, 4·1 = 4 NS; fc2 where Σ hops to the heads is least, (1, 1) = core 6 (2 +
    1 + 1 + 2 = 6): 2·(1 + 0 + 1 + 1) = 6 EW, 2·(1 + 1 + 0 + 1) = 6 NS."""
    g = chain(4, [8, 2])
    arch = tiny_arch(mesh_rows=2, mesh_cols=4, crossbar_cols=2)
    tr = ones_trace(g)
    serp, greedy = evaluate(tr, arch), evaluate(tr, arch, placement="greedy")
    assert serp.mapping.placement == [0, 1, 2, 3, 4] and greedy.mapping.placement == [0, 1, 7, 2, 6]
    assert hops(serp) == (24 + 12, 8) and hops(greedy) == (12 + 6, 4 + 6)
    assert greedy.energy_pJ() < serp.energy_pJ()


def test_greedy_starts_at_a_far_io_port():
    """The same chain with the port at (1, 0), where the path ends (core 7). Greedy: fc1 on core 7, then the cores
    1 hop away — (0, 0) = core 0 before (1, 1) = core 6 — then 2 hops: (0, 1) = core 1 before (1, 2) = core 5; fc2
    where Σ hops to the four heads is least: (0, 2) and (1, 2) tie at 3 + 2 + 2 + 1 = 8, core 2 comes first. Hops
    per event: inputs 0 + 1 + 1 + 2 = 4 (serpentine: 1 + 2 + 3 + 4 = 10) × 4 inputs; spikes 8 (serpentine from
    (0, 0..3) to (1, 3): 4 + 3 + 2 + 1 = 10) × 2 per head."""
    g = chain(4, [8, 2])
    arch = tiny_arch(mesh_rows=2, mesh_cols=4, crossbar_cols=2, io_row=1)
    tr = ones_trace(g)
    serp, greedy = evaluate(tr, arch), evaluate(tr, arch, placement="greedy")
    assert greedy.mapping.placement == [7, 0, 6, 1, 2]
    assert sum(hops(serp)) == 10 * 4 + 10 * 2 and sum(hops(greedy)) == 4 * 4 + 8 * 2


# --- DRAM spill: summed neuron state, weights resident while they fit ------------------------------------------

def test_spill_sums_neuron_state_and_never_overfills_a_core():
    """input 64 → fc1 5 outputs (crossbar 3 columns: tiles of 3 and 2 neurons) → LIF → fc2 2 outputs (2 neurons),
    2 cores of 4 neurons (4·56 bits of membrane SRAM). Round-robin would put tile 2 on core 0: 3 + 2 = 5 > 4; it goes
    to core 1 instead (2 + 2 = 4), and the cores table sums the neuron state."""
    g = chain(64, [5, 2])
    arch = tiny_arch(mesh_rows=1, mesh_cols=2, dram_spill=True, crossbar_cols=3,
                     membrane_sram_KiB=4 * NEURON_BITS / 8192)
    m = map_graph(g, arch)
    assert [t.neurons for t in m.tiles] == [3, 2, 2] and m.placement == [0, 1, 1]
    assert m.utilization()["neurons"].tolist() == [3, 4]
    with pytest.raises(EmpfError, match="neuron state does not fit: tile 2 of layer 'fc2'"):
        map_graph(chain(64, [5, 3]), arch)  # 3 + 3 > 4 and 2 + 3 > 4


def test_spill_keeps_weights_resident_while_they_fit():
    """One core, 1-bit cells, input 64: fc1 8 outputs → tiles of 3, 3, 2 columns (192, 192, 128 bits), fc2 8 → 2
    (16 bits). A 400-bit synapse SRAM keeps tiles 0 and 1 (384 bits), reloads tile 2 (512 > 400) every timestep and
    keeps tile 3 (400): 128 DRAM bits per timestep."""
    g = chain(64, [8, 2], T=3)
    arch = tiny_arch(mesh_rows=1, mesh_cols=1, dram_spill=True, crossbar_cols=3, synapse_sram_KiB=400 / 8192,
                     membrane_sram_KiB=10 * NEURON_BITS / 8192)
    m = map_graph(g, arch)
    assert [t.synapse_bits for t in m.tiles] == [192, 192, 128, 16]
    assert [t.resident for t in m.tiles] == [True, True, False, True]
    u = m.utilization().iloc[0]
    assert u["synapse_bits"] == 400 and u["neurons"] == 10
    c = evaluate(ones_trace(g), arch)
    assert c.actions.query("action == 'dram_bit'")["count"].sum() == 128 * 3


# --- search ----------------------------------------------------------------------------------------------------

def far_port_case():
    """input 4 → fc1 → LIF → fc2 on a 1×4 row with the I/O port at the far end (0, 3): the fewest hops put fc1 on
    core 3 (inputs 0 hops) and fc2 on core 2 (spikes 1 hop); serpentine uses cores 0 and 1 (3 and 1 hops)."""
    g = chain(4, [2, 2], T=2)
    return ones_trace(g), tiny_arch(mesh_rows=1, mesh_cols=4, io_col=3)


def test_search_finds_the_known_optimum_from_serpentine():
    tr, arch = far_port_case()
    every = {p: S.score(evaluate(tr, arch, placement=list(p)), "energy") for p in itertools.permutations(range(4), 2)}
    assert min(every, key=every.get) == (3, 2)  # brute force agrees with the hop count above
    r = S.search(tr, arch, "energy", iterations=200, seed=1, start="serpentine")
    assert r.start == "serpentine" and r.placement == [3, 2] and r.value == every[(3, 2)] < r.start_value
    assert r.value == S.score(r.costs, "energy") == S.score(evaluate(tr, arch, placement=r.placement), "energy")


@pytest.mark.parametrize("objective", S.OBJECTIVES)
def test_search_is_seeded_and_never_worse_than_its_start(objective):
    rng = np.random.default_rng(3)
    g = tiny_graph(rng, residual=True, width=5)
    tr, arch = random_trace(g, rng), tiny_arch(mesh_rows=4, mesh_cols=4)
    a, b = (S.search(tr, arch, objective, iterations=40, seed=7) for _ in range(2))
    assert (a.placement, a.value, a.evaluations, a.accepted) == (b.placement, b.value, b.evaluations, b.accepted)
    start = {p: S.score(evaluate(tr, arch, placement=p), objective) for p in ("serpentine", "greedy")}
    assert a.start == min(start, key=start.get) and a.start_value == start[a.start]
    assert a.value <= a.start_value
    check_valid(a.costs.mapping, arch)


def test_search_rejects_bad_arguments():
    tr, arch = far_port_case()
    with pytest.raises(EmpfError, match="objective='power' is not valid; allowed: energy, latency, edp"):
        S.search(tr, arch, "power")
    with pytest.raises(EmpfError, match="iterations=-1 is not valid"):
        S.search(tr, arch, "energy", iterations=-1)
    with pytest.raises(EmpfError, match="placement applies to the cores template"):
        evaluate(tr, "systolic-32x32-45nm", placement="greedy")


# --- empf-hw map -----------------------------------------------------------------------------------------------

def test_cli_constants_match_the_search():
    assert tuple(cli_mapping.OBJECTIVE_TEXT) == S.OBJECTIVES and cli_mapping.ITERATIONS == S.ITERATIONS


def test_map_command_prints_a_gain_and_writes_its_files(tmp_path, capsys):
    argv = ["map", "--model", LIF, "--arch", "stbp-core-45nm", "--samples", "20", "--iterations", "30"]
    assert main(argv + ["--objective", "energy"]) == 0
    text = capsys.readouterr().out
    assert "serpentine" in text and "greedy" in text and "layer-sequential: n/a" in text and "best mapping" in text
    assert main(argv + ["--objective", "energy", "--json", "--out", str(tmp_path / "o")]) == 0
    first = capsys.readouterr().out
    d = json.loads(first)
    rows = {r["placement"]: r for r in d["placements"]}
    assert rows["serpentine"]["gain_percent"] == 0 and d["best_gain_percent"] == rows["search"]["gain_percent"] >= 0
    assert rows["search"]["energy_pJ"] <= min(rows["serpentine"]["energy_pJ"], rows["greedy"]["energy_pJ"])
    assert sorted(r["core"] for r in d["mapping"]) == sorted(set(r["core"] for r in d["mapping"]))
    written = json.loads((tmp_path / "o" / "mapping.json").read_text())
    assert written == d and (tmp_path / "o" / "mapping.csv").read_text().startswith("layer,label,tile,core,")
    assert main(argv + ["--objective", "energy", "--json"]) == 0
    assert capsys.readouterr().out == first  # same seed, same output
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2  # never overwrites without --force
    assert "--force" in capsys.readouterr().err


def test_map_rejects_a_bad_objective(capsys):
    assert main(["map", "--model", LIF, "--objective", "power"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--objective" in err[0]
    assert all(o in err[0] for o in ("energy", "latency", "edp"))


# --- sweeps ----------------------------------------------------------------------------------------------------

def test_sweeps_take_the_placement_policy(tmp_path):
    from empf_hw.sweep.runner import run_sweep
    from empf_hw.sweep.spec import parse_spec

    spec = {"name": "m", "models": [{"path": LIF, "arch": "stbp-core-45nm"}], "samples": 20,
            "parameters": {"mapping.policy": list(POLICIES)}}
    with pytest.raises(EmpfError, match="parameter mapping.policy='diagonal' is not valid; allowed: serpentine"):
        parse_spec({**spec, "parameters": {"mapping.policy": ["diagonal"]}})
    store = run_sweep(parse_spec(spec), tmp_path / "s.sqlite", progress=False)
    rows = {r["mapping.policy"]: r for r in store.rows()}
    store.close()
    assert rows["serpentine"]["status"] == rows["greedy"]["status"] == "ok"
    assert rows["greedy"]["energy_pJ_per_inference"] < rows["serpentine"]["energy_pJ_per_inference"]
    assert "chip.dram_spill" in rows["layer-sequential"]["status"]


# --- a mapping is reused across architectures agreeing on MAPPING_FIELDS ----------------------------------------

def _tiling(m) -> list:
    return [(t.layer, t.core, t.xy, t.inputs, t.outputs, t.rows, t.merges, t.resident, t.synapse_bits, t.neurons,
             t.buffer_bits) for t in m.tiles] + [(lay.slices, lay.splits) for lay in m.layers]


def other_values(spec, value) -> list:
    """Valid values of a numeric or bool field other than ``value``: the flipped bool, or numbers around it."""
    if spec.unit == "bool":
        return [not value]
    if spec.unit in ("table", "width") or not isinstance(value, (int, float)) or isinstance(value, bool):
        return []
    out = [value * 2, value / 2 if isinstance(value, float) else value // 2, spec.lo, spec.hi]
    return [v for v in out if v is not None and v != value]


@pytest.mark.parametrize("case", ["preset", "spill-greedy", "board-greedy"])
def test_fields_outside_mapping_fields_leave_the_mapping_alone(case):
    """Every field of the cores template not in MAPPING_FIELDS, set to other valid values, maps the graph as before
    (computed afresh, the cache cleared), so reusing a mapping across them is exact; the reused mapping carries the
    new architecture."""
    from empf_hw.hw.arch import CHOICES, TEMPLATES
    from empf_hw.hw.cores.mapper import MAPPING_FIELDS

    if case == "preset":
        from empf_hw.sim.pipeline import deploy

        g, arch, policy = deploy(LIF, samples=1, mode="fixed").graph, load_arch("empf-core-45nm"), None
    elif case == "spill-greedy":
        g = tiny_graph(np.random.default_rng(3), residual=True, width=6)
        arch, policy = tiny_arch(**ARCHS[-1]), "greedy"
    else:
        g = tiny_graph(np.random.default_rng(4), pool=True, width=6)
        arch = tiny_arch(mesh_rows=3, mesh_cols=3, io_row=1, io_col=2, max_neurons=40).with_overrides(
            {"system.chips_rows": 2})
        policy = "greedy"
    base = _tiling(map_graph(g, arch, policy))
    tried = 0
    for sec, fields in TEMPLATES["cores"].items():
        for f, spec in fields.items():
            if f in MAPPING_FIELDS.get(sec, ()):
                continue
            value = getattr(arch, sec)[f]
            others = [c for c in CHOICES[f] if c != value] if spec.unit == "choice" else other_values(spec, value)
            for v in others:
                try:
                    other = arch.with_overrides({f"{sec}.{f}": v})
                except EmpfError:
                    continue  # not a valid architecture with the rest as it is
                g.derived.pop("mappings", None)
                m = map_graph(g, other, policy)
                assert _tiling(m) == base, f"{sec}.{f}={v!r} changes the mapping: add it to MAPPING_FIELDS"
                tried += 1
    assert tried > 40
    g.derived.pop("mappings", None)
    first = map_graph(g, arch, policy)
    faster = arch.with_overrides({"chip.clock_MHz": arch.chip["clock_MHz"] * 3})
    again = map_graph(g, faster, policy)
    assert again.layers is first.layers and again.arch.chip["clock_MHz"] == arch.chip["clock_MHz"] * 3
    wider = map_graph(g, arch.with_overrides({"chip.mesh_cols": arch.chip["mesh_cols"] + 1}), policy)
    assert wider.layers is not first.layers
