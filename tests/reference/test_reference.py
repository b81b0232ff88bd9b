"""Tests of the NumPy oracle pynn.reference.

Two independent checks: central finite differences (float64) for every
derivative, and -- when torch is importable -- PyTorch itself for values,
gradients and optimizer trajectories.
"""

import numpy as np
import pytest

from pynn import reference as R

ACTIVATIONS = [
    {"class": "Identity"},
    {"class": "Sigmoid"},
    {"class": "Tanh"},
    {"class": "ReLU"},
    {"class": "LeakyReLU", "negative_slope": 0.1},
    {"class": "ELU", "alpha": 1.3},
    {"class": "GELU"},
    {"class": "SiLU"},
    {"class": "Softplus"},
]


def _ids(configs):
    return [c["class"] for c in configs]


def _away_from_kinks(rng, shape, scale=2.0):
    """Random inputs kept >= 1e-2 away from 0, where ReLU-like kinks live."""
    x = rng.normal(scale=scale, size=shape)
    return np.where(np.abs(x) < 1e-2, 0.5, x)


# ----------------------------------------------------------------------------
# Finite differences (float64)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("config", ACTIVATIONS, ids=_ids(ACTIVATIONS))
def test_activation_backward_matches_finite_differences(config):
    rng = np.random.default_rng(0)
    x = _away_from_kinks(rng, (5, 7))
    dy = rng.normal(size=x.shape)
    h = 1e-6
    # Elementwise: df/dx_i = (f(x_i + h) - f(x_i - h)) / 2h, all i at once.
    numeric = (R.activation_forward(config, x + h) - R.activation_forward(config, x - h)) / (2 * h)
    y = R.activation_forward(config, x)
    dx = R.activation_backward(config, dy, x, y)
    np.testing.assert_allclose(dx, dy * numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("k", [1, 6], ids=["shared", "per_unit"])
def test_prelu_backward_matches_finite_differences(k):
    rng = np.random.default_rng(1)
    config = {"class": "PReLU", "num_parameters": k, "init": 0.25}
    x = _away_from_kinks(rng, (4, 6))
    slope = rng.uniform(0.05, 0.5, size=k)
    dy = rng.normal(size=x.shape)
    y = R.activation_forward(config, x, [slope])
    dx, dslope = R.activation_backward(config, dy, x, y, [slope])

    h = 1e-6
    numeric_dx = (R.activation_forward(config, x + h, [slope])
                  - R.activation_forward(config, x - h, [slope])) / (2 * h)
    np.testing.assert_allclose(dx, dy * numeric_dx, rtol=1e-6, atol=1e-8)

    # L(slope) = sum(dy * y) so dL/dslope is what backward returns.
    numeric_ds = np.empty(k)
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        lp = np.sum(dy * R.activation_forward(config, x, [slope + e]))
        lm = np.sum(dy * R.activation_forward(config, x, [slope - e]))
        numeric_ds[j] = (lp - lm) / (2 * h)
    assert dslope.shape == (k,)
    np.testing.assert_allclose(dslope, numeric_ds, rtol=1e-6, atol=1e-8)


def test_prelu_rejects_wrong_number_of_slopes():
    with pytest.raises(ValueError):
        R.activation_forward({"class": "PReLU"}, np.ones((2, 3)), [np.ones(2)])


def _loss_cases():
    rng = np.random.default_rng(2)
    B, C = 5, 4
    w = rng.uniform(0.2, 2.0, size=B)
    idx = rng.integers(0, C, size=B)
    prob = rng.dirichlet(np.ones(C), size=B)
    bin_t = rng.uniform(size=(B, C))
    reg_t = rng.normal(size=(B, C))
    cases = []
    for weight in (None, w):
        tag = "weighted" if weight is not None else "unweighted"
        cases += [
            pytest.param(R.softmax_cross_entropy, idx, weight, id=f"ce_index_{tag}"),
            pytest.param(R.softmax_cross_entropy, prob, weight, id=f"ce_prob_{tag}"),
            pytest.param(R.binary_cross_entropy, bin_t, weight, id=f"bce_{tag}"),
            pytest.param(R.mse, reg_t, weight, id=f"mse_{tag}"),
        ]
    return cases


@pytest.mark.parametrize("loss_fn, targets, weight", _loss_cases())
def test_loss_gradient_matches_finite_differences(loss_fn, targets, weight):
    rng = np.random.default_rng(3)
    z = rng.normal(scale=2.0, size=(5, 4))
    loss, grad = loss_fn(z, targets, weight)
    assert grad.shape == z.shape
    h = 1e-6
    numeric = np.empty_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        numeric[i] = (loss_fn(zp, targets, weight)[0] - loss_fn(zm, targets, weight)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_losses_are_stable_for_huge_logits():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    ce, g = R.softmax_cross_entropy(z, np.array([1, 0]))
    assert np.isfinite(ce) and np.isfinite(g).all() and ce == pytest.approx(2000.0)
    bce, g = R.binary_cross_entropy(z, np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert np.isfinite(bce) and np.isfinite(g).all() and bce == pytest.approx(0.0)


# ----------------------------------------------------------------------------
# dtype genericity
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_everything_computes_in_the_input_dtype(dtype):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4)).astype(dtype)
    for c in ACTIVATIONS:
        y = R.activation_forward(c, x)
        assert y.dtype == dtype and R.activation_backward(c, x, x, y).dtype == dtype, c
    slope = np.full(1, 0.25, dtype=dtype)
    dx, ds = R.activation_backward({"class": "PReLU"}, x, x, x, [slope])
    assert dx.dtype == dtype and ds.dtype == dtype
    for fn, t in [(R.softmax_cross_entropy, np.array([0, 1, 2])),
                  (R.binary_cross_entropy, np.ones((3, 4))), (R.mse, np.zeros((3, 4)))]:
        loss, g = fn(x, t, np.ones(3))
        assert loss.dtype == dtype and g.dtype == dtype
    model = R.MLP(*_small_model(rng, "softmax_cross_entropy", dtype=dtype), loss="softmax_cross_entropy")
    loss, grads = model.loss_and_gradients(rng.normal(size=(4, 5)), np.array([0, 1, 2, 1]))
    assert loss.dtype == dtype and all(g.dtype == dtype for g in grads)


# ----------------------------------------------------------------------------
# Dropout mask
# ----------------------------------------------------------------------------


def test_splitmix64_known_value_and_array_version_agree():
    # First output of the reference SplitMix64 generator seeded with 0.
    assert R.splitmix64(0) == 0xE220A8397B1DCDAF
    xs = [0, 1, 2**63, 2**64 - 1, 0x123456789ABCDEF]
    arr = R.splitmix64_array(np.array(xs, dtype=np.uint64))
    assert [int(v) for v in arr] == [R.splitmix64(v) for v in xs]


def test_dropout_keep_mask_statistics_and_determinism():
    shape = (512, 256)
    p = 0.3
    m = R.dropout_keep_mask(7, 0, 2, shape, p)
    assert m.shape == shape and m.dtype == bool
    assert abs(m.mean() - (1 - p)) < 5e-3  # ~ 5 standard deviations
    np.testing.assert_array_equal(m, R.dropout_keep_mask(7, 0, 2, shape, p))
    assert (m != R.dropout_keep_mask(7, 1, 2, shape, p)).any()  # another step
    assert (m != R.dropout_keep_mask(7, 0, 3, shape, p)).any()  # another layer
    assert (m != R.dropout_keep_mask(8, 0, 2, shape, p)).any()  # another seed
    assert R.dropout_keep_mask(7, 0, 2, shape, 0.0).all()
    assert not R.dropout_keep_mask(7, 0, 2, shape, 1.0).any()


def test_dropout_keep_mask_matches_the_spelled_out_formula():
    # Element by element with Python ints, exactly as the C++ core does it.
    seed, step, layer, shape, p = 123, 4, 1, (3, 5), 0.5
    k = R.splitmix64(R.splitmix64(R.splitmix64(seed) ^ step) ^ layer)
    expected = [(R.splitmix64(k ^ i) >> 40) >= int(p * 2**24) for i in range(15)]
    np.testing.assert_array_equal(R.dropout_keep_mask(seed, step, layer, shape, p).ravel(), expected)


def test_dropout_forward_backward_scale_kept_units():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    keep = np.array([[True, False, True], [False, True, True]])
    y = R.dropout_forward(x, keep, 0.2)
    np.testing.assert_allclose(y, np.where(keep, x / 0.8, 0))
    np.testing.assert_allclose(R.dropout_backward(x, keep, 0.2), y)


def test_mlp_dropout_uses_its_own_step_counter():
    rng = np.random.default_rng(5)
    configs = [{"class": "Dense", "n_in": 4, "n_out": 8, "use_bias": True, "init": "he_uniform"},
               {"class": "Dropout", "p": 0.5}]
    params = [rng.normal(size=(8, 4)), rng.normal(size=8)]
    model = R.MLP(configs, params, "mse", seed=11)
    X = rng.normal(size=(6, 4))
    h = R.dense_forward(X, *params)
    np.testing.assert_array_equal(model.forward(X), h)  # eval: identity
    assert model.step == 0
    for step in range(3):
        keep = R.dropout_keep_mask(11, step, 1, h.shape, 0.5)
        np.testing.assert_allclose(model.forward(X, training=True), np.where(keep, 2 * h, 0))
    assert model.step == 3


# ----------------------------------------------------------------------------
# MLP: gradients and fit_epoch (pure NumPy)
# ----------------------------------------------------------------------------


def _small_model(rng, loss, dtype=np.float64, n_in=5, n_out=3):
    """configs + params of a small net touching every parameterised layer."""
    configs = [
        {"class": "Dense", "n_in": n_in, "n_out": 7, "use_bias": True, "init": "he_uniform"},
        {"class": "Tanh"},
        {"class": "Dense", "n_in": 7, "n_out": 6, "use_bias": False, "init": "glorot_uniform"},
        {"class": "PReLU", "num_parameters": 6, "init": 0.25},
        {"class": "Dense", "n_in": 6, "n_out": 4, "use_bias": True, "init": "he_uniform"},
        {"class": "PReLU", "num_parameters": 1, "init": 0.25},
        {"class": "Dense", "n_in": 4, "n_out": n_out, "use_bias": True, "init": "glorot_uniform"},
    ]
    params = [
        rng.normal(scale=0.5, size=(7, n_in)), rng.normal(scale=0.1, size=7),
        rng.normal(scale=0.5, size=(6, 7)),
        rng.uniform(0.1, 0.4, size=6),
        rng.normal(scale=0.5, size=(4, 6)), rng.normal(scale=0.1, size=4),
        rng.uniform(0.1, 0.4, size=1),
        rng.normal(scale=0.5, size=(n_out, 4)), rng.normal(scale=0.1, size=n_out),
    ]
    return configs, [p.astype(dtype) for p in params]


def _targets(rng, loss, B, C=3):
    if loss == "softmax_cross_entropy":
        return rng.integers(0, C, size=B)
    if loss == "binary_cross_entropy":
        return (rng.uniform(size=(B, C)) < 0.5).astype(np.float64)
    return rng.normal(size=(B, C))


@pytest.mark.parametrize("loss", sorted(R.LOSSES))
def test_mlp_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(6)
    configs, params = _small_model(rng, loss)
    X, y, w = rng.normal(size=(4, 5)), _targets(rng, loss, 4), rng.uniform(0.5, 2, size=4)
    _, grads = R.MLP(configs, params, loss).loss_and_gradients(X, y, w)
    h = 1e-6
    for k, p in enumerate(params):
        for i in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[k][i] += h
            minus[k][i] -= h
            lp = R.MLP(configs, plus, loss).loss_and_gradients(X, y, w)[0]
            lm = R.MLP(configs, minus, loss).loss_and_gradients(X, y, w)[0]
            assert grads[k][i] == pytest.approx((lp - lm) / (2 * h), rel=1e-5, abs=1e-9), (k, i)


def test_fit_epoch_is_the_batch_size_weighted_mean_of_train_steps():
    rng = np.random.default_rng(7)
    configs, params = _small_model(rng, "softmax_cross_entropy")
    X, y = rng.normal(size=(10, 5)), rng.integers(0, 3, size=10)
    perm = rng.permutation(10)
    a = R.MLP(configs, params, "softmax_cross_entropy")
    b = R.MLP(configs, params, "softmax_cross_entropy")
    mean = a.fit_epoch(X, y, 4, R.SGD(lr=0.1, momentum=0.9), perm)
    opt = R.SGD(lr=0.1, momentum=0.9)
    losses = [b.train_step(X[perm[s:s + 4]], y[perm[s:s + 4]], opt) for s in (0, 4, 8)]
    assert mean == pytest.approx((4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10, rel=1e-12)
    for pa, pb in zip(a.params, b.params):
        np.testing.assert_array_equal(pa, pb)


def test_mlp_checks_its_params():
    rng = np.random.default_rng(8)
    configs, params = _small_model(rng, "mse")
    with pytest.raises(ValueError):
        R.MLP(configs, params[:-1], "mse")
    with pytest.raises(ValueError):
        R.MLP(configs, params, "hinge")


# ----------------------------------------------------------------------------
# Against PyTorch (float64)
# ----------------------------------------------------------------------------

TORCH_RTOL = 1e-10


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch", reason="torch not installed: skipping PyTorch comparisons")
    torch.set_num_threads(1)
    return torch


def _torch_activation(torch, config):
    nn = torch.nn
    name = config["class"]
    return {
        "Identity": lambda: nn.Identity(),
        "Sigmoid": lambda: nn.Sigmoid(),
        "Tanh": lambda: nn.Tanh(),
        "ReLU": lambda: nn.ReLU(),
        "LeakyReLU": lambda: nn.LeakyReLU(config.get("negative_slope", 0.01)),
        "ELU": lambda: nn.ELU(config.get("alpha", 1.0)),
        "GELU": lambda: nn.GELU(approximate="none"),
        "SiLU": lambda: nn.SiLU(),
        "Softplus": lambda: nn.Softplus(),
    }[name]()


@pytest.mark.parametrize("config", ACTIVATIONS, ids=_ids(ACTIVATIONS))
def test_activation_matches_torch(torch, config):
    rng = np.random.default_rng(9)
    x = rng.normal(scale=3.0, size=(6, 5))
    x[0, :3] = 0.0  # the kinks: PyTorch's conventions at exactly 0
    dy = rng.normal(size=x.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = _torch_activation(torch, config)(xt)
    yt.backward(torch.tensor(dy))
    y = R.activation_forward(config, x)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=TORCH_RTOL, atol=1e-14)
    np.testing.assert_allclose(R.activation_backward(config, dy, x, y), xt.grad.numpy(),
                               rtol=TORCH_RTOL, atol=1e-14)


@pytest.mark.parametrize("k", [1, 5], ids=["shared", "per_unit"])
def test_prelu_matches_torch(torch, k):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(6, 5))
    x[0, :2] = 0.0
    slope = rng.uniform(0.05, 0.5, size=k)
    dy = rng.normal(size=x.shape)
    layer = torch.nn.PReLU(k).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(slope))
    xt = torch.tensor(x, requires_grad=True)
    yt = layer(xt)
    yt.backward(torch.tensor(dy))
    config = {"class": "PReLU", "num_parameters": k, "init": 0.25}
    y = R.activation_forward(config, x, [slope])
    dx, dslope = R.activation_backward(config, dy, x, y, [slope])
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=TORCH_RTOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=TORCH_RTOL)
    np.testing.assert_allclose(dslope, layer.weight.grad.numpy(), rtol=TORCH_RTOL)


