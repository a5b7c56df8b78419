"""Training methods: what each back-propagates, determinism, and that training actually learns."""

import numpy as np
import pytest
import torch

from empf_hw.nn import ModelConfig, build_model, evaluate, train
from empf_hw.nn.data import synthetic
from empf_hw.nn.training import train_batch


def grad_enabled_steps(method: str, T: int = 4) -> tuple[list[bool], int]:
    """Which of the forward timesteps ran with autograd on, and how many optimizer steps were taken."""
    torch.manual_seed(0)
    model = build_model(ModelConfig("digits_mlp", timesteps=T))
    seen = []
    model.classifier.register_forward_hook(lambda *_: seen.append(torch.is_grad_enabled()))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = []
    orig = opt.step
    opt.step = lambda *a, **k: (steps.append(1), orig(*a, **k))
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    train_batch(model, opt, x, y, method, torch.Generator().manual_seed(5))
    return seen, len(steps)


def test_online_updates_after_every_timestep():
    seen, steps = grad_enabled_steps("online")
    assert seen == [True] * 4 and steps == 4


def test_online_random_backpropagates_one_drawn_timestep():
    seen, steps = grad_enabled_steps("online-random")
    assert steps == 1 and seen.count(True) == 1 and seen[-1] is True
    t_star = int(torch.randint(4, (1,), generator=torch.Generator().manual_seed(5)))
    assert len(seen) == t_star + 1


def test_stbp_backpropagates_through_all_timesteps():
    seen, steps = grad_enabled_steps("stbp")
    assert seen == [True] * 4 and steps == 1


def test_stbp_gradient_reaches_through_time():
    torch.manual_seed(0)
    model = build_model(ModelConfig("digits_mlp", neuron="lif", timesteps=3))
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    model.reset()
    outs = [model(x if t == 0 else torch.zeros_like(x)) for t in range(3)]
    outs[-1].sum().backward()  # only the last step's output, reachable from x through the membranes
    assert x.grad.abs().sum() > 0


def _train_synthetic(method, neuron="empf", seed=0):
    train_set, test_set = synthetic(n_train=200, n_test=100, seed=seed)
    model = build_model(ModelConfig("digits_mlp", neuron=neuron, timesteps=2))
    train(model, train_set, test_set, method=method, epochs=3, lr=5e-3, batch_size=32, seed=seed, progress=False)
    return model, test_set


@pytest.mark.parametrize("method,neuron", [("online", "empf"), ("online-random", "empf"), ("stbp", "lif")])
def test_training_learns_synthetic(method, neuron):
    model, test_set = _train_synthetic(method, neuron)
    assert evaluate(model, *test_set) >= 0.9  # 10 classes: chance is 0.1


def test_training_is_deterministic_for_a_seed():
    a, _ = _train_synthetic("online")
    b, _ = _train_synthetic("online")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_synthetic_dataset_is_seeded():
    (x1, y1), _ = synthetic(seed=3)
    (x2, y2), _ = synthetic(seed=3)
    (x3, _), _ = synthetic(seed=4)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and not np.array_equal(x1, x3)
