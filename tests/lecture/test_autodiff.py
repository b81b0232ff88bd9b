"""pynn.autodiff: the course example, every op against finite differences, a composite
expression against torch.autograd, bad input, and the graph text."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pynn import autodiff as ad
from pynn.autodiff import Tensor


def numeric_grads(f, arrays, eps=1e-6):
    """Central differences of the scalar f(*arrays) with respect to each array."""
    grads = []
    for arr in arrays:
        g = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            up = f(*arrays)
            arr[i] = old - eps
            down = f(*arrays)
            arr[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def check_grads(op, *arrays, rtol=1e-5, atol=1e-7):
    """Compare autodiff's gradients of sum(op(...) * R) with finite differences, R a
    fixed random array, so every output element gets a different upstream gradient."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out_shape = np.shape(op(*[Tensor(a) for a in arrays]).data)
    weights = np.random.default_rng(1).normal(size=out_shape)

    def loss(*arrs):
        return float((op(*[Tensor(a, requires_grad=False) for a in arrs]).data * weights).sum())

    tensors = [Tensor(a) for a in arrays]
    (op(*tensors) * weights).sum().backward()
    for t, expected in zip(tensors, numeric_grads(loss, arrays)):
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad, expected, rtol=rtol, atol=atol)


rng = np.random.default_rng(0)


