"""Plain NumPy reference implementation of pynn's math.

This module is the *oracle*: the C++ core must agree with it, the tests compare
against it and the benchmarks use it as the baseline. It is therefore written
to be read, not to be clever. Everything is dtype-generic: results are
computed in the floating dtype of the inputs (float32 or float64); Python
scalars are "weak" under NumPy 2 (NEP 50), so constants never upcast.

Conventions
-----------
* Rows are samples: ``X`` has shape ``(B, n_in)``.
* A Dense layer has ``W`` of shape ``(n_out, n_in)`` and ``b`` of shape
  ``(n_out,)`` and computes ``Y = X @ W.T + b`` (like ``torch.nn.Linear``).
* Layer configs are plain dicts with a ``"class"`` key, identical to
  ``layer.get_config()`` of the real model.
* Derivatives at kinks follow PyTorch: ReLU'(0) = 0, LeakyReLU / PReLU / ELU
  use the branch ``x > 0``.

May import: NumPy only: the oracle shares no code with what it checks."""

import math

import numpy as np

# ----------------------------------------------------------------------------
# Activations (plain functions)
# ----------------------------------------------------------------------------

_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# math.erf is exact to double precision and avoids a SciPy dependency.
_erf = np.vectorize(math.erf, otypes=[np.float64])


