"""Reverse-mode automatic differentiation on a computation graph (float64 NumPy).

The course's example (Jurafsky & Martin, "Computation graphs")::

    a, b, c = Tensor(3., name="a"), Tensor(1., name="b"), Tensor(-2., name="c")
    d = (2 * b).named("d")          # d = 2 b        =  2
    e = (a + d).named("e")          # e = a + d      =  5
    L = (c * e).named("L")          # L = c e        = -10
    L.backward()
    a.grad, b.grad, c.grad          # dL/da = -2, dL/db = -4, dL/dc = 5
    print(L.to_dot())               # the graph, for Graphviz

Forward pass: every operation makes a new ``Tensor`` that remembers its operation
(``op``), its ``inputs``, and how to turn the gradient of the loss with respect to
itself into the gradient with respect to each input (upstream gradient times local
derivative: the chain rule).

Backward pass: visit the nodes in reverse topological order (every node after all
the nodes that use it), so that when a node is reached its gradient is complete::

    dL/dx = sum over every node y that uses x of  dL/dy * dy/dx

Broadcasting: when an operand was broadcast (a bias ``b`` of shape (n,) added to
every row of an (B, n) array), each of its elements fed many outputs, so its
gradient is the sum of theirs: the backward pass sums over the broadcast axes.

May import: NumPy only."""
import math

import numpy as np

__all__ = [
    "Tensor", "Graph", "graph", "to_dot", "zero_grad", "custom_loss_gradient",
    "add", "sub", "mul", "div", "pow", "matmul", "neg", "exp", "log",
    "sum", "mean", "max", "sigmoid", "tanh", "relu", "softmax", "log_softmax",
    "reshape", "transpose",
]

_INFIX_OPS = {"+", "-", "*", "/", "**", "@"}


# --------------------------------------------------------------------------- helpers

def _as_float_array(data, argname="data"):
    """A float64 copy of `data` (the copy keeps later in-place edits of the caller's
    array out of the graph); TypeError for anything that is not numbers."""
    if isinstance(data, Tensor):
        return data.data.copy()
    try:
        arr = np.asarray(data)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{argname} must be a regular (rectangular) array of numbers: {err}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{argname} must be a real number or an array of real numbers, "
                        f"got {type(data).__name__} (dtype {arr.dtype})")
    return arr.astype(np.float64)


def _tensor(x):
    """Tensors pass through; numbers and arrays become constants (no gradient)."""
    return x if isinstance(x, Tensor) else Tensor(x, requires_grad=False)


def _broadcast_shape(a, b, op):
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"operands of '{op}' cannot be broadcast together: shapes "
                         f"{a.shape} and {b.shape}") from None


def _unbroadcast(grad, shape):
    """Sum `grad` over the axes that broadcasting added or stretched, back to `shape`."""
    grad = np.asarray(grad)
    if grad.shape == shape:
        return grad
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _normalize_axis(axis, ndim, argname="axis"):
    """`axis` (None, int or tuple of ints) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for ax in axes:
        if isinstance(ax, (bool, np.bool_)) or not isinstance(ax, (int, np.integer)):
            raise TypeError(f"{argname} must be None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= ax < ndim:
            raise ValueError(f"{argname}={axis!r} is out of range for a tensor with {ndim} dimension(s)")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{argname}={axis!r} repeats an axis")
    return tuple(sorted(out))


def _result(data, op, inputs, backward):
    """A new graph node. `backward(g)` maps dL/d(out) to one dL/d(input) per input."""
    out = Tensor.__new__(Tensor)
    out.data = np.asarray(data, dtype=np.float64)
    out.requires_grad = any(t.requires_grad for t in inputs)
    out.name = None
    out.grad = None
    out.op = op
    out.inputs = tuple(inputs)
    out._backward = backward if out.requires_grad else None
    return out


def _topological_order(root, only_requires_grad):
    """Nodes reachable from `root`, each after all of its inputs. Iterative DFS, so a
    chain of 100,000 operations does not hit Python's recursion limit."""
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for inp in reversed(node.inputs):  # reversed: the first input is visited first
            if id(inp) not in seen and (inp.requires_grad or not only_requires_grad):
                stack.append((inp, False))
    return order


