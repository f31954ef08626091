"""Synthetic snapshots for the rendering and report tests: an L x L square of n x n x 2 triangles."""
import numpy as np


def square_triangles(n: int, length: float) -> np.ndarray:
    """The cells' vertex coordinates (n * n * 2, 3, 3) of an L x L square cut into n x n squares of two triangles."""
    xs = np.linspace(0, length, n + 1)
    cells = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = (xs[i], xs[j]), (xs[i + 1], xs[j]), (xs[i + 1], xs[j + 1]), (xs[i], xs[j + 1])
            cells += [(a, b, c), (a, c, d)]
    coords = np.zeros((len(cells), 3, 3))
    coords[:, :, :2] = np.asarray(cells)
    return coords