def sigmoid(x):
    """sigma(x) = 1 / (1 + exp(-x)), computed without overflow.

    With e = ``exp(-|x|)`` (always in (0, 1]):
    x >= 0: 1 / (1 + e);   x < 0: e / (1 + e).
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x):
    """tanh(x); derivative 1 - tanh(x)^2."""
    return np.tanh(x)


def relu(x):
    """max(x, 0); derivative 1[x > 0] (so ReLU'(0) = 0, as in PyTorch)."""
    return np.maximum(x, 0)


def leaky_relu(x, negative_slope=0.01):
    """x if x > 0 else negative_slope * x."""
    return np.where(x > 0, x, x * negative_slope)


def elu(x, alpha=1.0):
    """x if x > 0 else alpha * (exp(x) - 1)  (expm1 keeps precision near 0)."""
    # Clamp the argument of expm1 so the unused branch cannot overflow.
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def gelu(x):
    """Exact GELU: x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))."""
    return 0.5 * x * (1 + _erf(x / _SQRT_2).astype(x.dtype))


def silu(x):
    """SiLU (swish): x * sigma(x)."""
    return x * sigmoid(x)


def softplus(x):
    """log(1 + exp(x)) in the stable form ``max(x, 0) + log1p(exp(-|x|))``."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x, axis=-1):
    """softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """log softmax(x)_i = (x_i - m) - log sum_j exp(x_j - m), m = max_j x_j."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# ----------------------------------------------------------------------------
# Activation layers: forward / backward dispatch on the config dict
# ----------------------------------------------------------------------------


def _slope_of(params):
    """PReLU's single parameter; accept ``[slope]`` or the bare array."""
    if params is None:
        raise ValueError("PReLU needs params=[slope]")
    return params if isinstance(params, np.ndarray) else params[0]


def _check_prelu_slope(slope, x):
    k = slope.shape[0]
    if k != 1 and k != x.shape[-1]:
        raise ValueError(f"PReLU has {k} slopes but the input width is {x.shape[-1]}")


def activation_forward(config, x, params=None):
    """y = f(x) elementwise for the activation named by ``config["class"]``.

    x: (B, width) -> y: (B, width). ``params`` is only used by PReLU:
    ``[slope]`` with slope of shape (k,), k == 1 (shared) or k == width.
    """
    name = config["class"]
    if name == "Identity":
        return x.copy()
    if name == "Sigmoid":
        return sigmoid(x)
    if name == "Tanh":
        return tanh(x)
    if name == "ReLU":
        return relu(x)
    if name == "LeakyReLU":
        return leaky_relu(x, config.get("negative_slope", 0.01))
    if name == "ELU":
        return elu(x, config.get("alpha", 1.0))
    if name == "GELU":
        return gelu(x)
    if name == "SiLU":
        return silu(x)
    if name == "Softplus":
        return softplus(x)
    if name == "PReLU":
        slope = _slope_of(params)
        _check_prelu_slope(slope, x)
        # slope broadcasts along the last (feature) axis, shared when k == 1.
        return np.where(x > 0, x, slope * x)
    raise ValueError(f"unknown activation {name!r}")


def activation_backward(config, dy, x, y, params=None):
    """dx = dy * f'(x), given the forward input x and output y (same shape).

    Derivatives:
      Sigmoid  y (1 - y)              Tanh      1 - y^2
      ReLU     1[x > 0]               LeakyReLU 1 if x > 0 else slope
      ELU      1 if x > 0 else alpha e^x
      GELU     Phi(x) + x phi(x),     phi(x) = exp(-x^2/2) / sqrt(2 pi)
      SiLU     s (1 + x (1 - s)),     s = sigma(x)
      Softplus sigma(x)
    PReLU returns ``(dx, dslope)`` with
      dslope_j = sum_{b : x_bj <= 0} dy_bj x_bj   (also summed over j if shared).
    """
    name = config["class"]
    if name == "Identity":
        return dy.copy()
    if name == "Sigmoid":
        return dy * y * (1 - y)
    if name == "Tanh":
        return dy * (1 - y * y)
    if name == "ReLU":
        return np.where(x > 0, dy, 0).astype(dy.dtype)
    if name == "LeakyReLU":
        return np.where(x > 0, dy, dy * config.get("negative_slope", 0.01))
    if name == "ELU":
        alpha = config.get("alpha", 1.0)
        return np.where(x > 0, dy, dy * alpha * np.exp(np.minimum(x, 0)))
    if name == "GELU":
        cdf = 0.5 * (1 + _erf(x / _SQRT_2).astype(x.dtype))
        pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return dy * (cdf + x * pdf)
    if name == "SiLU":
        s = sigmoid(x)
        return dy * s * (1 + x * (1 - s))
    if name == "Softplus":
        return dy * sigmoid(x)
    if name == "PReLU":
        slope = _slope_of(params)
        _check_prelu_slope(slope, x)
        dx = np.where(x > 0, dy, dy * slope)
        contrib = np.where(x > 0, 0, dy * x).astype(dy.dtype)
        # Sum over every axis but the feature axis; then over features if shared.
        dslope = contrib.reshape(-1, x.shape[-1]).sum(axis=0)
        if slope.shape[0] == 1:
            dslope = dslope.sum(keepdims=True)
        return dx, dslope
    raise ValueError(f"unknown activation {name!r}")


# ----------------------------------------------------------------------------
# Dense layer
# ----------------------------------------------------------------------------


def dense_forward(X, W, b=None):
    """Y = X @ W.T + b.   X: (B, n_in), W: (n_out, n_in), b: (n_out,) or None."""
    Y = X @ W.T
    if b is not None:
        Y += b
    return Y


def dense_backward(dY, X, W, use_bias=True):
    """Gradients of Y = X @ W.T + b given dY = dL/dY of shape (B, n_out).

    dX = dY @ W          (B, n_in)
    dW = dY.T @ X        (n_out, n_in)
    db = sum_b dY[b]     (n_out,), or None when use_bias is False
    """
    dX = dY @ W
    dW = dY.T @ X
    db = dY.sum(axis=0) if use_bias else None
    return dX, dW, db


# ----------------------------------------------------------------------------
# Dropout: counter-based RNG, reproduced bit for bit by the C++ core
# ----------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1


def splitmix64(x):
    """SplitMix64 finaliser on a Python int (exact, arithmetic mod 2^64).

    x += 0x9E3779B97F4A7C15
    z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    return z ^ (z >> 31)
    """
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def splitmix64_array(x):
    """Vectorised splitmix64 on a np.uint64 array (uint64 arithmetic wraps mod 2^64)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_keep_mask(seed, step, layer_index, shape, p):
    """Boolean keep mask of ``shape`` (row-major (batch, width)).

    k = splitmix64(splitmix64(splitmix64(seed) ^ step) ^ layer_index)
    u_i = splitmix64(k ^ i) >> 40         (24-bit integer, i = flat index)
    keep_i = u_i >= floor(p * 2^24)
    So P(keep) = 1 - floor(p 2^24) / 2^24; p = 0 keeps everything.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout p must be in [0, 1], got {p}")
    k = splitmix64(splitmix64(splitmix64(int(seed)) ^ int(step)) ^ int(layer_index))
    i = np.arange(math.prod(shape), dtype=np.uint64)
    u = splitmix64_array(np.uint64(k) ^ i) >> np.uint64(40)
    threshold = np.uint64(math.floor(p * 2**24))
    return (u >= threshold).reshape(shape)


SHUFFLE_STREAM = 0x53485546464C45  # "SHUFFLE" (csrc/network/epoch_order.h)


def epoch_order(n, seed, epoch):
    """The row order of epoch ``epoch`` of a model with ``seed`` (what Sequential.fit uses).

    k = splitmix64(splitmix64(splitmix64(seed) ^ SHUFFLE_STREAM) ^ epoch)
    for i = n-1 down to 1:  j = (splitmix64(k ^ i) * (i + 1)) >> 64;  swap(perm[i], perm[j])
    A Fisher-Yates shuffle of arange(n) over a counter-based stream; written with Python
    integers (exact), independently of the core's C++.
    """
    k = splitmix64(splitmix64(splitmix64(int(seed)) ^ SHUFFLE_STREAM) ^ int(epoch))
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = (splitmix64(k ^ i) * (i + 1)) >> 64
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.int64)