# --------------------------------------------------------------------------- Tensor

class Tensor:
    """A value in a computation graph: a float64 array plus, after ``backward()``,
    its gradient ``grad`` (dL/d self, same shape as ``data``).

    ``Tensor(data, requires_grad=True, name=None)`` makes a leaf (an input or a
    parameter). Constants -- numbers and arrays mixed into an expression -- become
    leaves with ``requires_grad=False``: no gradient is computed for them.
    """

    # Make NumPy defer to us, so `ndarray + Tensor` calls Tensor.__radd__ and gives a
    # Tensor instead of an object array of Tensors.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=True, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        self.data = _as_float_array(data)
        self.requires_grad = bool(requires_grad)
        self.name = name
        self.grad = None
        self.op = None          # None for a leaf, else e.g. "+", "*", "exp"
        self.inputs = ()
        self._backward = None

    # ---- plain properties
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def named(self, name):
        """Set the name shown by ``to_dot`` and return self: ``d = (2 * b).named("d")``."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        self.name = name
        return self

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def __float__(self):
        return float(self.item())

    def detach(self):
        """The same value as a constant, cut off from the graph."""
        return Tensor(self.data, requires_grad=False, name=self.name)

    def __repr__(self):
        value = np.array2string(self.data, precision=4, threshold=20)
        extras = "".join(f", {k}={v!r}" for k, v in (("name", self.name), ("op", self.op)) if v)
        return f"Tensor({value}{extras})"

    # ---- backward pass
    def backward(self, grad=None):
        """Fill ``.grad`` of every node that requires grad with dL/d(node), L = self.

        Without ``grad`` self must be a scalar (dL/dL = 1). With ``grad`` (same shape as
        self) this computes the vector-Jacobian product sum_i grad_i * d self_i / d node.
        Gradients accumulate across calls, as in PyTorch: call ``zero_grad`` between steps.
        """
        if not self.requires_grad:
            raise ValueError("backward() called on a tensor that does not require grad "
                             "(it was built only from constants)")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward() without a seed gradient needs a scalar tensor, "
                                 f"got shape {self.shape}; pass grad= of that shape")
            seed = np.ones_like(self.data)
        else:
            seed = _as_float_array(grad, "grad")
            if seed.shape != self.shape:
                raise ValueError(f"grad must have the shape of the tensor, {self.shape}, "
                                 f"got {seed.shape}")
        # Gradients of this pass are summed in a dict first, so a second backward()
        # adds exactly one pass's worth to .grad (intermediate nodes included).
        pending = {id(self): seed}
        for node in reversed(_topological_order(self, only_requires_grad=True)):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            node.grad = np.array(g, dtype=np.float64) if node.grad is None else node.grad + g
            if node._backward is None:
                continue
            for inp, g_inp in zip(node.inputs, node._backward(g)):
                if inp.requires_grad:
                    prev = pending.get(id(inp))
                    pending[id(inp)] = g_inp if prev is None else prev + g_inp

    def zero_grad(self):
        """Forget this tensor's gradient (``Graph.zero_grad`` does a whole graph)."""
        self.grad = None

    def to_dot(self):
        """Graphviz text of the graph that computed this tensor (see ``Graph``)."""
        return Graph(self).to_dot()

    # ---- operators: Python scalars and arrays are welcome on either side
    def __add__(self, other): return add(self, other)
    def __radd__(self, other): return add(other, self)
    def __sub__(self, other): return sub(self, other)
    def __rsub__(self, other): return sub(other, self)
    def __mul__(self, other): return mul(self, other)
    def __rmul__(self, other): return mul(other, self)
    def __truediv__(self, other): return div(self, other)
    def __rtruediv__(self, other): return div(other, self)
    def __pow__(self, other): return pow(self, other)
    def __rpow__(self, other): return pow(other, self)
    def __matmul__(self, other): return matmul(self, other)
    def __rmatmul__(self, other): return matmul(other, self)
    def __neg__(self): return neg(self)
    def __getitem__(self, index): return _getitem(self, index)

    # ---- methods mirroring the module functions
    def neg(self): return neg(self)
    def exp(self): return exp(self)
    def log(self): return log(self)
    def sigmoid(self): return sigmoid(self)
    def tanh(self): return tanh(self)
    def relu(self): return relu(self)
    def softmax(self, axis=-1): return softmax(self, axis)
    def log_softmax(self, axis=-1): return log_softmax(self, axis)
    def sum(self, axis=None, keepdims=False): return _sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return _max(self, axis, keepdims)
    def reshape(self, *shape): return reshape(self, *shape)
    def transpose(self, *axes): return transpose(self, *axes)
    T = property(lambda self: transpose(self))


