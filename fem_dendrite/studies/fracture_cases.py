"""The fracture verification cases: their settings (overrides of the bundled `fracture_sneddon`), their analytic
answers and how a finished run is measured. tests/test_fracture.py asserts them; benchmarks/fracture_verification.py
records them for the docs (docs/fracture/verification.json).

- Sneddon (1946): a crack of length 2a under an internal pressure p in an unbounded plate opens as an ellipse,
  one face moving (2 p a / E') sqrt(1 - y^2 / a^2), volume (quarter) pi p a^2 / (2 E'); it grows at
  p_c = sqrt(E' G_c / (pi a)) (Griffith), E' = E / (1 - nu^2). The mesh enters through the effective toughness
  G_c,eff = G_c (1 + h / (c_w l)) (Bourdin, Francfort, Marigo, J. Elasticity 91 (2008) 5).
- Edge crack of depth a in a strip of width W, faces pressurised (by superposition the K of a remote tension p):
  K = F(a/W) p sqrt(pi a), F from Tada, Paris, Irwin (The Stress Analysis of Cracks Handbook, 2000, 2.10).
- Deflection (He and Hutchinson, Int. J. Solids Struct. 25 (1989) 1053): a crack normal to an interface between
  like materials deflects into it when G_interface / G_grain is below ~0.26, else it crosses.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fem_dendrite import analysis

CRACK_HALF_LENGTH_M = 1.0e-6  # Sneddon's a in fracture_sneddon
# a 6 um instead of 10 um cell with 0.25 um cells away from the crack: the tests' size (the bundled case is finer)
SNEDDON_SMALL = ["mesh.size_m=[6.0e-6, 6.0e-6]", "mesh.cell_size_grain_m=2.5e-7", "mesh.cell_size_gb_m=2.5e-7"]
DEFLECTION_GB_Y_M = 1.45e-6  # the GB of the deflection bicrystal (Voronoi bisector of its two seeds)


def plane_modulus(youngs_modulus: float, poisson_ratio: float) -> float:
    """E' = E / (1 - nu^2) (plane strain)."""
    return youngs_modulus / (1.0 - poisson_ratio**2)


def effective_toughness(fracture_energy: float, cell_over_length: float, model: str = "AT1") -> float:
    """G_c,eff = G_c (1 + h / (c_w l)) (c_w = 8/3 for AT1, 2 for AT2)."""
    return fracture_energy * (1.0 + cell_over_length / (8.0 / 3.0 if model == "AT1" else 2.0))


def sneddon_critical_pressure(plane_mod: float, toughness: float, a: float = CRACK_HALF_LENGTH_M) -> float:
    """p_c = sqrt(E' G_c / (pi a)) (Pa)."""
    return math.sqrt(plane_mod * toughness / (math.pi * a))


def sneddon_ramp(length: float, start_pa: float = 7.6e8, rate_pa_s: float = 4.0e6, small: bool = True) -> list[str]:
    """Overrides of fracture_sneddon: regularisation length l, cells of l/4 along the crack plane, the pressure ramp
    (start, rate per 1 s step) and a stop once the crack grew by 2 l."""
    return (SNEDDON_SMALL if small else []) + [
        f"fracture.length_m={length}", f"mesh.cell_size_fine_m={length / 4}", f"mesh.fine_band_m={3 * length}",
        f"fracture.crack_pressure.value={start_pa}", f"fracture.crack_pressure_rate.value={rate_pa_s}",
        f"fracture.ramp_stop_growth_m={2 * length}"]


def sneddon_held(length: float, pressure_pa: float, small: bool = True) -> list[str]:
    """fracture_sneddon with the pressure held (one step, below p_c): the opening."""
    return (SNEDDON_SMALL if small else []) + [
        f"fracture.length_m={length}", f"mesh.cell_size_fine_m={length / 4}", f"mesh.fine_band_m={3 * length}",
        f"fracture.crack_pressure.value={pressure_pa}", "fracture.crack_pressure_rate.value=0.0", "time.end_s=1.0"]