def _dropout_scale(p):
    # p == 1 drops everything; torch returns zeros rather than 0 * inf = nan.
    return 0.0 if p >= 1 else 1.0 / (1.0 - p)


def dropout_forward(x, keep, p):
    """Inverted dropout: y = x * keep / (1 - p)."""
    return np.where(keep, x * _dropout_scale(p), 0).astype(x.dtype)


def dropout_backward(dy, keep, p):
    """dx = dy * keep / (1 - p)."""
    return np.where(keep, dy * _dropout_scale(p), 0).astype(dy.dtype)


# ----------------------------------------------------------------------------
# Losses: each returns (loss, dL/doutputs); mean reduction as in torch
# ----------------------------------------------------------------------------


def _weights(sample_weight, B, dtype):
    """Per-sample weights as a (B,) array of ``dtype`` (ones when None)."""
    if sample_weight is None:
        return np.ones(B, dtype=dtype)
    w = np.asarray(sample_weight, dtype=dtype)
    if w.shape != (B,):
        raise ValueError(f"sample_weight must have shape ({B},), got {w.shape}")
    return w


def softmax_cross_entropy(logits, targets, sample_weight=None):
    """Softmax cross-entropy from logits z of shape (B, C).

    targets: int class indices (B,) or probability / one-hot rows (B, C).
      L = (1/B) sum_b w_b * (-sum_c t_bc log_softmax(z)_bc)
      dL/dz_bc = (softmax(z)_bc * sum_c' t_bc' - t_bc) * w_b / B

    (for index targets t is one-hot, so sum_c t = 1). Note: divided by B, not
    by sum(w) -- unlike torch's per-class ``weight=`` argument.
    """
    B, C = logits.shape
    w = _weights(sample_weight, B, logits.dtype)
    logp = log_softmax(logits, axis=1)
    targets = np.asarray(targets)
    if targets.ndim == 1:
        t = np.zeros_like(logits)
        t[np.arange(B), targets.astype(np.int64)] = 1
    else:
        t = targets.astype(logits.dtype)
    per_sample = -np.sum(t * logp, axis=1)
    loss = np.sum(w * per_sample) / B
    grad = (np.exp(logp) * t.sum(axis=1, keepdims=True) - t) * (w / B)[:, None]
    return loss, grad