# --------------------------------------------------------------------------- binary ops

def add(a, b):
    """out = a + b;  dout/da = 1, dout/db = 1 (summed over broadcast axes)."""
    a, b = _tensor(a), _tensor(b)
    _broadcast_shape(a, b, "+")
    return _result(a.data + b.data, "+", (a, b),
                   lambda g: (_unbroadcast(g, a.shape), _unbroadcast(g, b.shape)))


def sub(a, b):
    """out = a - b;  dout/da = 1, dout/db = -1."""
    a, b = _tensor(a), _tensor(b)
    _broadcast_shape(a, b, "-")
    return _result(a.data - b.data, "-", (a, b),
                   lambda g: (_unbroadcast(g, a.shape), _unbroadcast(-g, b.shape)))


def mul(a, b):
    """out = a * b (elementwise);  dout/da = b, dout/db = a."""
    a, b = _tensor(a), _tensor(b)
    _broadcast_shape(a, b, "*")
    return _result(a.data * b.data, "*", (a, b),
                   lambda g: (_unbroadcast(g * b.data, a.shape), _unbroadcast(g * a.data, b.shape)))


def div(a, b):
    """out = a / b;  dout/da = 1/b, dout/db = -a/b^2."""
    a, b = _tensor(a), _tensor(b)
    _broadcast_shape(a, b, "/")
    return _result(a.data / b.data, "/", (a, b),
                   lambda g: (_unbroadcast(g / b.data, a.shape),
                              _unbroadcast(-g * a.data / b.data ** 2, b.shape)))


