"""scikit-learn estimators trained by pynn's core: `pynn.MLPClassifier`, `pynn.MLPRegressor`.

They take scikit-learn's `MLPClassifier`/`MLPRegressor` parameters with the same names
and meanings where the two overlap, so they drop into Pipeline, GridSearchCV, clone,
cross_val_score and pickle; they add `dropout`, `init`, `dtype`, `class_weight` and
`n_threads`. Needs scikit-learn (the `sklearn` extra: pip install "pynn[sklearn]").

How scikit-learn's definitions map onto pynn's (so the same hyperparameters mean the
same thing; the tests and benchmarks/bench_sklearn.py compare the two):

* losses: scikit-learn minimizes log-loss (softmax outputs; one logistic output for two
  classes; one logistic output per label for multi-label y, summed over labels) and
  0.5 * squared error (summed over outputs) for regression, each averaged over the
  batch. pynn's core averages BCE and MSE over outputs too and its MSE has no 0.5, so
  its gradient is k times scikit-learn's, k = 1 (softmax), 1/C (C logistic outputs),
  2/C (C regression outputs). The optimizer undoes k exactly: SGD gets lr / k, Adam
  gets eps * k (Adam is invariant to the gradient's scale otherwise), and every
  reported loss (loss_, loss_curve_) is divided by k: scikit-learn's numbers.
* alpha (L2 penalty): scikit-learn adds alpha * W / batch_size to the mean gradient,
  i.e. minimizes loss + alpha/(2 batch_size) ||W||^2. Here that is the optimizer's
  weight_decay = k * alpha / batch_size (an L2 term added to the gradient, torch
  style). Unlike scikit-learn it also decays biases (and PReLU slopes): the core has
  one flat parameter buffer. loss_curve_ includes the penalty, computed with the
  weights at the end of each epoch.
* sample_weight (and class_weight, multiplied in): each row's loss term is weighted in
  the batch mean, sum_i w_i l_i / B (as torch's losses; scikit-learn divides by sum w_i).
* solver: 'sgd' (momentum, nesterovs_momentum; a constant learning rate: the
  learning_rate/power_t schedules are not supported, use pynn.LearningRateScheduler
  with Sequential) and 'adam' (beta_1, beta_2, epsilon); 'lbfgs' is not supported.
* tol / n_iter_no_change / early_stopping / validation_fraction: scikit-learn's rules:
  stop when the training loss (or, with early_stopping, the validation score:
  accuracy or R^2) has not improved by tol for more than n_iter_no_change epochs; with
  early_stopping the best epoch's parameters are restored. The validation split is
  stratified for single-output classification and drawn from random_state.
* partial_fit runs one epoch and, unlike scikit-learn, keeps the optimizer's state
  (Adam moments, momentum) across calls: a sequence of partial_fit calls is one run.
  warm_start=True makes fit continue from the current weights with a new optimizer
  state, as scikit-learn does.
* A diverging run (non-finite loss) stops with a RuntimeWarning and keeps the
  parameters of its last good epoch (pynn.TerminateOnNaN).

May import: pynn.nn, pynn.training, the base; scikit-learn (an optional extra: importing this module needs it)."""
from __future__ import annotations

import contextlib
import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.utils import check_random_state
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("pynn.MLPClassifier and pynn.MLPRegressor need scikit-learn >= 1.6: "
                      "pip install 'pynn[sklearn]' (or pip install 'scikit-learn>=1.6')") from exc
from . import _checks
from .training.callbacks import Callback
from .datasets import train_test_split_indices
from .nn.layers import LAYERS, Dense, Dropout, Sigmoid
from .nn.optimizers import SGD, Adam
from .nn.probabilities import log_sigmoid, log_softmax_rows, sigmoid, softmax_rows
from .nn.sequential import Sequential
from .nn.threads import _threads_for_this_call

__all__ = ["MLPClassifier", "MLPRegressor"]

