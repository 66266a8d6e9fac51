"""PB2's explore step: a GP bandit that picks the next hyperparameters within bounds.

Population Based Bandits (Parker-Holder et al., 2020) replaces PBT's random perturbation with
a Gaussian-process model of *how fast the reward improves* as a function of the time, the
reward the weights start from, and the hyperparameters. Exploring then means maximising an
upper confidence bound of that improvement rate over the hyperparameter box, with the time and
starting reward fixed to those of the cloned weights.

Everything here is numpy + scipy, written for this package (see docs/architecture.md, "PB2"):

* :class:`ImprovementData` turns the population's reported (time, reward, hyperparameters)
  into training rows: the reward change per unit of time between consecutive reports of the
  same trial under the same hyperparameters.
* :class:`TimeVaryingGP` is GP regression with a time-varying squared-exponential kernel
  (Bogunovic et al., 2016: similarity decays as ``(1 - epsilon) ** (|t - t'| / 2)``), its four
  hyperparameters fitted by maximum marginal likelihood with analytic gradients.
* :func:`select_hyperparameters` fits the model and maximises the UCB acquisition, lowering
  the confidence bonus where other trials were already sent this round, so one round does not
  send every trial to the same point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

try:
    from scipy.linalg import cho_factor, cho_solve, solve_triangular
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits
except ImportError as error:  # pragma: no cover - exercised only without scipy
    raise ImportError(
        "PB2 needs scipy for its Gaussian-process bandit: pip install 'dasktune[pb2]'"
    ) from error

MAX_ROWS = 200
"""Training rows kept (the most recent): the GP costs O(rows^3) per fit; the time-varying
kernel already gives older rows little weight."""

EPSILON_MAX = 0.5
"""Upper bound of the kernel's forgetting rate (at 0.5 a row one time unit old keeps ~71 %
of its similarity)."""

_JITTER = 1e-8


@dataclass
class ImprovementData:
    """The population's history, as PB2's training data.

    Each report is ``(trial_id, time, reward, hyperparameter values)``. A training row is made
    from two consecutive reports of one trial with the same hyperparameters and a later time:
    features ``(time, reward before, *hyperparameters)``, target ``(reward change) / (time
    change)``.
    """

    names: tuple[str, ...]
    _last: dict[str, tuple[float, float, tuple[float, ...]]] = field(default_factory=dict)
    rows: list[tuple[float, ...]] = field(default_factory=list)
    targets: list[float] = field(default_factory=list)

    def report(self, trial_id: str, time: float, reward: float, values: Sequence[float]) -> None:
        """Record one result of ``trial_id`` (``values`` in the order of ``names``)."""
        values = tuple(float(v) for v in values)
        previous = self._last.get(trial_id)
        if previous is not None:
            last_time, last_reward, last_values = previous
            if values == last_values and time > last_time:
                self.rows.append((float(time), float(last_reward), *values))
                self.targets.append((float(reward) - last_reward) / (time - last_time))
        self._last[trial_id] = (float(time), float(reward), values)

    def restart(self, trial_id: str, time: float, reward: float, values: Sequence[float]) -> None:
        """``trial_id`` now continues from cloned weights at ``time``/``reward`` with new
        ``values``: its next report measures the new hyperparameters from there."""
        self._last[trial_id] = (float(time), float(reward), tuple(float(v) for v in values))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The most recent :data:`MAX_ROWS` rows as ``(X, y)``."""
        rows = self.rows[-MAX_ROWS:]
        targets = self.targets[-MAX_ROWS:]
        if not rows:
            return np.empty((0, 2 + len(self.names))), np.empty(0)
        return np.asarray(rows, dtype=float), np.asarray(targets, dtype=float)