def pow(a, b):
    """out = a ** b;  dout/da = b a^(b-1),  dout/db = a^b log(a).

    As in PyTorch, the terms are taken as 0 where they are 0 * inf (b = 0 for
    dout/da, a = 0 for dout/db); a negative base gives NaN for dout/db.
    """
    a, b = _tensor(a), _tensor(b)
    _broadcast_shape(a, b, "**")
    out = a.data ** b.data

    def backward(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            da = np.where(b.data == 0, 0.0, b.data * a.data ** (b.data - 1))
            db = np.where(a.data == 0, 0.0, out * np.log(a.data)) if b.requires_grad else 0.0
        return _unbroadcast(g * da, a.shape), _unbroadcast(g * db, b.shape)

    return _result(out, "**", (a, b), backward)


def matmul(a, b):
    """out = a @ b, as np.matmul (1-D, 2-D and stacks of matrices).

    For 2-D:  dL/da = dL/dout @ b^T,  dL/db = a^T @ dL/dout. A 1-D operand is
    treated as a row (left) or column (right) vector, as np.matmul does.
    """
    a, b = _tensor(a), _tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"operands of '@' need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if a.shape[-1] != k_b:
        raise ValueError(f"operands of '@' have mismatched inner dimensions: shapes {a.shape} and "
                         f"{b.shape} ({a.shape[-1]} != {k_b})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"operands of '@' have batch dimensions that cannot be broadcast: "
                         f"shapes {a.shape} and {b.shape}") from None

    def backward(g):
        a2 = a.data if a.ndim > 1 else a.data[None, :]   # row vector
        b2 = b.data if b.ndim > 1 else b.data[:, None]   # column vector
        g2 = np.asarray(g)                               # put back the dropped axes
        if a.ndim == 1 and b.ndim == 1:
            g2 = g2.reshape(1, 1)
        elif a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        elif b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        gb = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb

    return _result(a.data @ b.data, "@", (a, b), backward)


# --------------------------------------------------------------------------- unary ops

def neg(a):
    """out = -a."""
    a = _tensor(a)
    return _result(-a.data, "neg", (a,), lambda g: (-g,))


def exp(a):
    """out = e^a;  dout/da = e^a = out."""
    a = _tensor(a)
    out = np.exp(a.data)
    return _result(out, "exp", (a,), lambda g: (g * out,))


def log(a):
    """out = ln a;  dout/da = 1/a. (As NumPy: log 0 = -inf, log of a negative = NaN.)"""
    a = _tensor(a)
    return _result(np.log(a.data), "log", (a,), lambda g: (g / a.data,))


def sigmoid(a):
    """out = 1 / (1 + e^-a);  dout/da = out (1 - out).

    Computed as (1 + tanh(a/2)) / 2, which is the same function and never overflows.
    """
    a = _tensor(a)
    out = 0.5 * (1.0 + np.tanh(0.5 * a.data))
    return _result(out, "sigmoid", (a,), lambda g: (g * out * (1.0 - out),))


def tanh(a):
    """out = tanh a;  dout/da = 1 - out^2."""
    a = _tensor(a)
    out = np.tanh(a.data)
    return _result(out, "tanh", (a,), lambda g: (g * (1.0 - out ** 2),))


def relu(a):
    """out = max(a, 0);  dout/da = 1 where a > 0, else 0 (0 at a = 0, like PyTorch)."""
    a = _tensor(a)
    return _result(np.maximum(a.data, 0.0), "relu", (a,), lambda g: (g * (a.data > 0),))


def softmax(a, axis=-1):
    """out_i = e^{a_i} / sum_j e^{a_j} along `axis`;
    dL/da = out * (dL/dout - sum_j dL/dout_j out_j).

    The max is subtracted first (softmax is unchanged by a shift), so e^x never overflows.
    """
    a = _tensor(a)
    if a.ndim == 0:
        raise ValueError("softmax needs a tensor with at least 1 dimension, got a scalar")
    (ax,) = _normalize_axis(axis, a.ndim)
    e = np.exp(a.data - a.data.max(axis=ax, keepdims=True))
    out = e / e.sum(axis=ax, keepdims=True)
    return _result(out, "softmax", (a,),
                   lambda g: (out * (g - (g * out).sum(axis=ax, keepdims=True)),))


def log_softmax(a, axis=-1):
    """out_i = a_i - log sum_j e^{a_j} along `axis`;
    dL/da = dL/dout - softmax(a) * sum_j dL/dout_j.

    Computed as (a - m) - log sum e^{a - m} with m the max: no overflow, no log(0).
    """
    a = _tensor(a)
    if a.ndim == 0:
        raise ValueError("log_softmax needs a tensor with at least 1 dimension, got a scalar")
    (ax,) = _normalize_axis(axis, a.ndim)
    shifted = a.data - a.data.max(axis=ax, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=ax, keepdims=True))
    return _result(out, "log_softmax", (a,),
                   lambda g: (g - np.exp(out) * g.sum(axis=ax, keepdims=True),))


# --------------------------------------------------------------------------- reductions

