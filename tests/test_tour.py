"""The patrol visiting order (weijian.patrol.tour): pure computation, no database."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from weijian.patrol.tour import EXACT_MAX_POINTS, Tour, path_length, plan

# a plausible Gauss-Krüger origin for the city (metres): large coordinates, small distances
E0, N0 = 39_500_000.0, 3_400_000.0


def walk(start, points, order) -> float:
    """Independent open-path length (math.dist, plain Python)."""
    here, total = tuple(start), 0.0
    for i in order:
        total += math.dist(here, tuple(points[i]))
        here = tuple(points[i])
    return total


def brute_force(start, points) -> float:
    pts = np.asarray(points, dtype=float)
    perms = np.array(list(itertools.permutations(range(len(pts)))))
    seqs = pts[perms]  # (p, n, 2)
    first = np.hypot(*(seqs[:, 0, :] - np.asarray(start)).T)
    steps = np.diff(seqs, axis=1)
    return float((first + np.hypot(steps[..., 0], steps[..., 1]).sum(axis=1)).min())


def is_permutation(order, n) -> bool:
    return sorted(order) == list(range(n))


# --- trivial inputs ---------------------------------------------------------------------------


def test_no_points():
    tour = plan((E0, N0), [])
    assert tour == Tour(order=[], length_m=0.0, nearest_neighbour_m=0.0, method="trivial")
    assert plan((E0, N0), np.empty((0, 2))).order == []


def test_one_point():
    tour = plan((0.0, 0.0), [(3.0, 4.0)])
    assert tour.order == [0]
    assert tour.length_m == pytest.approx(5.0)
    assert tour.nearest_neighbour_m == pytest.approx(5.0)
    assert tour.method == "trivial"


def test_two_points_are_exact():
    tour = plan((0.0, 0.0), [(10.0, 0.0), (1.0, 0.0)])
    assert tour.order == [1, 0]
    assert tour.length_m == pytest.approx(10.0)
    assert tour.method == "exact"


def test_tour_is_frozen():
    tour = plan((0.0, 0.0), [(1.0, 0.0)])
    with pytest.raises(AttributeError):
        tour.order = [0]  # type: ignore[misc]


# --- known geometry ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, EXACT_MAX_POINTS, 9, 30, 120])
def test_points_on_a_line_are_visited_along_it(n):
    rng = np.random.default_rng(n)
    direction = np.array([math.cos(0.7), math.sin(0.7)])
    along = rng.permutation(np.arange(1, n + 1) * 12.5)  # shuffled distances along the line
    points = np.array([E0, N0]) + along[:, None] * direction
    tour = plan((E0, N0), points)
    assert list(along[tour.order]) == sorted(along)
    assert tour.length_m == pytest.approx(along.max(), abs=1e-6)
    assert tour.method == ("exact" if n <= EXACT_MAX_POINTS else "nearest_neighbour+2opt")


def test_square_corners_from_a_start_outside():
    corners = [(10.0, 10.0), (0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]
    start = (-5.0, 2.0)
    tour = plan(start, corners)
    assert tour.method == "exact"
    assert tour.length_m == pytest.approx(math.hypot(5.0, 2.0) + 30.0)
    # from the nearest corner (0, 0) round three sides, either way
    assert tour.order in ([1, 2, 0, 3], [1, 3, 0, 2])


def test_duplicate_points_cost_nothing_extra():
    points = [(2.0, 0.0), (1.0, 0.0), (2.0, 0.0), (1.0, 0.0), (0.0, 0.0), (1.0, 0.0)]
    tour = plan((0.0, 0.0), points)
    assert is_permutation(tour.order, len(points))
    assert tour.length_m == pytest.approx(2.0)
    many = points * 3  # 18 points: the heuristic path
    tour = plan((0.0, 0.0), many)
    assert tour.method == "nearest_neighbour+2opt"
    assert is_permutation(tour.order, len(many))
    assert tour.length_m == pytest.approx(2.0)


def test_improves_strictly_where_nearest_neighbour_leaves_a_far_point_to_the_end():
    # ten points 10 m apart east of the start and one point 30 m west: nearest neighbour takes the
    # 10 m step east, walks to the far end (100 m) and then all the way back west (130 m) = 230 m;
    # going west first is 30 m + 130 m = 160 m
    east = [(10.0 * k, 0.0) for k in range(1, 11)]  # 10 .. 100 m east
    west = (-30.0, 0.0)
    points = [*east[:4], west, *east[4:]]  # the west point is index 4
    tour = plan((0.0, 0.0), points)
    assert tour.method == "nearest_neighbour+2opt"
    assert tour.nearest_neighbour_m == pytest.approx(100.0 + 130.0)  # east to 100, back to -30
    assert tour.length_m == pytest.approx(30.0 + 130.0)  # west first, then east to the end
    assert tour.length_m < tour.nearest_neighbour_m - 50.0
    assert tour.order[0] == 4
    assert [points[i][0] for i in tour.order[1:]] == [10.0 * k for k in range(1, 11)]


def test_improves_strictly_on_random_points_with_an_outlier():
    # forty random points in a 1 km square and one far outlier: the nearest-neighbour path
    # wanders and crosses itself; the local search must shorten it by a clear margin
    rng = np.random.default_rng(7)
    points = np.vstack([rng.uniform(0, 1000, (40, 2)), [[5000.0, 5000.0]]])
    tour = plan((0.0, 0.0), points)
    assert tour.method == "nearest_neighbour+2opt"
    assert tour.length_m < tour.nearest_neighbour_m - 1.0


# --- against the optimum ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(100))
def test_seven_random_points_are_solved_exactly(seed):
    rng = np.random.default_rng(seed)
    start = (E0 + rng.uniform(0, 2000), N0 + rng.uniform(0, 2000))
    points = [(E0 + x, N0 + y) for x, y in rng.uniform(0, 2000, (7, 2))]
    tour = plan(start, points)
    assert tour.method == "exact"
    assert is_permutation(tour.order, 7)
    assert tour.length_m == pytest.approx(brute_force(start, points), abs=1e-6)
    assert tour.length_m == pytest.approx(walk(start, points, tour.order), abs=1e-6)
    assert tour.length_m <= tour.nearest_neighbour_m + 1e-9


# --- the heuristic on larger inputs -----------------------------------------------------------


@pytest.mark.parametrize(("n", "seed"), [(60, 1), (60, 2), (200, 3), (200, 4)])
def test_random_points_never_longer_than_nearest_neighbour(n, seed):
    rng = np.random.default_rng(seed)
    points = np.array([E0, N0]) + rng.uniform(0, 3000, (n, 2))
    start = (E0 + 1500.0, N0 - 200.0)
    tour = plan(start, points, max_seconds=5.0)
    assert tour.method == "nearest_neighbour+2opt"
    assert is_permutation(tour.order, n)
    assert tour.length_m <= tour.nearest_neighbour_m
    assert tour.length_m == path_length(start, points, tour.order)
    assert tour.length_m == pytest.approx(walk(start, points, tour.order), rel=1e-12)


def test_the_result_admits_no_improving_two_opt_move():
    rng = np.random.default_rng(11)
    points = rng.uniform(0, 1000, (60, 2))
    start = (500.0, 500.0)
    tour = plan(start, points, max_seconds=10.0)
    nodes = [start, *map(tuple, points[tour.order])]
    n = len(points)

    def d(a, b):
        return math.dist(nodes[a], nodes[b])

    for i in range(n - 1):
        for j in range(i + 2, n + 1):
            before = d(i, i + 1) + (d(j, j + 1) if j < n else 0.0)
            after = d(i, j) + (d(i + 1, j + 1) if j < n else 0.0)
            assert after >= before - 1e-6, (i, j)


def test_no_time_budget_gives_the_nearest_neighbour_path():
    rng = np.random.default_rng(5)
    points = rng.uniform(0, 1000, (50, 2))
    tour = plan((0.0, 0.0), points, max_seconds=0.0)
    assert is_permutation(tour.order, 50)
    assert tour.length_m == tour.nearest_neighbour_m


def test_four_hundred_points_get_a_whole_order_no_longer_than_nearest_neighbour():
    # how fast is for the benchmark (bench --only patrol); here: what comes back within the
    # default time budget is a whole visiting order, measured right, never the longer walk
    rng = np.random.default_rng(400)
    points = np.array([E0, N0]) + rng.uniform(0, 5000, (400, 2))
    tour = plan((E0, N0), points)
    assert tour.method == "nearest_neighbour+2opt"
    assert is_permutation(tour.order, 400)
    assert tour.length_m == path_length((E0, N0), points, tour.order)
    assert tour.length_m <= tour.nearest_neighbour_m


# --- bad input --------------------------------------------------------------------------------


def test_nan_coordinate_names_the_point():
    points = [(1.0, 2.0), (3.0, 4.0), (float("nan"), 5.0)]
    with pytest.raises(ValueError, match="point 2"):
        plan((0.0, 0.0), points)
    with pytest.raises(ValueError, match="point 1"):
        plan((0.0, 0.0), np.array([(1.0, 2.0), (3.0, float("inf"))]))
    with pytest.raises(ValueError, match="point 0"):
        path_length((0.0, 0.0), [(float("nan"), 0.0)], [0])


def test_non_finite_start_is_rejected():
    with pytest.raises(ValueError, match="start"):
        plan((float("nan"), 0.0), [(1.0, 2.0)])


def test_wrong_shapes_are_rejected():
    with pytest.raises(ValueError):
        plan((0.0, 0.0), [(1.0, 2.0, 3.0)])
    with pytest.raises(ValueError):
        plan((0.0,), [(1.0, 2.0)])  # type: ignore[arg-type]


def test_path_length():
    points = [(3.0, 4.0), (3.0, 0.0)]
    assert path_length((0.0, 0.0), points, [0, 1]) == pytest.approx(9.0)
    assert path_length((0.0, 0.0), points, [1, 0]) == pytest.approx(7.0)
    assert path_length((0.0, 0.0), points, []) == 0.0
    with pytest.raises(ValueError, match="outside"):
        path_length((0.0, 0.0), points, [0, 2])
    with pytest.raises(ValueError, match="outside"):
        path_length((0.0, 0.0), points, [-1])