def _torch_loss(torch, name, out, y, w):
    """Mean-reduced torch loss with per-sample weights, divided by B (not sum w)."""
    F = torch.nn.functional
    if name == "softmax_cross_entropy":
        per = F.cross_entropy(out, y, reduction="none")  # (B,)
    elif name == "binary_cross_entropy":
        per = F.binary_cross_entropy_with_logits(out, y, reduction="none")
    else:
        per = F.mse_loss(out, y, reduction="none")
    if w is None:
        return per.mean()
    return (per * (w if per.ndim == 1 else w[:, None])).mean()


@pytest.mark.parametrize("loss_fn, targets, weight", _loss_cases())
def test_loss_matches_torch(torch, loss_fn, targets, weight):
    rng = np.random.default_rng(11)
    z = rng.normal(scale=3.0, size=(5, 4))
    name = {R.softmax_cross_entropy: "softmax_cross_entropy",
            R.binary_cross_entropy: "binary_cross_entropy", R.mse: "mse"}[loss_fn]
    zt = torch.tensor(z, requires_grad=True)
    wt = None if weight is None else torch.tensor(weight)
    lt = _torch_loss(torch, name, zt, torch.tensor(targets), wt)
    lt.backward()
    loss, grad = loss_fn(z, targets, weight)
    assert loss == pytest.approx(lt.item(), rel=TORCH_RTOL)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=TORCH_RTOL, atol=1e-15)