class TimeVaryingGP:
    """GP regression on rows whose first column is time.

    ``k(a, b) = variance * exp(-|a' - b'|^2 / (2 lengthscale^2))
    * (1 - epsilon) ** (|t_a - t_b| / 2)``, where ``a'`` is a row without its time.
    Noise is a fitted diagonal term.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        self.X = np.asarray(X, dtype=float)
        self.y = np.asarray(y, dtype=float)
        # log variance, log lengthscale, logit of epsilon / EPSILON_MAX, log noise
        self.theta = np.array([0.0, math.log(0.5), _logit(0.1 / EPSILON_MAX), math.log(0.1)])
        self._factor: tuple[np.ndarray, bool] | None = None
        self._alpha: np.ndarray | None = None

    @property
    def params(self) -> dict[str, float]:
        """The kernel's hyperparameters in their natural units."""
        log_var, log_len, u, log_noise = self.theta
        return {
            "variance": math.exp(log_var),
            "lengthscale": math.exp(log_len),
            "epsilon": EPSILON_MAX * _sigmoid(u),
            "noise": math.exp(log_noise),
        }

    def _parts(self, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Squared feature distances, time distances and the full cross kernel."""
        p = self.params
        diff = A[:, None, 1:] - B[None, :, 1:]
        d2 = np.einsum("ijk,ijk->ij", diff, diff)
        dt = np.abs(A[:, None, 0] - B[None, :, 0])
        k = p["variance"] * np.exp(-d2 / (2 * p["lengthscale"] ** 2))
        k *= (1 - p["epsilon"]) ** (dt / 2)
        return d2, dt, k

    def _neg_log_likelihood(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        self.theta = theta
        p = self.params
        n = len(self.y)
        d2, dt, k_signal = self._parts(self.X, self.X)
        K = k_signal + (p["noise"] + _JITTER) * np.eye(n)
        try:
            factor = cho_factor(K, lower=True)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve(factor, self.y)
        log_det = 2 * np.sum(np.log(np.diag(factor[0])))
        nll = 0.5 * self.y @ alpha + 0.5 * log_det + 0.5 * n * math.log(2 * math.pi)
        # d(nll)/d(theta_i) = -0.5 tr((alpha alpha^T - K^-1) dK/dtheta_i)
        inner = np.outer(alpha, alpha) - cho_solve(factor, np.eye(n))
        eps = p["epsilon"]
        d_var = k_signal
        d_len = k_signal * d2 / p["lengthscale"] ** 2
        # epsilon = EPSILON_MAX * sigmoid(u): d epsilon/du = epsilon * (1 - epsilon / EPSILON_MAX)
        d_eps = k_signal * (-(dt / 2) / (1 - eps)) * eps * (1 - eps / EPSILON_MAX)
        d_noise = p["noise"] * np.eye(n)
        grads = np.array([-0.5 * np.sum(inner * d) for d in (d_var, d_len, d_eps, d_noise)])
        return float(nll), grads

    def fit(self, restarts: int = 2, seed: int = 0) -> TimeVaryingGP:
        """Fit the hyperparameters by maximum marginal likelihood (L-BFGS-B, a few starts)."""
        rng = np.random.default_rng(seed)
        bounds = [(-6.0, 4.0), (math.log(0.01), math.log(10.0)), (-8.0, 8.0), (-9.0, 1.0)]
        starts = [self.theta.copy()] + [
            np.array([rng.uniform(lo, hi) for lo, hi in bounds]) for _ in range(restarts)
        ]
        best: tuple[float, np.ndarray] | None = None
        for start in starts:
            res = minimize(
                self._neg_log_likelihood, start, jac=True, method="L-BFGS-B", bounds=bounds
            )
            if np.isfinite(res.fun) and (best is None or res.fun < best[0]):
                best = (float(res.fun), res.x)
        if best is not None:
            self.theta = best[1]
        self.condition_on(self.X)
        return self

    def condition_on(self, X: np.ndarray) -> None:
        """Factor the kernel over ``X`` (the training rows, or more) for :meth:`predict`."""
        p = self.params
        _, _, k = self._parts(X, X)
        K = k + (p["noise"] + _JITTER) * np.eye(len(X))
        self._support = X
        self._factor = cho_factor(K, lower=True)
        if len(X) == len(self.y):
            self._alpha = cho_solve(self._factor, self.y)

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean (from the training rows) and variance (from the support rows)."""
        assert self._factor is not None, "fit() first"
        _, _, k_star = self._parts(np.atleast_2d(Xs), self._support)
        mean = k_star[:, : len(self.y)] @ self._alpha if self._alpha is not None else 0.0
        v = solve_triangular(self._factor[0], k_star.T, lower=True)
        var = self.params["variance"] - np.sum(v * v, axis=0)
        return np.asarray(mean), np.maximum(var, 1e-12)


def select_hyperparameters(
    data: ImprovementData,
    bounds: Mapping[str, tuple[float, float]],
    time: float,
    reward: float,
    pending: Sequence[Sequence[float]] = (),
    seed: int | None = None,
    warm_start: np.ndarray | None = None,
) -> tuple[dict[str, float] | None, np.ndarray | None]:
    """:func:`_select` with the BLAS library held to one thread.

    The matrices are at most 200 x 200, too small for threads to pay off, and this runs on the
    driver next to the run's own threads: OpenBLAS's spinning threads made one choice up to 6x
    slower on a busy 2-core machine (measured: 200 trials' explores 19 s vs 3.1 s).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _select(data, bounds, time, reward, pending, seed, warm_start)


def _select(
    data: ImprovementData,
    bounds: Mapping[str, tuple[float, float]],
    time: float,
    reward: float,
    pending: Sequence[Sequence[float]] = (),
    seed: int | None = None,
    warm_start: np.ndarray | None = None,
) -> tuple[dict[str, float] | None, np.ndarray | None]:
    """The hyperparameters (within ``bounds``) that maximise the UCB of the improvement rate
    for weights at ``time`` with ``reward`` (None when there is no training row yet), and the
    GP's fitted kernel parameters, to pass back as ``warm_start`` next time.

    ``pending`` are hyperparameter vectors other trials were given this round: the model's
    uncertainty is computed as if they were observed, so the bonus is lower next to them.
    With ``warm_start`` the fit starts from those parameters only (the data changed little
    since): about a third of the cost of a fit from three starts.
    """
    X_raw, y_raw = data.arrays()
    if len(y_raw) == 0:
        return None, warm_start
    names = list(bounds)
    lows = np.array([bounds[n][0] for n in names], dtype=float)
    highs = np.array([bounds[n][1] for n in names], dtype=float)
    state_raw = X_raw[:, :2]
    state_low = np.minimum(state_raw.min(axis=0), [time, reward])
    state_span = np.maximum(state_raw.max(axis=0), [time, reward]) - state_low
    state_span[state_span == 0] = 1.0

    def scale(state: np.ndarray, hyper: np.ndarray) -> np.ndarray:
        return np.hstack([(state - state_low) / state_span, (hyper - lows) / (highs - lows)])

    X = scale(X_raw[:, :2], X_raw[:, 2:])
    spread = y_raw.std()
    y = np.clip((y_raw - y_raw.mean()) / (spread if spread > 0 else 1.0), -3, 3)
    rng = np.random.default_rng(seed)
    gp = TimeVaryingGP(X, y)
    if warm_start is not None:
        gp.theta = np.array(warm_start, dtype=float)
    gp.fit(restarts=0 if warm_start is not None else 2, seed=int(rng.integers(1 << 31)))
    fixed = (np.array([time, reward]) - state_low) / state_span

    support = X
    if len(pending):
        pend = (np.asarray(pending, dtype=float) - lows) / (highs - lows)
        support = np.vstack([X, np.hstack([np.tile(fixed, (len(pend), 1)), pend])])
    uncertainty = TimeVaryingGP(X, y)
    uncertainty.theta = gp.theta.copy()
    uncertainty.condition_on(support)
    # GP-UCB's exploration weight grows slowly with the data (Srinivas et al.); floored so
    # the first rounds still explore.
    kappa = math.sqrt(max(0.2 * math.log(0.4 * len(y)), 0.05))

    def ucb(h: np.ndarray) -> np.ndarray:
        rows = np.hstack([np.tile(fixed, (len(h), 1)), h])
        mean, _ = gp.predict(rows)
        _, var = uncertainty.predict(rows)
        return mean + kappa * np.sqrt(var)

    dim = len(names)
    candidates = rng.uniform(0, 1, size=(512, dim))
    scores = ucb(candidates)
    best_h, best_score = candidates[np.argmax(scores)], float(np.max(scores))
    for start in candidates[np.argsort(scores)[-4:]]:
        res = minimize(
            lambda h: -float(ucb(h.reshape(1, -1))[0]),
            start,
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * dim,
            options={"maxiter": 50},
        )
        if -res.fun > best_score:
            best_h, best_score = res.x, float(-res.fun)
    chosen = lows + np.clip(best_h, 0, 1) * (highs - lows)
    return {name: float(v) for name, v in zip(names, chosen, strict=True)}, gp.theta.copy()


def _sigmoid(u: float) -> float:
    return 1.0 / (1.0 + math.exp(-u))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))
