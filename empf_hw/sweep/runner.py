"""Run a sweep: in-process, on a Dask LocalCluster (``workers``) or on an existing Dask cluster (``scheduler``).

Activity traces are the expensive part; they depend only on (model, spike bits, timesteps, samples, seed), so each
process keeps the ones it made and points are ordered to reuse them (on Dask, a trace's points go to one worker).
Architecture parameters only re-run the mapping and evaluation. Each finished point goes to the store at once.
"""

import time
from collections import OrderedDict
from pathlib import Path

from tqdm import tqdm

from ..errors import EmpfError
from ..hw import evaluate, load_arch
from ..hw.cycle_report import cycle_runs
from ..hw.evaluate import schedule_of
from ..nn.checkpoint import load_card
from ..sim.pipeline import deploy, hardware_spike_bits
from .spec import ARCH_PREFIXES, MAPPING_PARAM, SweepSpec, point_key
from .store import Store

RESULT_COLUMNS = ("accuracy", "energy_pJ_per_inference", "literature_energy_pJ_per_inference", "latency_cycles",
                  "latency_us", "sops", "macs", "neuron_updates", "weight_memory_bits", "total_memory_bits",
                  "dynamic_energy_pJ", "leakage_energy_pJ", "cores_used", "tiles", "timing", "fast_latency_cycles",
                  "latency_cycles_p99")  # timing: which produced latency_cycles (fast, or cycle: the mean)
TRACE_CACHE_SIZE = 8
SCHEDULER_TIMEOUT_S = 5
_traces: OrderedDict = OrderedDict()  # per process: trace key → Deployed


def schedule(point: dict) -> str:
    """Timestep semantics of a point's architecture (a swept chip.timestep_mode wins)."""
    return point.get("chip.timestep_mode") or schedule_of(load_arch(point["arch"]))


def trace_key(point: dict, common: dict) -> tuple:
    return (point["model"], point.get("spike_bits"), point.get("timesteps"), schedule(point), common["samples"],
            common["seed"], common["data_dir"])


def _deployed(point: dict, common: dict, reuse: bool):
    key = trace_key(point, common)
    if reuse and key in _traces:
        _traces.move_to_end(key)
        return _traces[key]
    card = load_card(point["model"])
    d = deploy(point["model"], spike_bits=hardware_spike_bits(card, point.get("spike_bits")),
               timesteps=point.get("timesteps"), samples=common["samples"], seed=common["seed"],
               data_dir=common["data_dir"], mode="fixed", schedule=schedule(point))
    if reuse:
        _traces[key] = d
        while len(_traces) > TRACE_CACHE_SIZE:
            _traces.popitem(last=False)
    return d


def evaluate_point(point: dict, common: dict, reuse: bool = True) -> dict:
    """Result row of one point; a network that does not fit the point's architecture is a row with its error."""
    d = _deployed(point, common, reuse)
    overrides = {k: v for k, v in point.items() if k.startswith(ARCH_PREFIXES)}
    try:
        arch = load_arch(point["arch"]).with_overrides(overrides)
        s = evaluate(d.trace, arch, model=d.name, accuracy=d.accuracy, lowering=common["lowering"],
                     placement=point.get(MAPPING_PARAM)).summary().iloc[0].to_dict()
        s["timing"], s["fast_latency_cycles"], s["latency_cycles_p99"] = "fast", s["latency_cycles"], None
        if common["timing"] == "cycle" and arch.template == "cores":  # the simulated latency is the point's
            cyc = cycle_runs(d, arch, common["cycle_samples"], common["lowering"], workers=1,
                             placement=point.get(MAPPING_PARAM))["summary"]
            s["latency_us"] *= cyc["cycle_latency_cycles_mean"] / max(s["latency_cycles"], 1)
            s["latency_cycles"] = round(cyc["cycle_latency_cycles_mean"])
            s["timing"], s["latency_cycles_p99"] = "cycle", cyc["cycle_latency_cycles_p99"]
    except EmpfError as e:
        return {"status": str(e), **{k: None for k in RESULT_COLUMNS}}
    out = {"status": "ok"}
    for k in RESULT_COLUMNS:
        v = s[k]
        out[k] = v if k == "timing" or v is None else int(v) if k in (
            "latency_cycles", "fast_latency_cycles", "weight_memory_bits", "total_memory_bits", "cores_used",
            "tiles") else float(v)
    return out