# pynn's activations by their snake_case names, and scikit-learn's 'logistic' for 'sigmoid'.
ACTIVATIONS = {"logistic": Sigmoid, **{kind.name: kind.cls for kind in LAYERS.values() if kind.unit}}
SOLVERS = ("sgd", "adam")


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, checks, the network,
    the optimizer and the epoch loop (scikit-learn's stopping rules as a pynn Callback)."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, dropout=0.0, init="glorot_uniform", dtype="float32", n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.init = init
        self.dtype = dtype
        self.n_threads = n_threads

    # ------------------------------------------------------------------ parameters
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = [sizes]
        if not isinstance(sizes, (list, tuple, np.ndarray)):
            raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints, got {_checks.describe(sizes)}")
        return [_checks.positive_int(s, f"hidden_layer_sizes[{i}]") for i, s in enumerate(sizes)]

    def _per_layer(self, value, name: str, n_hidden: int) -> list:
        if isinstance(value, (list, tuple)):
            if len(value) != n_hidden:
                raise ValueError(f"{name} has {len(value)} entries but there are {n_hidden} hidden layers; "
                                 f"give one value or one per hidden layer")
            return list(value)
        return [value] * n_hidden

    def _check_params(self) -> None:
        """Validate every hyperparameter (in fit, as scikit-learn wants: not in __init__)."""
        c = _checks
        self._sizes = self._hidden_sizes()
        acts = self._per_layer(self.activation, "activation", len(self._sizes))
        for a in acts:
            if not isinstance(a, str) or a not in ACTIVATIONS:
                raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)} (or a list with one per "
                                 f"hidden layer), got {a!r}")
        self._acts = acts
        drops = self._per_layer(self.dropout, "dropout", len(self._sizes))
        self._drops = [c.real(p, "dropout", low=0.0, high=1.0, high_open=True) for p in drops]
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be 'sgd' or 'adam' (pynn has no 'lbfgs'), got {self.solver!r}")
        c.real(self.alpha, "alpha", low=0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            c.positive_int(self.batch_size, "batch_size")
        c.real(self.learning_rate_init, "learning_rate_init", low=0.0, low_open=True)
        c.positive_int(self.max_iter, "max_iter")
        c.real(self.tol, "tol", low=0.0)
        c.positive_int(self.n_iter_no_change, "n_iter_no_change")
        c.real(self.momentum, "momentum", low=0.0, high=1.0)
        c.real(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_open=True, high_open=True)
        c.real(self.beta_1, "beta_1", low=0.0, high=1.0, high_open=True)
        c.real(self.beta_2, "beta_2", low=0.0, high=1.0, high_open=True)
        c.real(self.epsilon, "epsilon", low=0.0, low_open=True)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {c.describe(getattr(self, name))}")
        if not isinstance(self.verbose, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"verbose must be a bool or an int, got {c.describe(self.verbose)}")
        Dense(1, 1, init=self.init)  # the init name check, with its message
        c.dtype_name(self.dtype)
        if self.n_threads is not None:
            c.positive_int(self.n_threads, "n_threads", maximum=4096)

    def _seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            if rs < 0:
                raise ValueError(f"random_state must be a non-negative int, a RandomState or None, got {rs}")
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    @contextlib.contextmanager
    def _threads(self):
        """Run with n_threads core threads if given: an explicit n_threads wins over
        pynn.set_num_threads, a threadpoolctl limit and OMP_NUM_THREADS, for this call only."""
        if self.n_threads is None:
            yield
            return
        with _threads_for_this_call(self.n_threads):
            yield

    # ------------------------------------------------------------------ the network
    def _build_model(self, n_features: int, n_outputs: int, loss: str, seed: int) -> Sequential:
        layers, width = [], n_features
        for size, act, p in zip(self._sizes, self._acts, self._drops):
            layers.append(Dense(width, size, init=self.init))
            layers.append(ACTIVATIONS[act]())
            if p > 0:
                layers.append(Dropout(p))
            width = size
        layers.append(Dense(width, n_outputs, init=self.init))
        return Sequential(layers, loss=loss, dtype=_checks.dtype_name(self.dtype), seed=seed)

    def _optimizer_for(self, batch_size: int, existing=None):
        """The pynn optimizer with scikit-learn's hyperparameters, corrected by the gradient
        scale k (see the module docstring). `existing` is updated in place (partial_fit:
        the core keeps its state only for the same optimizer object)."""
        k = self._grad_scale()
        wd = k * float(self.alpha) / (batch_size * self._weight_mean)  # scikit-learn: alpha / sum of batch weights
        if self.solver == "sgd":
            nesterov = bool(self.nesterovs_momentum) and self.momentum > 0
            settings = dict(lr=self.learning_rate_init / k, momentum=float(self.momentum), nesterov=nesterov,
                            weight_decay=wd)
            if isinstance(existing, SGD):
                existing.__dict__.update(settings)
                return existing
            return SGD(**settings)
        settings = dict(lr=float(self.learning_rate_init), betas=(float(self.beta_1), float(self.beta_2)),
                        eps=float(self.epsilon) * k, weight_decay=wd)
        if type(existing) is Adam:
            existing.__dict__.update(settings)
            return existing
        return Adam(**settings)

    def _grad_scale(self) -> float:
        loss, c = self.model_.loss, self.model_.n_outputs
        return 1.0 if loss == "softmax_cross_entropy" else (1.0 / c if loss == "binary_cross_entropy" else 2.0 / c)

    def _penalty(self, batch_size: int, weights=None, scratch=None) -> float:
        """alpha / (2 batch_size) * sum ||W||^2 over the Dense weight matrices, each
        ||W||^2 a float64 sum of squares. `weights` (the views of _weights()) and `scratch`
        (one flat float64 array per matrix) let fit make both once instead of per epoch.

        einsum, not np.dot: NumPy's BLAS runs a dot of over 10,000 elements on its own
        thread pool, whose threads then spin ~0.1 s -- on the cores pynn's next epoch needs
        (a 2-core machine lost a core to them after every epoch of the 60,000 x 784 fit)."""
        if not self.alpha:
            return 0.0
        weights = self._weights() if weights is None else weights
        sq = 0.0
        for i, w in enumerate(weights):
            buf = np.empty(w.size) if scratch is None else scratch[i]
            np.copyto(buf, w.reshape(-1))
            sq += float(np.einsum("i,i->", buf, buf))
        return 0.5 * float(self.alpha) * sq / batch_size

    def _weights(self):
        return [p for name, p in self.model_.named_parameters() if name.endswith(".W")]

    # ------------------------------------------------------------------ fitted attributes
    @property
    def coefs_(self) -> list:
        """Weight matrices as scikit-learn shapes them, (n_in, n_out): transposed views of
        pynn's W (n_out, n_in); writing into them changes the model."""
        check_is_fitted(self)
        return [w.T for w in self._weights()]

    @coefs_.setter
    def coefs_(self, values) -> None:
        self._assign(values, [w.T for w in self._weights()], "coefs_")

    @property
    def intercepts_(self) -> list:
        """Bias vectors (n_out,): views of pynn's b."""
        check_is_fitted(self)
        return [p for name, p in self.model_.named_parameters() if name.endswith(".b")]

    @intercepts_.setter
    def intercepts_(self, values) -> None:
        self._assign(values, self.intercepts_, "intercepts_")

    def _assign(self, values, views, name: str) -> None:
        """est.coefs_ = [...] copies into the model (shapes checked first, all or nothing)."""
        check_is_fitted(self)
        values = list(values)
        if len(values) != len(views):
            raise ValueError(f"{name} needs {len(views)} arrays, got {len(values)}")
        arrays = [_checks.numeric_array(v, f"{name}[{i}]") for i, v in enumerate(values)]
        for i, (a, v) in enumerate(zip(arrays, views)):
            if a.shape != v.shape:
                raise ValueError(f"{name}[{i}] must have shape {v.shape}, got {a.shape}")
        for a, v in zip(arrays, views):
            v[...] = a

    @property
    def n_layers_(self) -> int:
        check_is_fitted(self)
        return sum(isinstance(layer, Dense) for layer in self.model_.layers) + 1

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    # ------------------------------------------------------------------ training
    def _fit(self, X, y, sample_weight, incremental: bool, classes=None):
        self._check_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not (hasattr(self, "model_") and (incremental or self.warm_start))
        if first:  # a fit from scratch that fails leaves the estimator unfitted, not half old, half new
            self.__dict__.pop("model_", None)
        X, y = validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32), multi_output=True,
                             y_numeric=not self._is_classifier)
        y_enc, loss, n_outputs = self._encode_targets(y, first, classes)
        weights = self._sample_weights(X, y, sample_weight, incremental)
        if not first and (self.model_.n_outputs != n_outputs or self.model_.n_inputs != X.shape[1]):
            raise ValueError(f"warm_start needs the same number of features ({self.model_.n_inputs}) and outputs "
                             f"({self.model_.n_outputs}) as the previous fit; got {X.shape[1]} and {n_outputs}")
        seed = self._seed() if first else self.model_.seed
        early = self.early_stopping and not incremental
        validation = None
        if early:  # split before anything changes, so a too small validation set leaves the estimator as it was
            X, y_enc, weights, validation = self._split(X, y, y_enc, weights, seed)
        if first:
            self.model_ = self._build_model(X.shape[1], n_outputs, loss, seed)
            self.n_outputs_ = n_outputs
            self.out_activation_ = {"softmax_cross_entropy": "softmax", "binary_cross_entropy": "logistic",
                                    "mse": "identity"}[loss]
            self.loss_curve_, self.n_iter_, self.t_ = [], 0, 0
            self.best_loss_, self.validation_scores_, self.best_validation_score_ = np.inf, None, None
            self._no_improvement_count = 0
        if early:
            if self.validation_scores_ is None or not self.warm_start:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
            self.best_loss_ = None
        elif self.best_loss_ is None:
            self.best_loss_ = np.inf
        n = X.shape[0]
        batch_size = min(200, n) if isinstance(self.batch_size, str) else self.batch_size
        if batch_size > n:
            warnings.warn(f"batch_size={batch_size} is larger than the {n} training samples; using {n}", UserWarning)
        batch_size = max(1, min(batch_size, n))
        keep_state = incremental and self.model_.optimizer is not None
        optimizer = self._optimizer_for(batch_size, self.model_.optimizer if keep_state else None)
        rule = _SklearnStopping(self, batch_size, validation, early, incremental)
        with self._threads():
            self.model_.fit(X, y_enc, epochs=1 if incremental else int(self.max_iter), batch_size=batch_size,
                            optimizer=optimizer, shuffle=bool(self.shuffle), verbose=0, sample_weight=weights,
                            callbacks=[rule])
        if early and rule.best_params is not None:
            rule.flat_params()[...] = rule.best_params
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        return self

    def _split(self, X, y, y_enc, weights, seed: int):
        stratify = y_enc if self._is_classifier and np.ndim(y_enc) == 1 else None
        if stratify is None and self._is_classifier and y_enc.shape[1] == 1:
            stratify = y_enc[:, 0]
        train, val = train_test_split_indices(X.shape[0], float(self.validation_fraction),
                                              seed=[seed, 3], stratify=stratify)
        if len(val) < 2 or len(train) < 1:
            raise ValueError(f"The validation set is too small ({len(val)} samples): increase "
                             f"validation_fraction={self.validation_fraction} or the size of the data set")
        w_val = None if weights is None else weights[val]
        y_val = y[val]
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = y_val[:, 0]  # a column vector of labels or values (fit warned about it)
        validation = (np.ascontiguousarray(X[val]), y_val, w_val)
        return np.ascontiguousarray(X[train]), y_enc[train], None if weights is None else weights[train], validation

    def _sample_weights(self, X, y, sample_weight, incremental):
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        class_weight = getattr(self, "class_weight", None)
        if class_weight is not None:
            if getattr(self, "_multilabel", False):
                raise ValueError("class_weight is not supported for multi-label y")
            if incremental and isinstance(class_weight, str):
                raise ValueError(f"class_weight={class_weight!r} needs the whole y; partial_fit takes a dict")
            cw = compute_sample_weight(class_weight, y)
            weights = cw if weights is None else weights * cw
        if weights is not None and not np.isfinite(weights).all():
            raise ValueError("sample_weight must be finite")
        if weights is not None and (weights < 0).any():
            raise ValueError("sample_weight must be non-negative")
        self._weight_mean = 1.0
        if weights is not None:
            # The core weights the batch mean as sum_i w_i l_i / B; scaled to mean 1, the
            # weights give scikit-learn's sum_i w_i l_i / sum_i w_i (exactly for a full
            # batch, in expectation for mini-batches), and scaling them all changes nothing.
            self._weight_mean = float(weights.mean())
            if not self._weight_mean > 0:
                raise ValueError("sample_weight (times class_weight) must have a positive sum")
            weights = weights / self._weight_mean
        return weights

    # ------------------------------------------------------------------ inference helpers
    def _outputs(self, X) -> np.ndarray:
        """Raw network outputs (logits or values) of the validated X, a fresh array:
        float32 when both the model and X are float32 (the core's own output, no copy),
        float64 otherwise. scikit-learn's estimators return float32 for float32 inputs
        and float64 for float64 inputs (check_regressor_multioutput demands float64),
        and a float64 model's outputs keep their precision."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        with self._threads():
            z = self.model_.forward(X)
        return z.astype(np.result_type(z.dtype, X.dtype), copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class _SklearnStopping(Callback):
    """scikit-learn's per-epoch bookkeeping and stopping rule, on pynn's epoch hooks."""

    def __init__(self, est, batch_size, validation, early, incremental):
        self.est, self.batch_size, self.validation = est, batch_size, validation
        self.early, self.incremental = early, incremental
        self.best_params = None
        # scikit-learn reports 0.5 * the mean squared error over all outputs (its gradient is
        # of the sum over outputs: k = 2/C) and log-losses summed over outputs (k = 1/C).
        self.loss_scale = 2.0 if est.model_.loss == "mse" else est._grad_scale()
        # The L2 term of each epoch's loss reads the same matrices: views and scratch made once.
        self.weights = est._weights()
        self.scratch = [np.empty(w.size) for w in self.weights]

    def flat_params(self):
        return self.est.model_.state().params

    def on_epoch_end(self, epoch, logs=None):
        est = self.est
        loss = logs["loss"] / self.loss_scale + est._penalty(self.batch_size * est._weight_mean, self.weights,
                                                             self.scratch)
        est.n_iter_ += 1
        est.t_ += self.params.get("samples", 0)
        est.loss_curve_.append(loss)
        est.loss_ = loss
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}", flush=True)
        if self.incremental:
            return
        if self.early:
            Xv, yv, wv = self.validation
            score = est._score_outputs(est.model_.forward(Xv).astype(np.float64), yv, wv)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}", flush=True)
            est._no_improvement_count = (est._no_improvement_count + 1
                                         if score < est.best_validation_score_ + est.tol else 0)
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_params = self.flat_params().copy()
        else:
            est._no_improvement_count = est._no_improvement_count + 1 if loss > est.best_loss_ - est.tol else 0
            est.best_loss_ = min(est.best_loss_, loss)
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.early else "Training loss"
            if est.verbose:
                print(f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                      f"consecutive epochs. Stopping.", flush=True)
            self.model.stop_training = True
        elif epoch + 1 == self.params.get("epochs"):
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                          f"optimization hasn't converged yet.", ConvergenceWarning, stacklevel=5)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier with scikit-learn's interface, trained by pynn.

    Minimizes the log-loss: softmax outputs for more than two classes, one logistic
    output for two (as scikit-learn), one logistic output per label for multi-label y
    (a 0/1 indicator matrix). Parameters as sklearn.neural_network.MLPClassifier (see the
    module docstring for how each maps onto pynn), plus:

    dropout: float or one per hidden layer, the drop probability after each hidden
    activation (training only). init: the weight initializer of every Dense layer,
    'glorot_uniform' by default as scikit-learn (which narrows it for 'logistic'), or
    'auto' (pynn's default: He before ReLU-like units, Glorot otherwise), 'he_normal', ...
    dtype: 'float32' (default) or 'float64', the dtype of the network's parameters and
    arithmetic. predict_proba and predict_log_proba return float32 when the model and X
    are float32 (as scikit-learn's estimators do for float32 inputs), float64 otherwise;
    predict returns labels from ``classes_`` (their own dtype).
    class_weight: None, 'balanced' or {class: weight}, multiplied into sample_weight.
    n_threads: core threads during fit/predict (None: pynn's current setting).
    activation may also be a list with one name per hidden layer; names: identity,
    logistic (= sigmoid), tanh, relu, leaky_relu, elu, gelu, silu, softplus, prelu.

    Fitted attributes: ``classes_``, ``coefs_`` (list of (n_in, n_out) arrays),
    ``intercepts_``, ``loss_``, ``best_loss_``, ``loss_curve_``, ``validation_scores_``,
    ``best_validation_score_``, ``n_iter_``, ``t_``, ``n_features_in_``, ``n_layers_``,
    ``n_outputs_``, ``out_activation_``, and ``model_`` (the pynn.Sequential, e.g. for
    ``model_.save(path)``)."""

    _is_classifier = True

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, dropout=0.0, init="glorot_uniform", dtype="float32", class_weight=None,
                 n_threads=None):
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate_init=learning_rate_init, max_iter=max_iter, shuffle=shuffle,
                         random_state=random_state, tol=tol, verbose=verbose, warm_start=warm_start,
                         momentum=momentum, nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         n_iter_no_change=n_iter_no_change, dropout=dropout, init=init, dtype=dtype,
                         n_threads=n_threads)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None):
        """Train from scratch (or from the current weights with warm_start=True)."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y). The first call needs `classes` (all labels that will
        ever appear; not needed for multi-label y); the optimizer state carries over."""
        if not hasattr(self, "model_") and classes is None and type_of_target(y) != "multilabel-indicator":
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _encode_targets(self, y, first: bool, classes):
        kind = type_of_target(y, input_name="y")
        if kind == "multilabel-indicator":
            y = np.asarray(y)
            if first:
                self.classes_ = np.arange(y.shape[1])
                self._multilabel = True
            elif not self._multilabel or y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels, the model was fitted on "
                                 f"{'single-label y' if not self._multilabel else len(self.classes_)}")
            return y.astype(np.float64), "binary_cross_entropy", y.shape[1]
        if np.ndim(y) == 2:
            if kind == "multiclass-multioutput":
                raise ValueError("multiclass-multioutput y is not supported (multi-label y must be a 0/1 "
                                 "indicator matrix)")
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if len(labels) < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; got 1 class "
                                 f"({labels[0]!r})" if len(labels) else "y is empty")
            self.classes_ = labels
            self._multilabel = False
        elif self._multilabel:
            raise ValueError("the model was fitted on multi-label y; y must be a 0/1 indicator matrix")
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={list(np.unique(classes))} is not the same as on the first call to "
                             f"partial_fit, which was {list(self.classes_)}")
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"y holds labels {unseen.tolist()[:5]} not in classes_ {self.classes_.tolist()[:10]}"
                             + ("; warm_start can only be used where y has the same classes as in the previous "
                                "call to fit" if self.warm_start else ""))
        index = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            return index.astype(np.float64).reshape(-1, 1), "binary_cross_entropy", 1
        return index.astype(np.int32), "softmax_cross_entropy", len(self.classes_)

    def _decode(self, z: np.ndarray) -> np.ndarray:
        if self._multilabel:
            return (z > 0).astype(np.int64)
        if z.shape[1] == 1:
            return self.classes_[(z[:, 0] > 0).astype(np.intp)]
        return self.classes_[z.argmax(axis=1)]

    def _score_outputs(self, z, y, sample_weight) -> float:
        return float(accuracy_score(y, self._decode(z), sample_weight=sample_weight))

    def predict(self, X):
        """Class labels (from ``classes_``), or a 0/1 indicator matrix for multi-label y."""
        return self._decode(self._outputs(X))

    def predict_log_proba(self, X):
        """log predict_proba(X), computed from the logits (finite where the probability
        underflows to 0), in predict_proba's dtype."""
        return self._probabilities(X, log_sigmoid, log_softmax_rows)

    def predict_proba(self, X):
        """(n_samples, n_classes) probabilities in the order of ``classes_`` (columns of
        the labels for multi-label y, each its own sigmoid): float32 when the model
        (dtype='float32', the default) and X are float32, float64 otherwise."""
        return self._probabilities(X, sigmoid, softmax_rows)

    def _probabilities(self, X, of_logit, of_rows):
        """of_logit (one logistic output per label, or both classes of a binary problem:
        the logit of the first class is -z) or of_rows (softmax outputs) of the logits."""
        z = self._outputs(X)
        if self._multilabel:
            return of_logit(z)
        if z.shape[1] == 1:
            return np.hstack([of_logit(-z), of_logit(z)])
        return of_rows(z)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor with scikit-learn's interface, trained by pynn.

    Minimizes the squared error with identity outputs, one per target (y may be 2-D:
    multi-output regression). Parameters and fitted attributes as MLPClassifier
    (without class_weight and ``classes_``); predict returns float32 when the model
    (dtype='float32', the default) and X are float32, float64 otherwise, 1-D for one
    output."""

    _is_classifier = False

    def fit(self, X, y, sample_weight=None):
        """Train from scratch (or from the current weights with warm_start=True)."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y); the optimizer state carries over between calls."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _encode_targets(self, y, first: bool, classes):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        return targets, "mse", targets.shape[1]

    def _score_outputs(self, z, y, sample_weight) -> float:
        return float(r2_score(y, z[:, 0] if z.shape[1] == 1 else z, sample_weight=sample_weight))

    def predict(self, X):
        """Predicted values (n_samples,) for one output, else (n_samples, n_outputs):
        float32 when the model and X are float32, float64 otherwise."""
        z = self._outputs(X)
        return z[:, 0] if z.shape[1] == 1 else z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