def _torch_model(torch, configs, params):
    """nn.Sequential equal to the reference MLP; returns it and its params in order."""
    nn = torch.nn
    layers, ordered, it = [], [], iter(params)
    for c in configs:
        if c["class"] == "Dense":
            lin = nn.Linear(c["n_in"], c["n_out"], bias=c["use_bias"]).double()
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(next(it)))
                ordered.append(lin.weight)
                if c["use_bias"]:
                    lin.bias.copy_(torch.tensor(next(it)))
                    ordered.append(lin.bias)
            layers.append(lin)
        elif c["class"] == "PReLU":
            pr = nn.PReLU(c["num_parameters"]).double()
            with torch.no_grad():
                pr.weight.copy_(torch.tensor(next(it)))
            ordered.append(pr.weight)
            layers.append(pr)
        else:
            layers.append(_torch_activation(torch, c))
    return nn.Sequential(*layers), ordered


@pytest.mark.parametrize("loss", sorted(R.LOSSES))
def test_mlp_gradients_match_torch(torch, loss):
    rng = np.random.default_rng(12)
    configs, params = _small_model(rng, loss)
    X, y, w = rng.normal(size=(8, 5)), _targets(rng, loss, 8), rng.uniform(0.5, 2, size=8)
    net, tparams = _torch_model(torch, configs, params)
    lt = _torch_loss(torch, loss, net(torch.tensor(X)), torch.tensor(y), torch.tensor(w))
    lt.backward()
    value, grads = R.MLP(configs, params, loss).loss_and_gradients(X, y, w)
    assert value == pytest.approx(lt.item(), rel=TORCH_RTOL)
    for g, tp in zip(grads, tparams):
        np.testing.assert_allclose(g, tp.grad.numpy(), rtol=TORCH_RTOL, atol=1e-15)