def last_snapshot(run_dir: Path):
    return np.load(sorted((Path(run_dir) / "snapshots").glob("snap_*.npz"))[-1])


def sneddon_opening(run_dir: Path, pressure: float, plane_mod: float, a: float = CRACK_HALF_LENGTH_M,
                    strips: int = 5) -> tuple[float, np.ndarray]:
    """(volume ratio, profile ratios) of the modelled quarter crack against Sneddon's, the profile averaged over
    `strips` equal strips along the crack (analysis.crack_opening on the run's last snapshot)."""
    snap = last_snapshot(run_dir)
    edges = np.linspace(0.0, a, strips + 1)
    volume, profile = analysis.crack_opening(snap["coords"], snap["point_damage"], snap["cell_displacement"],
                                             axis=1, edges=edges)
    exact = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        y = np.linspace(lo, hi, 401)
        exact.append(np.trapezoid(2 * pressure * a / plane_mod * np.sqrt(1 - y**2 / a**2), y) / (hi - lo))
    return volume / (math.pi * pressure * a**2 / (2 * plane_mod)), profile / np.array(exact)


def tada_sent(ratio: float) -> float:
    """F(a/W) of a single-edge-notched strip in tension (Tada, Paris, Irwin 2000, 2.10; 0.5 % for a/W <= 0.6)."""
    return 1.12 - 0.231 * ratio + 10.55 * ratio**2 - 21.72 * ratio**3 + 30.39 * ratio**4


def edge_crack(width: float = 8.0e-6, depth: float = 1.0e-6) -> list[str]:
    """An edge crack of `depth` from the free face y = width of a square strip, its faces pressurised, on a ramp."""
    return [f"mesh.size_m=[{width}, {width}]", "mesh.cell_size_grain_m=4.0e-7", "mesh.cell_size_gb_m=4.0e-7",
            "mechanics.lateral_faces=\"free\"",
            f"fracture.initial_cracks=[{{start = {{value = [0.0, {width}], unit = \"m\", source = \"mouth\"}}, "
            f"end = {{value = [0.0, {width - depth}], unit = \"m\", source = \"tip\"}}}}]",
            "fracture.crack_pressure.value=5.0e8", "fracture.crack_pressure_rate.value=5.0e6"]


def deflection_bicrystal(gb_over_grain: float, grain_energy: float) -> list[str]:
    """A crack along x = 0 from y = 0 to 1.2 um, 0.25 um below a GB along x at y = 1.45 um (two grains, no elastic
    mismatch, GB band 2 l wide), G_GB = ratio x G_grain; the pressure ramps until the crack has grown by 1.6 um."""
    return ["mesh.size_m=[4.0e-6, 4.0e-6]", "mesh.grains=2", "mesh.seed_points_m=[[2.0e-6, 0.5e-6], [2.0e-6, 2.4e-6]]",
            "mesh.cell_size_grain_m=2.0e-7", "mesh.cell_size_gb_m=2.5e-8", "mesh.gb_width_m=1.0e-7",
            "materials.grain_boundary.youngs_modulus.value=5.0e10",
            f"materials.grain_boundary.fracture_energy.value={gb_over_grain * grain_energy}",
            "fracture.initial_cracks=[{start = {value = [0.0, 0.0], unit = \"m\", source = \"crack\"}, "
            "end = {value = [0.0, 1.2e-6], unit = \"m\", source = \"tip, 0.25 um below the GB\"}}]",
            "fracture.crack_pressure.value=6.0e8", "fracture.crack_pressure_rate.value=1.0e7",
            "fracture.ramp_stop_growth_m=1.6e-6", "fracture.max_iterations=1000"]