def binary_cross_entropy(logits, targets, sample_weight=None):
    """BCE with logits (torch.nn.BCEWithLogitsLoss), mean over all B*C elements.

      l_bc = ``max(z, 0) - z t + log1p(exp(-|z|))``   (= -t log s - (1-t) log(1-s))
      L = (1/(B*C)) sum_bc w_b l_bc
      dL/dz_bc = (sigma(z_bc) - t_bc) * w_b / (B*C)
    """
    t = np.asarray(targets, dtype=logits.dtype).reshape(logits.shape)
    B, n = logits.shape[0], logits.size
    w = _weights(sample_weight, B, logits.dtype).reshape((B,) + (1,) * (logits.ndim - 1))
    elem = np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits)))
    loss = np.sum(w * elem) / n
    grad = (sigmoid(logits) - t) * w / n
    return loss, grad


def mse(outputs, targets, sample_weight=None):
    """Mean squared error over all B*C elements.

      L = (1/(B*C)) sum_bc w_b (y_bc - t_bc)^2
      dL/dy_bc = 2 (y_bc - t_bc) w_b / (B*C)
    """
    t = np.asarray(targets, dtype=outputs.dtype).reshape(outputs.shape)
    B, n = outputs.shape[0], outputs.size
    w = _weights(sample_weight, B, outputs.dtype).reshape((B,) + (1,) * (outputs.ndim - 1))
    diff = outputs - t
    loss = np.sum(w * diff * diff) / n
    grad = 2 * diff * w / n
    return loss, grad


LOSSES = {
    "softmax_cross_entropy": softmax_cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "mse": mse,
}


# ----------------------------------------------------------------------------
# Optimizers: torch.optim formulas step for step (single-tensor code path)
# ----------------------------------------------------------------------------


def state_floor(dtype):
    """The magnitude below which pynn stores Adam's m and SGD's momentum buffer as 0: 2^26
    times the smallest normal number, 2^-100 ~ 7.9e-31 in float32, 2^-996 in float64
    (csrc/kernels/optimizers.h, state_floor). Above it, the update's products of the state
    with 1 - beta1, momentum and lr / (1 - beta1^t) stay normal; below it they would be
    subnormal, which is slow on CPUs, and the state of a weight whose gradient stays 0
    would stick at a few times the smallest subnormal. A flushed m would have moved its
    weight by at most lr / (1 - beta1^t) * 2^-100 / eps in that step (at most 8e-25 with
    lr = 1e-3, eps = 1e-8), a flushed momentum buffer by lr * (1 + momentum) * 2^-100."""
    return np.finfo(dtype).tiny * 2.0**26


class SGDState:
    """Step count t and one momentum buffer per parameter (None until used)."""

    def __init__(self, n_params=0):
        self.t = 0
        self.momentum_buffers = [None] * n_params


