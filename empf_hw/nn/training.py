"""Training loops: ``online`` (per-timestep backward and update, membrane detached), ``online-random``
(one uniformly drawn timestep back-propagated per mini-batch) and ``stbp`` (BPTT over all T steps).

Inputs use direct encoding (the same frame every timestep); predictions average the logits over T.
"""

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import check_choice, check_range
from .architectures import SpikingNet
from .catalog import METHODS


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


def _online_step(model: SpikingNet, opt, x, y, steps: range) -> tuple[float, torch.Tensor]:
    """Forward every step in ``steps``; backward + update on each. Returns mean loss and summed logits."""
    total, logits = 0.0, 0
    for _ in steps:
        out = model(x)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item()
        logits = logits + out.detach()
    return total / len(steps), logits


def train_batch(model: SpikingNet, opt, x, y, method: str, gen: torch.Generator) -> tuple[float, torch.Tensor]:
    """One mini-batch; returns (loss, logits used for the training accuracy)."""
    T = model.cfg.timesteps
    model.reset()
    if method == "stbp":
        model.set_online(False)
        out = torch.stack([model(x) for _ in range(T)]).mean(0)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item(), out.detach()
    model.set_online(True)
    if method == "online":
        return _online_step(model, opt, x, y, range(T))
    t_star = int(torch.randint(T, (1,), generator=gen))
    with torch.no_grad():
        for _ in range(t_star):
            model(x)
    return _online_step(model, opt, x, y, range(1))


@torch.no_grad()
def evaluate(model: SpikingNet, x: np.ndarray, y: np.ndarray, batch_size: int = 256,
             device: str = "cpu") -> float:
    """Test accuracy (fraction) with logits averaged over the T timesteps, eval mode."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[i:i + batch_size]).to(device)
        pred = model.run(xb).mean(0).argmax(1).cpu().numpy()
        correct += int((pred == y[i:i + batch_size]).sum())
    return correct / len(x)


def train(model: SpikingNet, train_set, test_set, *, method: str = "online", epochs: int = 30,
          lr: float = 1e-3, batch_size: int = 64, seed: int = 0, device: str = "cpu",
          progress: bool = True) -> list[dict]:
    """Adam with cosine learning-rate decay; returns per-epoch loss, train and test accuracy."""
    check_choice("method", method, METHODS)
    check_range("epochs", epochs, 1)
    check_range("batch_size", batch_size, 1)
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(train_set[0]) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch
                                                       * (model.cfg.timesteps if method == "online" else 1))
    x_all, y_all = torch.from_numpy(train_set[0]), torch.from_numpy(train_set[1])
    history = []
    bar = tqdm(range(epochs), desc=f"train {model.cfg.arch} [{method}]", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x_all), generator=gen)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            x, y = x_all[idx].to(device), y_all[idx].to(device)
            loss, logits = train_batch(model, _StepCounting(opt, sched), x, y, method, gen)
            loss_sum += loss * len(idx)
            correct += int((logits.argmax(1) == y).sum())
        test_acc = evaluate(model, *test_set, device=device)
        rec = {"epoch": epoch + 1, "loss": loss_sum / len(order), "train_acc": correct / len(order),
               "test_acc": test_acc}
        history.append(rec)
        bar.set_postfix(loss=f"{rec['loss']:.3f}", train=f"{rec['train_acc']:.3f}", test=f"{test_acc:.3f}")
    return history


class _StepCounting:
    """Optimizer wrapper that advances the LR schedule once per optimizer step."""

    def __init__(self, opt, sched):
        self.opt, self.sched = opt, sched

    def zero_grad(self, set_to_none=True):
        self.opt.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.opt.step()
        if self.sched.last_epoch < self.sched.T_max:
            self.sched.step()