def randn(*shape):
    return rng.normal(size=shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away_from_zero(*shape):
    # relu's kink is at 0; finite differences across it would be wrong, not the op
    return rng.choice([-1, 1], size=shape) * rng.uniform(0.1, 2.0, size=shape)


# --------------------------------------------------------------------------- course example

def course_graph():
    a, b, c = Tensor(3.0, name="a"), Tensor(1.0, name="b"), Tensor(-2.0, name="c")
    d = (2 * b).named("d")
    e = (a + d).named("e")
    L = (c * e).named("L")
    return a, b, c, d, e, L


def test_course_example_values_and_gradients():
    a, b, c, d, e, L = course_graph()
    assert (d.item(), e.item(), L.item()) == (2.0, 5.0, -10.0)
    L.backward()
    assert (a.grad, b.grad, c.grad) == (-2.0, -4.0, 5.0)
    assert (d.grad, e.grad, L.grad) == (-2.0, -2.0, 1.0)
    assert isinstance(a.grad, np.ndarray) and a.grad.shape == ()
    assert (d.op, e.op, L.op) == ("*", "+", "*")
    assert L.inputs == (c, e)


def test_course_example_to_dot():
    a, b, c, d, e, L = course_graph()
    L.backward()
    dot = L.to_dot()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for text in ["d = 2 * b", "e = a + d", "L = c * e", "op: *", "op: +",
                 "value: -10", "grad: 5", "grad: -4"]:
        assert text in dot
    assert dot == ad.graph(L).to_dot() == ad.to_dot(L)
    g = ad.graph(L)
    assert g.nodes[-1] is L and {a, b, c, d, e} <= set(g.nodes)
    # one edge per input -> output; the constant 2 is drawn inside "d = 2 * b"
    assert dot.count("->") == 5


def test_to_dot_summarizes_arrays_and_escapes_names():
    x = Tensor(np.ones((3, 4)), name='x "in"')
    dot = (x.exp().sum()).to_dot()
    assert "array(3, 4)" in dot and 'x \\"in\\"' in dot and "exp(" in dot
    assert "grad: None" in dot


def test_backward_accumulates_and_zero_grad():
    a, b, c, d, e, L = course_graph()
    L.backward()
    L.backward()
    assert (a.grad, b.grad, e.grad) == (-4.0, -8.0, -4.0)
    ad.graph(L).zero_grad()
    assert all(n.grad is None for n in ad.graph(L).nodes)
    L.backward()
    assert a.grad == -2.0
    a.zero_grad()
    assert a.grad is None
    ad.zero_grad(b, c)
    assert b.grad is None and c.grad is None


# --------------------------------------------------------------------------- finite differences

ELEMENTWISE = [
    ("add", lambda a, b: a + b, (randn(3, 4), randn(4))),
    ("add_row_col", lambda a, b: a + b, (randn(3, 1), randn(1, 4))),
    ("sub", lambda a, b: a - b, (randn(2, 1, 3), randn(4, 3))),
    ("mul", lambda a, b: a * b, (randn(3, 4), randn(3, 1))),
    ("div", lambda a, b: a / b, (randn(2, 3), positive(3))),
    ("pow", lambda a, b: a ** b, (positive(2, 3), randn(3))),
    ("pow_scalar", lambda a: a ** 3, (randn(4, 2),)),
    ("rpow", lambda a: 2.0 ** a, (randn(5),)),
    ("radd_array", lambda a: np.arange(4.0) + a, (randn(3, 4),)),
    ("rsub", lambda a: 1.5 - a, (randn(3),)),
    ("rmul_array", lambda a: np.full((2, 1), 3.0) * a, (randn(2, 3),)),
    ("rtruediv", lambda a: 2.0 / a, (positive(3, 2),)),
    ("neg", lambda a: -a, (randn(3, 2),)),
    ("same_input_twice", lambda a: a * a + a, (randn(4),)),
]

MATMUL = [
    ("2d@2d", (randn(3, 4), randn(4, 5))),
    ("2d@1d", (randn(3, 4), randn(4))),
    ("1d@2d", (randn(4), randn(4, 5))),
    ("1d@1d", (randn(4), randn(4))),
    ("batched@2d", (randn(2, 3, 4), randn(4, 5))),
    ("batched@1d", (randn(2, 3, 4), randn(4))),
    ("1d@batched", (randn(4), randn(2, 4, 3))),
    ("broadcast_batches", (randn(2, 1, 3, 4), randn(5, 4, 2))),
]

UNARY = [
    ("exp", ad.exp, randn(3, 4)),
    ("log", ad.log, positive(3, 4)),
    ("sigmoid", ad.sigmoid, randn(3, 4) * 3),
    ("tanh", ad.tanh, randn(3, 4)),
    ("relu", ad.relu, away_from_zero(3, 4)),
    ("softmax", ad.softmax, randn(3, 4)),
    ("softmax_axis0", lambda t: ad.softmax(t, axis=0), randn(3, 4)),
    ("log_softmax", ad.log_softmax, randn(3, 4)),
    ("log_softmax_axis0", lambda t: t.log_softmax(axis=0), randn(2, 3, 4)),
    ("sum", ad.sum, randn(3, 4)),
    ("sum_axis0", lambda t: t.sum(axis=0), randn(3, 4)),
    ("sum_axis_tuple_keepdims", lambda t: t.sum(axis=(0, 2), keepdims=True), randn(2, 3, 4)),
    ("mean", ad.mean, randn(3, 4)),
    ("mean_axis1", lambda t: t.mean(axis=-1), randn(3, 4)),
    ("mean_keepdims", lambda t: t.mean(axis=1, keepdims=True), randn(3, 4)),
    ("max", ad.max, randn(3, 4)),
    ("max_axis1", lambda t: t.max(axis=1), randn(3, 4)),
    ("max_axis0_keepdims", lambda t: t.max(axis=0, keepdims=True), randn(3, 4)),
    ("reshape", lambda t: t.reshape(4, 3) * np.arange(3.0), randn(3, 4)),
    ("transpose", lambda t: t.T @ np.arange(3.0), randn(3, 4)),
    ("transpose_axes", lambda t: t.transpose(2, 0, 1), randn(2, 3, 4)),
    ("getitem", lambda t: t[[0, 0, 2], 1:], randn(3, 4)),
    ("scalar_sigmoid", ad.sigmoid, np.array(0.3)),
]


@pytest.mark.parametrize("name, op, arrays", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_ops_match_finite_differences(name, op, arrays):
    check_grads(op, *arrays)


@pytest.mark.parametrize("name, arrays", MATMUL, ids=[c[0] for c in MATMUL])
def test_matmul_matches_numpy_and_finite_differences(name, arrays):
    a, b = arrays
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, np.matmul(a, b))
    check_grads(lambda x, y: x @ y, a, b)


@pytest.mark.parametrize("name, op, array", UNARY, ids=[c[0] for c in UNARY])
def test_unary_ops_match_finite_differences(name, op, array):
    check_grads(op, array)


@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       op=st.sampled_from(["+", "-", "*", "/"]), seed=st.integers(0, 2**16))
def test_broadcasting_ops_on_random_shapes(shapes, op, seed):
    r = np.random.default_rng(seed)
    a = r.normal(size=shapes.input_shapes[0])
    b = r.uniform(0.5, 2.0, size=shapes.input_shapes[1]) * r.choice([-1, 1], size=shapes.input_shapes[1])
    fn = {"+": lambda x, y: x + y, "-": lambda x, y: x - y,
          "*": lambda x, y: x * y, "/": lambda x, y: x / y}[op]
    assert fn(Tensor(a), Tensor(b)).shape == shapes.result_shape
    check_grads(fn, a, b)


def test_max_ties_split_the_gradient_evenly():
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]])


def test_numpy_arrays_on_the_left_give_tensors():
    x = Tensor(np.ones((2, 3)))
    for y in [np.ones(3) + x, np.ones(3) - x, np.ones(3) * x, np.ones(3) / x,
              np.ones((4, 2)) @ x, 2.0 ** x]:
        assert isinstance(y, Tensor)


def test_constants_get_no_gradient_and_inputs_are_copied():
    data = np.ones(3)
    x, c = Tensor(data), Tensor([1.0, 2.0, 3.0], requires_grad=False)
    data[:] = 5.0                       # the tensor kept its own copy
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [1, 2, 3])
    np.testing.assert_array_equal(x.data, [1, 1, 1])


def test_softmax_and_log_softmax_are_stable_for_large_logits():
    z = Tensor([[1000.0, 0.0, -1000.0]])
    assert np.all(np.isfinite(z.softmax().data)) and np.all(np.isfinite(z.log_softmax().data))
    np.testing.assert_allclose(z.softmax().data, [[1, 0, 0]], atol=1e-300)
    assert np.isfinite(ad.sigmoid(Tensor(-1000.0)).data)