OPTIMIZERS = [
    pytest.param("SGD", dict(lr=0.1), id="sgd"),
    pytest.param("SGD", dict(lr=0.05, momentum=0.9), id="sgd_momentum"),
    pytest.param("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), id="sgd_nesterov_wd"),
    pytest.param("Adam", dict(lr=0.01), id="adam"),
    pytest.param("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05), id="adam_wd"),
    pytest.param("AdamW", dict(lr=0.01, weight_decay=0.1), id="adamw"),
]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS)
def test_training_steps_match_torch_optim(torch, name, kwargs):
    rng = np.random.default_rng(13)
    loss = "softmax_cross_entropy"
    configs, params = _small_model(rng, loss)
    net, tparams = _torch_model(torch, configs, params)
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    model = R.MLP(configs, params, loss)
    opt = getattr(R, name)(**kwargs)
    for _ in range(6):
        X, y = rng.normal(size=(8, 5)), _targets(rng, loss, 8)
        topt.zero_grad()
        lt = _torch_loss(torch, loss, net(torch.tensor(X)), torch.tensor(y), None)
        lt.backward()
        topt.step()
        value = model.train_step(X, y, opt)
        assert value == pytest.approx(lt.item(), rel=TORCH_RTOL)
    for p, tp in zip(model.params, tparams):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=TORCH_RTOL, atol=1e-14)