def _expand_to(g, axes, keepdims, shape):
    """Undo a reduction's shape: put back the reduced axes, then broadcast."""
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _sum(a, axis=None, keepdims=False):
    """out = sum of a over `axis`;  dout/da_i = 1 for every element summed."""
    a = _tensor(a)
    axes = _normalize_axis(axis, a.ndim)
    return _result(a.data.sum(axis=axes, keepdims=keepdims), "sum", (a,),
                   lambda g: (_expand_to(g, axes, keepdims, a.shape),))


def mean(a, axis=None, keepdims=False):
    """out = (1/n) sum of a over `axis` (n elements);  dout/da_i = 1/n."""
    a = _tensor(a)
    axes = _normalize_axis(axis, a.ndim)
    n = math.prod(a.shape[ax] for ax in axes)
    if n == 0:
        raise ValueError(f"mean over an empty axis: shape {a.shape}, axis={axis!r}")
    return _result(a.data.mean(axis=axes, keepdims=keepdims), "mean", (a,),
                   lambda g: (_expand_to(g, axes, keepdims, a.shape) / n,))


def _max(a, axis=None, keepdims=False):
    """out = max of a over `axis`;  the gradient goes to the argmax.

    Ties split the gradient evenly between the tied elements (as torch.amax does),
    so the result does not depend on their order.
    """
    a = _tensor(a)
    axes = _normalize_axis(axis, a.ndim)
    if a.size == 0:
        raise ValueError(f"max of an empty tensor: shape {a.shape}")
    top = a.data.max(axis=axes, keepdims=True)

    def backward(g):
        winners = a.data == top
        share = winners / winners.sum(axis=axes, keepdims=True)
        return (_expand_to(g, axes, keepdims, a.shape) * share,)

    out = top if keepdims else np.squeeze(top, axis=axes)
    return _result(out, "max", (a,), backward)


# --------------------------------------------------------------------------- shape ops

def reshape(a, *shape):
    """out = a with a new shape (same elements);  the gradient is reshaped back."""
    a = _tensor(a)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return _result(a.data.reshape(shape), "reshape", (a,), lambda g: (np.reshape(g, a.shape),))


def transpose(a, *axes):
    """out = a with its axes permuted (reversed by default);  the gradient is permuted back."""
    a = _tensor(a)
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    perm = tuple(range(a.ndim))[::-1] if not axes else _normalize_axis_order(axes, a.ndim)
    inverse = tuple(np.argsort(perm))
    return _result(np.transpose(a.data, perm), "transpose", (a,),
                   lambda g: (np.transpose(g, inverse),))


def _normalize_axis_order(axes, ndim):
    perm = tuple(int(ax) % ndim if -ndim <= ax < ndim else ax for ax in axes)
    if sorted(perm) != list(range(ndim)):
        raise ValueError(f"axes must be a permutation of 0..{ndim - 1}, got {axes!r}")
    return perm


def _getitem(a, index):
    """out = a[index];  the gradient is scattered back (added where an index repeats)."""
    out = a.data[index]

    def backward(g):
        full = np.zeros_like(a.data)
        np.add.at(full, index, g)
        return (full,)

    return _result(out, "[]", (a,), backward)


# Module-level names that shadow builtins are bound last, and nothing in this module
# calls the builtin sum() or max(): at call time those names would resolve to these.
sum = _sum
max = _max


# --------------------------------------------------------------------------- graphs

def zero_grad(*tensors):
    """Set ``.grad = None`` on each tensor given (or on each tensor in one iterable)."""
    if len(tensors) == 1 and not isinstance(tensors[0], Tensor):
        tensors = tuple(tensors[0])
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"zero_grad expects Tensors, got {type(t).__name__}")
        t.grad = None


def _fmt(x):
    """A value for a graph label: numbers in full, arrays by their shape."""
    if x is None:
        return "None"
    x = np.asarray(x)
    return f"{x.item():.4g}" if x.size == 1 and x.ndim == 0 else f"array{x.shape}"