def deflection_path(run_dir: Path, gb_y: float = DEFLECTION_GB_Y_M) -> dict:
    """The largest damage of the cells in two windows past the GB, 0.35-0.45 um on along the crack's line
    ("through") and along the GB ("along"), beyond the band (2 l + a cell) of the crack that reached the GB."""
    snap = last_snapshot(run_dir)
    x, y = snap["coords"][:, :, 0].mean(axis=1), snap["coords"][:, :, 1].mean(axis=1)
    d = snap["point_damage"].mean(axis=1)
    through = (x < 0.05e-6) & (y > gb_y + 0.35e-6) & (y < gb_y + 0.45e-6)
    along = (x > 0.35e-6) & (x < 0.45e-6) & (np.abs(y - gb_y) < 0.05e-6)
    return {"through": float(d[through].max()), "along": float(d[along].max())}


# -- a Na-filled flaw whose tip meets an inclined GB (issue 23, controlled case (b); formulation confined_flaws) ------
FLAW_GB_SIZE_M = 8.0e-6
FLAW_GB_TIP_M = (1.0e-6, 4.0e-6)   # the flaw's tip (x = its depth a = 1 um, y = the middle of the plating face)
FLAW_GB_ANGLE_DEG = 35.0           # the GB's angle to the flaw's axis (x)


def flaw_gb_bicrystal(gb_over_grain: float, grain_energy: float) -> list[str]:
    """flaw_initiation overrides: an 8 um NZSP bicrystal whose straight GB passes through the tip of a 1 um Na-filled
    flaw at FLAW_GB_ANGLE_DEG to the flaw's axis (the Voronoi bisector of two seeds placed symmetrically about that
    line), refined along it (cells l/4 over its 2 l band, no elastic mismatch), G_GB = ratio x G_grain; the current
    ramps from zero until the crack has grown by 1.5 um."""
    (ax, ay), t = FLAW_GB_TIP_M, math.radians(FLAW_GB_ANGLE_DEG)
    along, normal = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
    centre = np.array([ax, ay]) + 3.0e-6 * along
    seeds = [centre + 2.0e-6 * normal, centre - 2.0e-6 * normal]
    size = FLAW_GB_SIZE_M
    return [f"mesh.size_m=[{size}, {size}]", "mesh.grains=2",
            f"mesh.seed_points_m=[[{seeds[0][0]:.6e}, {seeds[0][1]:.6e}], [{seeds[1][0]:.6e}, {seeds[1][1]:.6e}]]",
            "mesh.cell_size_grain_m=4.0e-7", "mesh.cell_size_gb_m=2.5e-8", "mesh.gb_width_m=1.0e-7",
            "materials.grain_boundary.youngs_modulus.value=5.0e10",
            f"materials.grain_boundary.fracture_energy.value={gb_over_grain * grain_energy}",
            'initial.flaws=[{depth = {value = 1.0e-6, unit = "m", source = "case"}, '
            'width = {value = 2.0e-7, unit = "m", source = "flaw_initiation"}, '
            'tip_radius = {value = 1.0e-7, unit = "m", source = "flaw_initiation"}, '
            f'position = {{value = {ay}, unit = "m", source = "the middle of the face"}}, filled = true}}]',
            "electrode.current_density.value=0.0", "electrode.current_ramp_rate.value=50.0", "time.end_s=40.0",
            "fracture.ramp_stop_growth_m=1.5e-6", "fracture.max_iterations=1000"]


def flaw_gb_path(run_dir: Path) -> dict:
    """The largest damage of the nodes within 0.1 um of two points 0.6 um past the flaw's tip (beyond the tip's
    initial profile, 2 l), one on the flaw's axis ("through" the grain) and one on the GB ("along" it)."""
    snap = last_snapshot(run_dir)
    points, d = snap["coords"].reshape(-1, snap["coords"].shape[-1])[:, :2], snap["point_damage"].ravel()
    tip, t = np.array(FLAW_GB_TIP_M), math.radians(FLAW_GB_ANGLE_DEG)
    out = {}
    for name, direction in (("through", (1.0, 0.0)), ("along", (math.cos(t), math.sin(t)))):
        near = np.linalg.norm(points - (tip + 0.6e-6 * np.asarray(direction)), axis=1) < 1.0e-7
        out[name] = float(d[near].max()) if near.any() else None
    return out
