"""Peak memory and time per training step: online EM-PF versus STBP LIF, CIFAR VGG-11, batch 8, random data.

Each (method, T) runs in a fresh subprocess and reports two memory figures:
- ``peak_MiB``: peak resident set size during the training steps minus the resident size just before them (model
  and data already built), so it covers gradients, optimizer state, allocator slack and saved activations;
- ``autograd_MiB``: peak bytes of the tensors autograd keeps for the backward pass (deduplicated by storage),
  the part that BPTT multiplies by T.
Expected: online stays nearly flat in T; STBP grows roughly linearly.

    python benchmarks/train_memory.py [--arch vgg11] [--steps 2] [--timesteps 2 4 8 16]
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import weakref


class SavedTensorPeak:
    """saved_tensors_hooks that track the live bytes autograd holds for backward, counting each storage once."""

    def __init__(self):
        self.refs, self.live, self.peak = {}, 0, 0

    def pack(self, t):
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in self.refs:
            self.live += key[1]
            self.peak = max(self.peak, self.live)
        self.refs[key] = self.refs.get(key, 0) + 1
        return _Box(t, lambda: self._release(key))

    def _release(self, key):
        self.refs[key] -= 1
        if not self.refs[key]:
            del self.refs[key]
            self.live -= key[1]


class _Box:
    """Holds one saved tensor; tells the tracker when autograd drops it."""

    def __init__(self, t, on_free):
        self.t = t
        weakref.finalize(self, on_free)


def measure(arch: str, neuron: str, method: str, T: int, steps: int, batch: int) -> dict:
    import torch

    from empf_hw.nn import ModelConfig, build_model
    from empf_hw.nn.training import train_batch

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch, neuron=neuron, timesteps=T)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, *model.cfg.input_shape)
    y = torch.randint(0, model.cfg.num_classes, (batch,))
    gen = torch.Generator().manual_seed(0)
    base_kib = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() // 1024
    times, saved = [], SavedTensorPeak()
    with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda box: box.t):
        for _ in range(steps):
            t0 = time.perf_counter()
            train_batch(model, opt, x, y, method, gen)
            times.append(time.perf_counter() - t0)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_MiB": (peak_kib - base_kib) / 1024, "autograd_MiB": saved.peak / 2**20, "step_s": min(times)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="vgg11")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--timesteps", type=int, nargs="+", default=[2, 4, 8, 16])
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        neuron, method, T = a.child
        print(json.dumps(measure(a.arch, neuron, method, int(T), a.steps, a.batch)))
        return
    rows = {}
    for neuron, method in (("empf", "online"), ("lif", "stbp")):
        for T in a.timesteps:
            cmd = [sys.executable, __file__, "--arch", a.arch, "--steps", str(a.steps), "--batch", str(a.batch),
                   "--child", neuron, method, str(T)]
            rows[(method, T)] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    print(f"{a.arch}, batch {a.batch}, random data; memory = peak RSS growth during training steps")
    print(f"{'method':<8} {'T':>3} {'peak_MiB':>9} {'autograd_MiB':>13} {'step_s':>8}")
    for (method, T), r in rows.items():
        print(f"{method:<8} {T:>3} {r['peak_MiB']:>9.1f} {r['autograd_MiB']:>13.1f} {r['step_s']:>8.3f}")
    lo, hi = min(a.timesteps), max(a.timesteps)
    for method in ("online", "stbp"):
        ratios = [rows[(method, hi)][k] / rows[(method, lo)][k] for k in ("peak_MiB", "autograd_MiB")]
        print(f"memory(T={hi})/memory(T={lo}) {method}: peak RSS {ratios[0]:.2f}x, autograd {ratios[1]:.2f}x")


if __name__ == "__main__":
    main()
