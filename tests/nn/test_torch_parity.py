"""pynn trains exactly like PyTorch: models built in pynn are copied into torch.nn and
both take the same optimizer steps on the same batches (float64); the losses of every
step and all parameters after it agree to ~1e-7 relative.

Dropout is left out: its masks come from pynn's own counter-based RNG, which
test_core_vs_reference.py checks against pynn.reference.
"""
import numpy as np
import pytest

import pynn

torch = pytest.importorskip("torch", reason="torch is the oracle; install with pip install torch==2.13.0")
nn = torch.nn
torch.set_num_threads(1)

TOL = dict(rtol=1e-7, atol=1e-10)
STEPS = 5


def torch_layer(layer, dtype=torch.float64):
    """The torch.nn module computing what a pynn layer computes."""
    simple = {pynn.Identity: nn.Identity, pynn.Sigmoid: nn.Sigmoid, pynn.Tanh: nn.Tanh, pynn.ReLU: nn.ReLU,
              pynn.SiLU: nn.SiLU, pynn.Softplus: nn.Softplus}
    if type(layer) in simple:
        return simple[type(layer)]()
    if isinstance(layer, pynn.Dense):
        return nn.Linear(layer.n_in, layer.n_out, bias=layer.use_bias, dtype=dtype)
    if isinstance(layer, pynn.LeakyReLU):
        return nn.LeakyReLU(layer.negative_slope)
    if isinstance(layer, pynn.ELU):
        return nn.ELU(layer.alpha)
    if isinstance(layer, pynn.GELU):
        return nn.GELU(approximate="none")
    if isinstance(layer, pynn.PReLU):
        return nn.PReLU(layer.num_parameters, layer.init, dtype=dtype)
    raise AssertionError(f"no torch counterpart for {layer!r}")


def to_torch(model):
    """torch.nn.Sequential with copies of the pynn model's parameters (same order and dtype)."""
    dtype = {"float32": torch.float32, "float64": torch.float64}[model.dtype]
    net = nn.Sequential(*[torch_layer(layer, dtype) for layer in model.layers])
    torch_params = list(net.parameters())
    assert [tuple(p.shape) for p in torch_params] == [p.shape for p in model.parameters()]
    with torch.no_grad():
        for tp, p in zip(torch_params, model.parameters()):
            tp.copy_(torch.from_numpy(p.copy()))
    return net


def torch_loss(case):
    return {"softmax_cross_entropy": nn.CrossEntropyLoss(), "softmax_cross_entropy/probs": nn.CrossEntropyLoss(),
            "binary_cross_entropy": nn.BCEWithLogitsLoss(), "mse": nn.MSELoss()}[case]


def torch_optimizer(opt, params):
    c = opt.get_config()
    if c["class"] == "SGD":
        return torch.optim.SGD(params, lr=c["lr"], momentum=c["momentum"], nesterov=c["nesterov"],
                               weight_decay=c["weight_decay"])
    cls = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}[c["class"]]
    return cls(params, lr=c["lr"], betas=tuple(c["betas"]), eps=c["eps"], weight_decay=c["weight_decay"])


def batch(rng, case, n, n_in, n_out):
    X = rng.normal(size=(n, n_in))
    if case == "softmax_cross_entropy":
        return X, rng.integers(0, n_out, size=n)
    if case == "softmax_cross_entropy/probs":
        return X, rng.dirichlet(np.ones(n_out), size=n)
    if case == "binary_cross_entropy":  # multi-label: several outputs may be 1 at once
        return X, (rng.random((n, n_out)) < 0.4).astype(np.float64)
    return X, rng.normal(size=(n, n_out))