def sgd_step(params, grads, state, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """One torch.optim.SGD step (dampening 0), updating ``params`` in place.

      g = grad + wd * p
      buf = g                   (first step)
      buf = momentum * buf + g  (later steps)
      g = g + momentum * buf    (nesterov)   or   g = buf   (plain momentum)
      p = p - lr * g

    with buf of magnitude below state_floor stored as 0 (torch keeps it).
    """
    if len(state.momentum_buffers) != len(params):
        state.momentum_buffers = [None] * len(params)
    state.t += 1
    for i, (p, g) in enumerate(zip(params, grads)):
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            buf = state.momentum_buffers[i]
            if buf is None:
                buf = g.copy()
                state.momentum_buffers[i] = buf
            else:
                buf *= momentum
                buf += g
            buf[np.abs(buf) < state_floor(buf.dtype)] = 0  # as Adam's moments (state_floor)
            g = g + momentum * buf if nesterov else buf
        p -= lr * g


class AdamState:
    """Step count t, first moments m and second moments v (zeros at start)."""

    def __init__(self):
        self.t = 0
        self.m = None
        self.v = None


def _adam_update(params, grads, state, lr, betas, eps, weight_decay, decoupled):
    beta1, beta2 = betas
    if state.m is None:
        state.m = [np.zeros_like(p) for p in params]
        state.v = [np.zeros_like(p) for p in params]
    state.t += 1
    t = state.t
    bias_correction1 = 1 - beta1**t
    bias_correction2_sqrt = (1 - beta2**t) ** 0.5
    step_size = lr / bias_correction1
    for p, g, m, v in zip(params, grads, state.m, state.v):
        if weight_decay != 0:
            if decoupled:
                p *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p
        # torch uses m.lerp_(g, 1 - beta1), which for weights < 0.5 is
        # m + (1 - beta1) * (g - m): same value, same rounding.
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        # pynn's one departure from torch: m below state_floor and v below the smallest
        # normal number are stored as 0 (csrc/kernels/optimizers.h, flush_below_floor and
        # flush_subnormal), so that the moments of a weight whose gradient stays 0 reach 0
        # without passing through subnormal arithmetic.
        m[np.abs(m) < state_floor(m.dtype)] = 0
        v[np.abs(v) < np.finfo(v.dtype).tiny] = 0
        denom = np.sqrt(v) / bias_correction2_sqrt + eps
        p -= step_size * (m / denom)


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """One torch.optim.Adam step (L2 penalty added to the gradient), in place.

      g = grad + wd * p
      m = beta1 m + (1 - beta1) g
      v = beta2 v + (1 - beta2) g^2
      p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    with m of magnitude below state_floor and v below the smallest normal number stored
    as 0 (torch keeps them).
    """
    _adam_update(params, grads, state, lr, betas, eps, weight_decay, decoupled=False)


def adamw_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """One torch.optim.AdamW step: decoupled decay ``p *= 1 - lr * wd``, then Adam."""
    _adam_update(params, grads, state, lr, betas, eps, weight_decay, decoupled=True)


class SGD:
    """SGD hyper-parameters plus state; ``step(params, grads)`` updates in place."""

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        if nesterov and momentum <= 0:
            raise ValueError("nesterov requires momentum > 0")
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.weight_decay = weight_decay
        self.state = SGDState()

    def step(self, params, grads):
        sgd_step(params, grads, self.state, self.lr, self.momentum, self.nesterov, self.weight_decay)


class Adam:
    """Adam hyper-parameters plus state (L2 weight decay, like torch.optim.Adam)."""

    _step = staticmethod(adam_step)

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        self.state = AdamState()

    def step(self, params, grads):
        self._step(params, grads, self.state, self.lr, self.betas, self.eps, self.weight_decay)


class AdamW(Adam):
    """AdamW: decoupled weight decay (default 1e-2, like torch.optim.AdamW)."""

    _step = staticmethod(adamw_step)

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(lr, betas, eps, weight_decay)


# ----------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------


def _n_params(config):
    """How many parameter arrays a layer owns (Dense: W [, b]; PReLU: slope)."""
    name = config["class"]
    if name == "Dense":
        return 2 if config.get("use_bias", True) else 1
    if name == "PReLU":
        return 1
    return 0


class MLP:
    """A stack of layers given by configs and parameter arrays.

    configs: list of layer dicts; params: list of arrays in layer order
    (Dense: W then b if use_bias; PReLU: slope). The arrays are copied, and the
    model computes in their common dtype (inputs are cast to it).
    loss: "softmax_cross_entropy", "binary_cross_entropy" or "mse".
    seed: feeds the dropout masks together with this model's own step counter,
    the number of training-mode forward passes done so far.
    """

    def __init__(self, configs, params, loss, seed=0):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}")
        self.configs = [dict(c) for c in configs]
        self.params = [np.array(p, copy=True) for p in params]
        self.loss = loss
        self.seed = int(seed)
        self.step = 0
        self.dtype = np.result_type(*self.params) if self.params else np.dtype(np.float64)
        # param_slices[l] = (start, stop) into self.params for layer l.
        self.param_slices, start = [], 0
        for c in self.configs:
            stop = start + _n_params(c)
            self.param_slices.append((start, stop))
            start = stop
        if start != len(self.params):
            raise ValueError(f"configs need {start} parameter arrays, got {len(self.params)}")
        for c, (s, _) in zip(self.configs, self.param_slices):
            if c["class"] == "Dense" and self.params[s].shape != (c["n_out"], c["n_in"]):
                raise ValueError(f"Dense W must be {(c['n_out'], c['n_in'])}, got {self.params[s].shape}")

    def _layer_params(self, l):
        s, e = self.param_slices[l]
        return self.params[s:e]

    def _forward(self, X, training):
        """Run all layers; return the output and per-layer (input, output, mask)."""
        h = np.asarray(X, dtype=self.dtype)
        cache = []
        for l, c in enumerate(self.configs):
            x, p, keep = h, self._layer_params(l), None
            name = c["class"]
            if name == "Dense":
                h = dense_forward(x, p[0], p[1] if len(p) > 1 else None)
            elif name == "Dropout":
                if training:
                    keep = dropout_keep_mask(self.seed, self.step, l, x.shape, c["p"])
                    h = dropout_forward(x, keep, c["p"])
                else:
                    h = x
            else:
                h = activation_forward(c, x, p or None)
            cache.append((x, h, keep))
        if training:
            self.step += 1
        return h, cache

    def forward(self, X, training=False):
        """Outputs (B, n_out); training=True applies dropout and advances the step."""
        return self._forward(X, training)[0]

    def loss_and_gradients(self, X, y, sample_weight=None):
        """Training-mode forward + backward -> (loss, grads in param order)."""
        out, cache = self._forward(X, training=True)
        loss, d = LOSSES[self.loss](out, y, sample_weight)
        grads = [None] * len(self.params)
        for l in reversed(range(len(self.configs))):
            c, (x, h, keep) = self.configs[l], cache[l]
            s, e = self.param_slices[l]
            name = c["class"]
            if name == "Dense":
                use_bias = e - s == 2
                d, dW, db = dense_backward(d, x, self.params[s], use_bias)
                grads[s] = dW
                if use_bias:
                    grads[s + 1] = db
            elif name == "Dropout":
                if keep is not None:
                    d = dropout_backward(d, keep, c["p"])
            elif name == "PReLU":
                d, grads[s] = activation_backward(c, d, x, h, self.params[s:e])
            else:
                d = activation_backward(c, d, x, h)
        return loss, grads

    def train_step(self, X, y, optimizer, sample_weight=None):
        """One gradient step with ``optimizer`` (SGD / Adam / AdamW); returns the loss."""
        loss, grads = self.loss_and_gradients(X, y, sample_weight)
        optimizer.step(self.params, grads)
        return loss

    def fit_epoch(self, X, y, batch_size, optimizer, perm):
        """One epoch over batches ``perm[i:i + batch_size]`` in order.

        Returns the mean of the batch losses weighted by batch size (the last
        batch may be smaller), i.e. the average per-sample loss of the epoch.
        """
        X = np.asarray(X, dtype=self.dtype)
        y = np.asarray(y)
        perm = np.asarray(perm)
        total = 0.0
        for start in range(0, len(perm), batch_size):
            idx = perm[start:start + batch_size]
            total += float(self.train_step(X[idx], y[idx], optimizer)) * len(idx)
        return total / len(perm)