# --------------------------------------------------------------------------- softmax cross-entropy

def test_user_softmax_cross_entropy_gradient_is_softmax_minus_targets():
    r = np.random.default_rng(3)
    B, C = 5, 4
    z = Tensor(r.normal(size=(B, C)) * 3)
    t = np.eye(C)[r.integers(0, C, size=B)]
    loss = -(t * z.log_softmax()).sum() / B
    loss.backward()
    p = np.exp(z.data - z.data.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad, (p - t) / B, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(p[t == 1])), rtol=1e-12)


def test_custom_loss_gradient():
    r = np.random.default_rng(4)
    out, tgt = r.normal(size=(6, 3)), r.normal(size=(6, 3))
    value, grad = ad.custom_loss_gradient(lambda o, t: ((o - t) ** 2).mean(), out, tgt)
    assert isinstance(value, float) and value == pytest.approx(np.mean((out - tgt) ** 2))
    np.testing.assert_allclose(grad, 2 * (out - tgt) / out.size)
    assert grad.shape == out.shape and grad.dtype == np.float64

    with pytest.raises(ValueError, match="a loss function must return a scalar Tensor"):
        ad.custom_loss_gradient(lambda o, t: (o - t) ** 2, out, tgt)
    with pytest.raises(TypeError, match="must return a scalar Tensor"):
        ad.custom_loss_gradient(lambda o, t: float(np.mean(o.data)), out, tgt)
    with pytest.raises(ValueError, match="does not depend on the outputs"):
        ad.custom_loss_gradient(lambda o, t: Tensor(np.mean(o.data - t.data)), out, tgt)
    with pytest.raises(TypeError, match="fn must be a callable"):
        ad.custom_loss_gradient("mse", out, tgt)


# --------------------------------------------------------------------------- PyTorch

def test_composite_expression_matches_torch_autograd():
    torch = pytest.importorskip("torch", reason="torch is the optional autograd oracle")
    r = np.random.default_rng(5)
    X, W, b = r.normal(size=(4, 3)), r.normal(size=(5, 3)), r.normal(size=5)
    U, t = r.normal(size=(2, 5)), np.eye(5)[[0, 3, 1, 4]]

    def expression(lib, X, W, b, U):
        if lib == "torch":
            h = torch.tanh(X @ W.T + b)
            probs, logp = torch.softmax(h, dim=-1), torch.log_softmax(2 * h, dim=-1)
            top = torch.amax(h, dim=1)
            extra = torch.sigmoid(torch.relu(h) @ U.T).mean() + torch.log(torch.exp(h) + 1).sum()
            tt = torch.tensor(t)
        else:
            h = (X @ W.T + b).tanh()
            probs, logp = h.softmax(), (2 * h).log_softmax()
            top = h.max(axis=1)
            extra = ad.sigmoid(h.relu() @ U.T).mean() + ((h.exp() + 1).log()).sum()
            tt = t
        return -(tt * logp).sum() / 4 + (probs ** 2).sum() + (top / 3).sum() + extra

    ours = [Tensor(v) for v in (X, W, b, U)]
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (X, W, b, U)]
    L_ours, L_theirs = expression("pynn", *ours), expression("torch", *theirs)
    L_ours.backward()
    L_theirs.backward()
    np.testing.assert_allclose(L_ours.item(), L_theirs.item(), rtol=1e-12)
    for mine, ref in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad, ref.grad.numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- bad input and limits

@pytest.mark.parametrize("bad", ["abc", None, [1.0, "a"], {"x": 1}, 1 + 2j, object()])
def test_non_numeric_data_is_a_type_error(bad):
    with pytest.raises(TypeError, match="data must be a real number"):
        Tensor(bad)


def test_ragged_data_is_a_value_error():
    with pytest.raises(ValueError, match="regular"):
        Tensor([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_bad_broadcast_names_both_shapes(op):
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4,)))
    fn = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
          "/": lambda: a / b, "**": lambda: a ** b}[op]
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        fn()


def test_matmul_shape_errors():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        Tensor(2.0) @ Tensor(np.ones(3))


def test_backward_needs_a_scalar_or_a_seed_of_the_right_shape():
    x = Tensor(np.ones((2, 3)))
    y = x * 2
    with pytest.raises(ValueError, match=r"scalar tensor, got shape \(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"shape of the tensor, \(2, 3\), got \(3,\)"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))
    with pytest.raises(ValueError, match="does not require grad"):
        Tensor(1.0, requires_grad=False).exp().backward()


def test_bad_axis_and_name():
    with pytest.raises(ValueError, match="out of range"):
        Tensor(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(TypeError, match="axis must be"):
        Tensor(np.ones((2, 3))).mean(axis=1.0)
    with pytest.raises(TypeError, match="name must be"):
        Tensor(1.0, name=3)
    with pytest.raises(ValueError, match="one element"):
        float(Tensor(np.ones(2)))


def test_deep_chain_backward_is_not_recursive():
    x = Tensor(0.5, name="x")
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 10_000, rtol=1e-9)
    assert len(ad.graph(y).nodes) > 20_000