def train_side_by_side(layers, case, optimizer, seed=0, dtype="float64", tol=TOL):
    rng = np.random.default_rng(seed)
    model = pynn.Sequential(layers, loss=case.split("/")[0], dtype=dtype, seed=seed)
    net = to_torch(model)
    criterion = torch_loss(case)
    torch_opt = torch_optimizer(optimizer, net.parameters())
    n_in, n_out = model.n_inputs, model.n_outputs
    for step in range(STEPS):
        X, y = batch(rng, case, 16, n_in, n_out)
        X = X.astype(dtype)
        y = y if y.dtype.kind == "i" else y.astype(dtype)
        loss = model.train_step(X, y, optimizer)
        torch_opt.zero_grad()
        torch_out = net(torch.from_numpy(X))
        torch_loss_value = criterion(torch_out, torch.from_numpy(y))
        torch_loss_value.backward()
        torch_opt.step()
        np.testing.assert_allclose(loss, torch_loss_value.item(), **tol, err_msg=f"loss of step {step}")
        for name, p, tp in zip(model._names, model.parameters(), net.parameters()):
            np.testing.assert_allclose(p, tp.detach().numpy(), **tol, err_msg=f"{name} after step {step}")
    X = batch(rng, case, 8, n_in, n_out)[0].astype(dtype)
    with torch.no_grad():
        np.testing.assert_allclose(model.forward(X), net(torch.from_numpy(X)).numpy(), **tol)


ACTIVATIONS = {
    "Identity": pynn.Identity, "Sigmoid": pynn.Sigmoid, "Tanh": pynn.Tanh, "ReLU": pynn.ReLU,
    "LeakyReLU": lambda: pynn.LeakyReLU(0.05), "ELU": lambda: pynn.ELU(0.8), "GELU": pynn.GELU,
    "SiLU": pynn.SiLU, "Softplus": pynn.Softplus, "PReLU-shared": lambda: pynn.PReLU(),
    "PReLU-per-unit": lambda: pynn.PReLU(12, init=0.2),
}


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_every_activation(act):
    layers = [pynn.Dense(5, 12), ACTIVATIONS[act](), pynn.Dense(12, 4)]
    train_side_by_side(layers, "softmax_cross_entropy", pynn.SGD(lr=0.2, momentum=0.9))


@pytest.mark.parametrize("case", ["softmax_cross_entropy", "softmax_cross_entropy/probs", "binary_cross_entropy",
                                  "mse"])
def test_every_loss(case):
    layers = [pynn.Dense(5, 10), pynn.Tanh(), pynn.Dense(10, 6, use_bias=False), pynn.GELU(), pynn.Dense(6, 4)]
    train_side_by_side(layers, case, pynn.Adam(lr=0.02), seed=1)


OPTIMIZERS = {
    "sgd": lambda: pynn.SGD(lr=0.1),
    "sgd-momentum": lambda: pynn.SGD(lr=0.1, momentum=0.9),
    "sgd-nesterov": lambda: pynn.SGD(lr=0.1, momentum=0.9, nesterov=True),
    "sgd-weight-decay": lambda: pynn.SGD(lr=0.1, momentum=0.5, weight_decay=0.01),
    "adam": lambda: pynn.Adam(lr=0.01),
    "adam-weight-decay": lambda: pynn.Adam(lr=0.01, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.05),
    "adamw": lambda: pynn.AdamW(lr=0.01, weight_decay=0.1),
}


@pytest.mark.parametrize("case", ["softmax_cross_entropy", "mse"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer(name, case):
    layers = [pynn.Dense(5, 9), pynn.PReLU(9), pynn.Dense(9, 7), pynn.SiLU(), pynn.Dense(7, 3)]
    train_side_by_side(layers, case, OPTIMIZERS[name](), seed=2)


@pytest.mark.parametrize("case", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
@pytest.mark.parametrize("name", ["sgd-nesterov", "adam", "adamw"])
def test_float32_default_dtype_tracks_torch(name, case):
    """float32 (the default) follows torch's float32 run to ~1e-4: rounding differs, the math does not."""
    layers = [pynn.Dense(5, 9), pynn.PReLU(9), pynn.Dense(9, 7), pynn.GELU(), pynn.Dense(7, 3)]
    train_side_by_side(layers, case, OPTIMIZERS[name](), seed=3, dtype="float32", tol=dict(rtol=2e-4, atol=2e-5))
