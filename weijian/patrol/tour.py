"""Suggested visiting order for a grid worker's patrol.

Given where the worker starts and the points to visit (metric Gauss-Krüger coordinates, so plain
Euclidean distance is right), :func:`plan` proposes an order that keeps the walk short. The walk
is an *open* path: start → every point once → done (no return to the start).

* n == 0 or n == 1: the only possible order (``method == "trivial"``).
* n ≤ 8: every permutation is tried, the result is optimal (``method == "exact"``).
* otherwise: nearest neighbour from the start, then local search until no move improves or the
  time budget is spent (``method == "nearest_neighbour+2opt"``). The local search uses 2-opt
  moves (reverse a stretch of the path; the start stays first, and because the path is open the
  reversed stretch may run to the end) and or-opt moves (move a run of 1-3 consecutive points,
  either way round, elsewhere in the path, the open end included). A move is taken only if it
  shortens the path by more than 1e-9 m.

The result is never longer than the plain nearest-neighbour path, whose length is reported too.
Pure Python + numpy: the full distance matrix is held in memory ((n+1)² float64), which suits
patrol-sized inputs (hundreds of points).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EXACT_MAX_POINTS", "Tour", "path_length", "plan"]

EXACT_MAX_POINTS = 8
"""Up to this many points, :func:`plan` enumerates every permutation."""

_EPS = 1e-9
"""A move must shorten the path by more than this (metres) to be taken."""

_OR_OPT_MAX_RUN = 3
"""Longest run of consecutive points an or-opt move relocates."""

PointsLike = Sequence[tuple[float, float]] | np.ndarray


@dataclass(frozen=True)
class Tour:
    """A suggested visiting order.

    ``order`` holds indices into the given points, in visiting order, each exactly once.
    ``length_m`` is the walking length start → points in that order (open path), equal to
    ``path_length(start, points, order)``. ``nearest_neighbour_m`` is the length of the plain
    nearest-neighbour path from the same start, for comparison. ``method`` is ``"trivial"``,
    ``"exact"`` or ``"nearest_neighbour+2opt"``.
    """

    order: list[int]
    length_m: float
    nearest_neighbour_m: float
    method: str


def _as_start(start: tuple[float, float]) -> np.ndarray:
    try:
        xy = np.asarray(start, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"start must be an (x, y) pair of numbers, got {start!r}") from exc
    if xy.shape != (2,):
        raise ValueError(f"start must be an (x, y) pair, got shape {xy.shape}")
    if not np.all(np.isfinite(xy)):
        raise ValueError(f"start has a non-finite coordinate: {tuple(xy.tolist())}")
    return xy


def _as_points(points: PointsLike) -> np.ndarray:
    try:
        xy = np.asarray(points, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("points must be a sequence of (x, y) pairs of numbers") from exc
    if xy.size == 0:
        return np.empty((0, 2), dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {xy.shape}")
    bad = np.flatnonzero(~np.all(np.isfinite(xy), axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"point {i} has a non-finite coordinate: {tuple(xy[i].tolist())}")
    return xy


def _length(xy: np.ndarray, sequence: np.ndarray) -> float:
    """Length of the open path through ``xy[sequence]`` (node 0 being the start)."""
    if sequence.size < 2:
        return 0.0
    steps = np.diff(xy[sequence], axis=0)
    return float(np.hypot(steps[:, 0], steps[:, 1]).sum())


def path_length(
    start: tuple[float, float], points: PointsLike, order: Sequence[int] | np.ndarray
) -> float:
    """Walking length start → ``points[order[0]]`` → ``points[order[1]]`` → … (open path).

    ``order`` may be any sequence of valid indices (a permutation for a full patrol); an empty
    order gives 0. Raises ValueError for non-finite coordinates or out-of-range indices.
    """
    s = _as_start(start)
    xy = _as_points(points)
    idx = np.asarray(order, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= len(xy)):
        raise ValueError(f"order has indices outside 0..{len(xy) - 1}")
    nodes = np.vstack([s[None, :], xy])
    return _length(nodes, np.concatenate([[0], idx + 1]))


def _distance_matrix(nodes: np.ndarray) -> np.ndarray:
    dx = nodes[:, 0][:, None] - nodes[:, 0][None, :]
    dy = nodes[:, 1][:, None] - nodes[:, 1][None, :]
    return np.hypot(dx, dy)


def _nearest_neighbour(dist: np.ndarray) -> np.ndarray:
    """Node sequence (0 = start first) of the greedy nearest-neighbour path; ties → lower index."""
    m = len(dist)
    seq = np.empty(m, dtype=np.int64)
    seq[0] = 0
    visited = np.zeros(m, dtype=bool)
    visited[0] = True
    current = 0
    for k in range(1, m):
        row = np.where(visited, np.inf, dist[current])
        current = int(np.argmin(row))
        visited[current] = True
        seq[k] = current
    return seq


def _exact(dist: np.ndarray) -> np.ndarray:
    """Node sequence of a shortest open path from node 0, by enumerating every permutation."""
    n = len(dist) - 1
    perms = np.array(list(itertools.permutations(range(1, n + 1))), dtype=np.int64)
    lengths = dist[0, perms[:, 0]]
    if n > 1:
        lengths = lengths + dist[perms[:, :-1], perms[:, 1:]].sum(axis=1)
    best = perms[int(np.argmin(lengths))]
    return np.concatenate([[0], best])


def _edges(dist: np.ndarray, seq: np.ndarray) -> np.ndarray:
    return dist[seq[:-1], seq[1:]]


def _two_opt_pass(dist: np.ndarray, seq: np.ndarray, deadline: float) -> bool:
    """One sweep of 2-opt moves over ``seq`` (modified in place); True if any move was taken.

    Move (i, j), 0 ≤ i, i + 2 ≤ j ≤ n: reverse ``seq[i+1 .. j]``. Removed edges are
    (seq[i], seq[i+1]) and, unless j == n (the open end), (seq[j], seq[j+1]).
    """
    n = len(seq) - 1
    edge = _edges(dist, seq)
    improved = False
    i = 0
    while i <= n - 2:
        if time.perf_counter() > deadline:
            break
        a, b = seq[i], seq[i + 1]
        removed_first = edge[i]
        # interior j = i+2 .. n-1: new edges (a, seq[j]) and (b, seq[j+1])
        c = seq[i + 2 : n]
        d = seq[i + 3 : n + 1]
        delta_inner = dist[a, c] + dist[b, d] - removed_first - edge[i + 2 : n]
        # j = n: the reversed stretch runs to the open end; new edge (a, seq[n]) only
        delta_end = dist[a, seq[n]] - removed_first
        if delta_inner.size:
            k = int(np.argmin(delta_inner))
            best, best_j = float(delta_inner[k]), i + 2 + k
        else:
            best, best_j = math.inf, -1
        if delta_end < best:
            best, best_j = float(delta_end), n
        if best < -_EPS:
            j = best_j
            seq[i + 1 : j + 1] = seq[i + 1 : j + 1][::-1].copy()
            hi = min(j + 1, n)
            edge[i:hi] = dist[seq[i:hi], seq[i + 1 : hi + 1]]
            improved = True
            continue  # look at the same i again, its edge is new
        i += 1
    return improved


def _or_opt_pass(dist: np.ndarray, seq: np.ndarray, deadline: float) -> tuple[np.ndarray, bool]:
    """One sweep of or-opt moves: relocate a run ``seq[i .. i+L-1]`` (1 ≤ L ≤ 3), forwards or
    reversed, between two other consecutive nodes or after the open end. The start (seq[0])
    never moves. Returns the (possibly new) sequence and whether any move was taken."""
    n = len(seq) - 1
    edge = _edges(dist, seq)
    improved = False
    i = 1
    while i <= n:
        if time.perf_counter() > deadline:
            break
        taken = False
        for run in range(1, _OR_OPT_MAX_RUN + 1):
            last = i + run - 1
            if last > n:
                break
            s0, s1 = seq[i], seq[last]
            prev = seq[i - 1]
            at_end = last == n
            if at_end:
                gain = edge[i - 1]
            else:
                nxt = seq[last + 1]
                gain = edge[i - 1] + edge[last] - dist[prev, nxt]
            # insertion between seq[k] and seq[k+1], k = 0..n-1, forwards or reversed
            left, right = seq[:n], seq[1:]
            forward = dist[left, s0] + dist[s1, right] - edge
            backward = dist[left, s1] + dist[s0, right] - edge
            cost = np.minimum(forward, backward)
            cost[i - 1 : last + 1] = np.inf  # edges touching or inside the run
            k = int(np.argmin(cost))
            best_cost, best_k = float(cost[k]), k
            if not at_end:
                end_cost = min(dist[seq[n], s0], dist[seq[n], s1])  # append after the end
                if end_cost < best_cost:
                    best_cost, best_k = float(end_cost), n
            if best_cost - gain < -_EPS:
                segment = seq[i : last + 1]
                if best_k == n:
                    reverse = dist[seq[n], s1] < dist[seq[n], s0]
                else:
                    reverse = backward[best_k] < forward[best_k]
                moved = segment[::-1] if reverse else segment
                rest = np.concatenate([seq[:i], seq[last + 1 :]])
                # position in `rest` right after seq[best_k]
                pos = best_k + 1 if best_k < i else best_k + 1 - run
                seq = np.concatenate([rest[:pos], moved, rest[pos:]])
                edge = _edges(dist, seq)
                improved = taken = True
                break
        if not taken:
            i += 1
    return seq, improved


def _improve(dist: np.ndarray, seq: np.ndarray, deadline: float) -> np.ndarray:
    seq = seq.copy()
    while time.perf_counter() <= deadline:
        improved = _two_opt_pass(dist, seq, deadline)
        seq, moved = _or_opt_pass(dist, seq, deadline)
        if not (improved or moved):
            break
    return seq


def plan(start: tuple[float, float], points: PointsLike, *, max_seconds: float = 0.5) -> Tour:
    """Suggest a short visiting order for ``points`` from ``start`` (open path, start fixed).

    n == 0 → order [], length 0, ``"trivial"``; n == 1 → ``"trivial"``. For n ≤ 8 every
    permutation is tried (optimal, ``"exact"``). Otherwise the nearest-neighbour path from
    ``start`` is improved by 2-opt and or-opt moves, each taken only if it shortens the path by
    more than 1e-9 m, until no move improves or ``max_seconds`` (counted from the call, checked
    between moves) is spent (``"nearest_neighbour+2opt"``). Duplicate points are fine.
    Raises ValueError for non-finite coordinates, naming the point's index.
    """
    t0 = time.perf_counter()
    if not max_seconds >= 0:
        raise ValueError(f"max_seconds must be a non-negative number, got {max_seconds!r}")
    s = _as_start(start)
    xy = _as_points(points)
    n = len(xy)
    if n == 0:
        return Tour(order=[], length_m=0.0, nearest_neighbour_m=0.0, method="trivial")
    nodes = np.vstack([s[None, :], xy])
    if n == 1:
        length = _length(nodes, np.array([0, 1]))
        return Tour(order=[0], length_m=length, nearest_neighbour_m=length, method="trivial")

    dist = _distance_matrix(nodes)
    nn_seq = _nearest_neighbour(dist)
    nn_length = _length(nodes, nn_seq)
    if n <= EXACT_MAX_POINTS:
        seq, method = _exact(dist), "exact"
    else:
        seq, method = _improve(dist, nn_seq, t0 + max_seconds), "nearest_neighbour+2opt"
    length = _length(nodes, seq)
    if length > nn_length:  # only by rounding: never report a longer path than the baseline
        seq, length = nn_seq, nn_length
    order = [int(v) - 1 for v in seq[1:]]
    return Tour(order=order, length_m=length, nearest_neighbour_m=nn_length, method=method)