def _timed(point: dict, common: dict, reuse: bool) -> tuple[dict, float]:
    t0 = time.perf_counter()
    r = evaluate_point(point, common, reuse)
    return r, time.perf_counter() - t0


def run_sweep(spec: SweepSpec, store_path, workers: int = 0, scheduler: str | None = None,
              progress: bool = True, reuse_traces: bool = True) -> Store:
    """Run every point of ``spec`` not yet in the store; returns the store. The Dask cluster is reached before the
    store is created, so a refused scheduler leaves no file behind."""
    points = spec.points()
    client, cluster = connect(workers, scheduler) if (scheduler or workers) else (None, None)
    created = not Path(store_path).exists()
    store = None
    try:
        store = Store(store_path, spec)
        done = store.done()
        todo = [(i, p) for i, p in enumerate(points) if point_key(p) not in done]
        common = _common(spec)
        todo.sort(key=lambda ip: (str(trace_key(ip[1], common)), ip[0]))  # consecutive points share traces
        with tqdm(total=len(points), initial=len(points) - len(todo), unit="point", disable=not progress,
                  desc=spec.name, smoothing=0) as bar:
            if client is not None:
                _run_dask(client, todo, common, store, bar, reuse_traces)
            else:
                for i, p in todo:
                    result, elapsed = _timed(p, common, reuse_traces)
                    store.add(point_key(p), i, p, result, elapsed)
                    bar.update()
    except EmpfError:
        if store is not None and created and not store.done():  # a refused spec leaves no store behind
            store.close()
            Path(store_path).unlink(missing_ok=True)
        raise
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return store


def _common(spec: SweepSpec) -> dict:
    return {"samples": spec.samples, "seed": spec.seed, "data_dir": spec.data_dir, "lowering": spec.lowering,
            "timing": spec.timing, "cycle_samples": spec.cycle_samples}


def connect(workers: int, scheduler: str | None):
    """(client, cluster or None): a new LocalCluster of ``workers`` processes, or the cluster at ``scheduler``."""
    from dask.distributed import Client, LocalCluster

    if not scheduler:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S), None
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise EmpfError(f"--scheduler {scheduler}: no Dask scheduler answered within {SCHEDULER_TIMEOUT_S} s "
                        f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); allowed: the address of a "
                        "running scheduler, tcp://HOST:PORT") from None


def _timed_all(points: list, common: dict, reuse: bool) -> list[tuple[dict, float]]:
    return [_timed(p, common, reuse) for p in points]


def batches(todo: list, common: dict, workers: int) -> list[list]:
    """``todo`` (sorted by trace key) as tasks for ``workers``: the points of one trace together, so that one worker
    makes each trace; a trace's points split into as many tasks as it takes to give every worker one."""
    groups: list[list] = []
    for ip in todo:
        if groups and trace_key(groups[-1][-1][1], common) == trace_key(ip[1], common):
            groups[-1].append(ip)
        else:
            groups.append([ip])
    parts = -(-max(workers, 1) // max(len(groups), 1))
    return [g[k::parts] for g in groups for k in range(min(parts, len(g)))]


def _run_dask(client, todo, common, store, bar, reuse):
    from dask.distributed import as_completed

    workers = len(client.scheduler_info()["workers"])
    futures = {client.submit(_timed_all, [p for _, p in b], common, reuse, pure=False): b
               for b in batches(todo, common, workers)}
    for fut in as_completed(futures):
        for (i, p), (result, elapsed) in zip(futures[fut], fut.result()):
            store.add(point_key(p), i, p, result, elapsed)
            bar.update()