def _is_inline_constant(t):
    # A bare number such as the 2 in d = 2 * b is shown inside the expression,
    # not as a node of its own, as in the course's figures.
    return t.op is None and not t.requires_grad and t.name is None and t.size == 1


class Graph:
    """The computation graph that produced ``root``.

    ``nodes``: every Tensor it depends on, inputs before outputs (topological order),
    ``root`` last. ``edges``: pairs (input, output), one per use.
    """

    def __init__(self, root):
        if not isinstance(root, Tensor):
            raise TypeError(f"root must be a Tensor, got {type(root).__name__}")
        self.root = root
        self.nodes = _topological_order(root, only_requires_grad=False)
        self.edges = [(inp, node) for node in self.nodes for inp in node.inputs]

    def zero_grad(self):
        zero_grad(self.nodes)

    def to_dot(self):
        """Graphviz ``digraph`` text: one box per value showing its name, operation,
        value and gradient (arrays by shape), and an edge input -> output per use.
        Render with ``dot -Tpng``, or paste into any Graphviz viewer."""
        ids = {id(n): f"n{i}" for i, n in enumerate(self.nodes)}

        def ref(t):
            if _is_inline_constant(t):
                return _fmt(t.data)
            return t.name if t.name is not None else ids[id(t)]

        lines = ["digraph computation_graph {", "  rankdir=LR;",
                 '  node [shape=box, fontname="Helvetica"];']
        for node in self.nodes:
            if _is_inline_constant(node):
                continue
            if node.op is None:
                rows = [ref(node)]
            else:
                args = [ref(t) for t in node.inputs]
                expr = (f" {node.op} ".join(args) if node.op in _INFIX_OPS
                        else f"{node.op}({', '.join(args)})")
                rows = [f"{ref(node)} = {expr}", f"op: {node.op}"]
            rows += [f"value: {_fmt(node.data)}", f"grad: {_fmt(node.grad)}"]
            label = "\\n".join(r.replace("\\", "\\\\").replace('"', '\\"') for r in rows)
            style = "" if node.requires_grad else ", style=dashed"
            lines.append(f'  {ids[id(node)]} [label="{label}"{style}];')
        for inp, out in self.edges:
            if not _is_inline_constant(inp):
                lines.append(f"  {ids[id(inp)]} -> {ids[id(out)]};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def graph(root):
    """``graph(L).to_dot()``, ``graph(L).nodes``: the computation graph behind ``L``."""
    return Graph(root)


def to_dot(root):
    """Graphviz text of the computation graph behind ``root``."""
    return Graph(root).to_dot()


# --------------------------------------------------------------------------- losses

def custom_loss_gradient(fn, outputs, targets):
    """Evaluate a user-written loss and its gradient with respect to the outputs.

    ``fn(outputs_tensor, targets_tensor)`` must build a scalar Tensor L from pynn.autodiff
    operations. Returns ``(float(L), dL/doutputs)`` with the gradient as a float64 ndarray
    of the shape of ``outputs``. A model trained with ``loss=fn`` hands that gradient to
    the backward pass of its layers.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable loss(outputs, targets), got {type(fn).__name__}")
    out = Tensor(outputs, name="outputs")
    tgt = Tensor(targets, requires_grad=False, name="targets")
    loss = fn(out, tgt)
    if not isinstance(loss, Tensor):
        raise TypeError("a loss function must return a scalar Tensor built from its arguments "
                        f"with pynn.autodiff operations, got {type(loss).__name__}")
    if loss.size != 1:
        raise ValueError(f"a loss function must return a scalar Tensor, got shape {loss.shape}; "
                         "reduce it with .sum() or .mean()")
    if not loss.requires_grad:
        raise ValueError("the loss does not depend on the outputs through pynn.autodiff "
                         "operations (was it computed with NumPy on .data?)")
    loss.backward()
    if out.grad is None:
        raise ValueError("the loss does not depend on the outputs through pynn.autodiff "
                         "operations (was it computed with NumPy on .data?)")
    return float(loss.item()), out.grad
