"""Dendrite tip counting and depth on synthetic metal shapes with known answers."""
import numpy as np
import pytest

from fem_dendrite import analysis

RADIUS = 0.04   # half-width of the fingers
WIDTH = 0.01    # diffuse interface width of the tanh profile


def _segment_distance(p, a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-300), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def phase_field(points, segments, layer=0.0, radius=RADIUS, width=WIDTH):
    """eta = 1 in thick line segments (fingers) and in a plated layer x < layer, diffuse tanh interface."""
    d = points[:, 0] - layer
    for a, b in segments:
        d = np.minimum(d, _segment_distance(points, a, b) - radius)
    return 0.5 * (1.0 - np.tanh(d / width))


SHAPES = {  # name: (segments in the unit square, plating electrode x = 0, known tip count)
    "flat layer": ([], 0),
    "one finger": ([((0.0, 0.5), (0.5, 0.5))], 1),
    "three fingers": ([((0.0, 0.2), (0.3, 0.2)), ((0.0, 0.5), (0.5, 0.5)), ((0.0, 0.8), (0.4, 0.8))], 3),
    "Y branch": ([((0.0, 0.5), (0.4, 0.5)), ((0.4, 0.5), (0.7, 0.3)), ((0.4, 0.5), (0.7, 0.7))], 2),
    "T branch": ([((0.0, 0.5), (0.4, 0.5)), ((0.4, 0.3), (0.4, 0.7))], 2),  # tips = branch ends
}


@pytest.fixture(scope="module")
def cloud():
    return np.random.default_rng(0).random((8000, 2))


@pytest.mark.parametrize("noise", [0.0, 0.05])
@pytest.mark.parametrize("layer", [0.0, 0.1])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_tip_count_of_synthetic_shapes(cloud, shape, layer, noise):
    segments, expected = SHAPES[shape]
    eta = phase_field(cloud, segments, layer)
    eta = eta + noise * np.random.default_rng(1).standard_normal(eta.size)
    assert analysis.count_tips(cloud, eta, plating_x=0.0) == expected


def test_tip_positions_are_the_branch_ends(cloud):
    eta = phase_field(cloud, SHAPES["Y branch"][0], layer=0.1)
    tips = analysis.find_tips(cloud, eta)
    ends = np.array([[0.7, 0.3], [0.7, 0.7]])
    for end in ends:  # each arm end has a tip within ~ a finger radius
        assert np.min(np.linalg.norm(tips - end, axis=1)) < 1.5 * RADIUS


def test_small_bump_needs_a_lower_prominence(cloud):
    eta = phase_field(cloud, [((0.0, 0.5), (0.09, 0.5))], layer=0.1)  # protrudes 0.09 + 0.04 - 0.1 = 0.03
    assert analysis.count_tips(cloud, eta) == 0                       # default: 5 % of the thickness
    assert analysis.count_tips(cloud, eta, min_prominence=0.02) == 1


def test_islands_are_not_tips_and_depth_can_ignore_them(cloud):
    eta = phase_field(cloud, [((0.0, 0.5), (0.5, 0.5)), ((0.8, 0.2), (0.8, 0.2))], layer=0.05)
    assert analysis.count_tips(cloud, eta) == 1
    assert analysis.dendrite_depth(cloud, eta) == pytest.approx(0.84, abs=0.01)
    assert analysis.dendrite_depth(cloud, eta, attached_only=True) == pytest.approx(0.54, abs=0.01)


def test_depth_of_a_finger(cloud):
    eta = phase_field(cloud, SHAPES["one finger"][0], layer=0.1)
    depth = analysis.dendrite_depth(cloud, eta, plating_x=0.0)
    assert depth == pytest.approx(0.5 + RADIUS, abs=0.01)
    assert analysis.dendrite_depth(cloud, phase_field(cloud, [], layer=0.1)) == pytest.approx(0.1, abs=0.01)
    assert analysis.dendrite_depth(cloud, np.zeros(len(cloud))) == 0.0
    assert analysis.count_tips(cloud, np.zeros(len(cloud))) == 0


def test_depth_and_tips_in_other_orientations(cloud):
    """Electrode at x = 1 growing towards -x, given as (N, 3) points with z = 0 (dolfinx); and along y."""
    flipped = np.column_stack([1.0 - cloud[:, 0], cloud[:, 1]])
    eta = phase_field(flipped, SHAPES["one finger"][0])
    points3 = np.column_stack([cloud, np.zeros(len(cloud))])
    assert analysis.dendrite_depth(points3, eta, plating_x=1.0) == pytest.approx(0.54, abs=0.01)
    tips = analysis.find_tips(points3, eta, plating_x=1.0)
    assert tips.shape == (1, 3)
    assert tips[0] == pytest.approx([0.46, 0.5, 0.0], abs=0.02)

    eta_y = phase_field(cloud[:, ::-1].copy(), SHAPES["three fingers"][0])  # fingers grow along y
    assert analysis.count_tips(cloud, eta_y, axis=1) == 3
    assert analysis.dendrite_depth(cloud, eta_y, axis=1) == pytest.approx(0.54, abs=0.01)


def test_grid_api_matches_point_api(cloud):
    eta = phase_field(cloud, SHAPES["three fingers"][0], layer=0.05)
    grid = analysis.resample_to_grid(cloud, eta, 0.0, spacing=0.01)
    assert grid.values.shape == (101, 101)
    assert analysis.count_tips_grid(grid) == 3
    assert analysis.dendrite_depth_grid(grid) == pytest.approx(0.54, abs=0.01)


@pytest.mark.parametrize("shape", ["one finger", "Y branch"])
def test_tip_count_in_3d(shape):
    points = np.random.default_rng(2).random((5000, 3))
    segments = [((a[0], a[1], 0.5), (b[0], b[1], 0.5)) for a, b in SHAPES[shape][0]]
    eta = phase_field(points, segments, layer=0.1, radius=0.08, width=0.02)
    assert analysis.count_tips(points, eta) == SHAPES[shape][1]


def test_mesh_cells_can_replace_the_delaunay_triangulation():
    """A structured triangle mesh given with its cells (as the FE mesh would be) gives the same answers."""
    n = 81
    x, y = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij")
    points = np.column_stack([x.ravel(), y.ravel()])
    node = np.arange(n * n).reshape(n, n)
    a, b, c, d = node[:-1, :-1].ravel(), node[1:, :-1].ravel(), node[1:, 1:].ravel(), node[:-1, 1:].ravel()
    cells = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, c, d])])
    eta = phase_field(points, SHAPES["Y branch"][0], layer=0.05)
    grid = analysis.resample_to_grid(points, eta, cells=cells)
    assert not np.isnan(grid.values).any()
    assert analysis.count_tips_grid(grid) == 2
    assert analysis.dendrite_depth_grid(grid) == pytest.approx(0.7 + RADIUS, abs=0.01)


def test_bad_input_is_a_value_error(cloud):
    with pytest.raises(ValueError, match="finite"):
        analysis.count_tips(cloud, np.full(len(cloud), np.nan))
    with pytest.raises(ValueError, match="points"):
        analysis.dendrite_depth(cloud[:, :1], np.zeros(len(cloud)))
