"""Checks across sections of a loaded configuration (one-line UserError naming the field and what is accepted)."""
from __future__ import annotations

import math
from pathlib import Path

from fem_dendrite.config.schema import MAX_CELLS, Config
from fem_dendrite.errors import UserError


def validate_confined_flaws(cfg: Config) -> None:
    """Formulation "confined_flaws" (solve.confined_flaws): 2D, mechanics (staggered) and fracture on, a current
    (galvanostatic or ramp, plating) and at least one Na-filled flaw."""
    mech, f, el, ini = cfg.mechanics, cfg.fracture, cfg.electrode, cfg.initial
    if cfg.mesh.dim != 2:
        raise UserError("electrochemistry.formulation: \"confined_flaws\" is 2D (a flaw is a crack along its centre "
                        "line); accepted: mesh.dim = 2")
    if not (mech.enabled and f.enabled and mech.coupling == "staggered"):
        raise UserError("electrochemistry.formulation: \"confined_flaws\" needs mechanics.enabled = true, "
                        "mechanics.coupling = \"staggered\" and fracture.enabled = true (the flaws' Na cracks the "
                        "ceramic)")
    if el.control == "potentiostatic" or el.direction != "plating":
        raise UserError("electrode.control: \"confined_flaws\" is driven by a plating current; accepted: "
                        "\"galvanostatic\" or \"ramp\" with electrode.direction = \"plating\"")
    if not any(flaw.filled for flaw in ini.flaws) and not (ini.flaw_population is not None
                                                           and ini.flaw_population.count > 0
                                                           and ini.flaw_population.filled):
        raise UserError("initial.flaws: \"confined_flaws\" needs at least one Na-filled flaw (initial.flaws or "
                        "initial.flaw_population with filled = true)")


MAX_ADAPT_LEVELS = 6  # 2^6 = 64x finer than the base mesh; more is a base mesh too coarse for its grains


def validate_adapt(cfg: Config) -> None:
    """mesh.adapt (fem_dendrite.mesh.adapt): a moving front to follow."""
    if cfg.electrochemistry.formulation == "confined_flaws":
        raise UserError("mesh.adapt.enabled: \"confined_flaws\" holds its phase field (no front to follow); accepted "
                        "with formulation \"gao2024\" or \"faradaic\"")
    if cfg.mesh.adapt.levels > MAX_ADAPT_LEVELS:
        raise UserError(f"mesh.adapt.levels: expected 1..{MAX_ADAPT_LEVELS} (cell size / 2^levels), got "
                        f"{cfg.mesh.adapt.levels}")


def validate_cross(cfg: Config) -> None:
    m = cfg.mesh
    if len(m.size_m) != m.dim:
        raise UserError(f"mesh.size_m: expected {m.dim} lengths for dim = {m.dim}, got {len(m.size_m)}")
    if cfg.time.min_step_s > cfg.time.max_step_s:
        raise UserError("time.min_step_s: must not exceed time.max_step_s")
    e = cfg.electrochemistry
    if e.formulation == "gao2024" and cfg.mechanics.enabled and cfg.mechanics.coupling == "staggered":
        raise UserError("mechanics.coupling: \"staggered\" needs electrochemistry.formulation = \"faradaic\" (in "
                        "gao2024 the stress drives eq. 1 directly; accepted there: \"monolithic\")")
    if e.formulation != "gao2024" and (e.phase_mass != "consistent" or e.charge_source != "reaction"):
        raise UserError("electrochemistry.phase_mass: \"lumped\" and charge_source = \"none\" need formulation = "
                        "\"gao2024\" (accepted with faradaic: phase_mass = \"consistent\", charge_source = \"reaction\")")
    if e.formulation == "gao2024" and cfg.time.scheme != "backward_euler" and e.phase_mass != "lumped":
        raise UserError(f"time.scheme: \"{cfg.time.scheme}\" with formulation \"gao2024\" needs electrochemistry.phase_mass = "
                        "\"lumped\" (with the consistent mass backward Euler's own answer leaves eta in [0, 1], which "
                        "the scheme refuses: every step would be cut; or use \"backward_euler\")")
    if e.formulation == "confined_flaws":
        validate_confined_flaws(cfg)
    if m.adapt.enabled:
        validate_adapt(cfg)
    if e.formulation == "gao2024" and e.ion_transport == "site_limited":
        if e.metal_sink != "faradaic":
            raise UserError("electrochemistry.ion_transport: \"site_limited\" needs electrochemistry.metal_sink = "
                            "\"faradaic\" (the phase-rate sink removes ions whether or not any are left)")
        if float(e.ion_site_density) <= float(e.ion_concentration):
            raise UserError("electrochemistry.ion_site_density: must exceed electrochemistry.ion_concentration "
                            "(c_max > c0)")
    if not cfg.time.min_step_s <= cfg.time.initial_step_s <= cfg.time.max_step_s:
        raise UserError("time.initial_step_s: must lie in [time.min_step_s, time.max_step_s]")
    for i, point in enumerate(cfg.output.probe_points_m):
        if not isinstance(point, tuple) or len(point) != m.dim:
            raise UserError(f"output.probe_points_m[{i}]: expected a list of {m.dim} coordinates (m)")
        if any(not 0.0 <= float(x) <= L for x, L in zip(point, m.size_m)):
            raise UserError(f"output.probe_points_m[{i}]: point {list(point)} lies outside the domain {list(m.size_m)} m")
    for i, nucleus in enumerate(cfg.initial.nuclei):
        center = nucleus.center.value
        if not isinstance(center, tuple) or len(center) != m.dim:
            raise UserError(f"initial.nuclei[{i}].center: expected {m.dim} coordinates (m)")
    if m.structured_cells:
        if m.dim != 2 or len(m.structured_cells) != 2 or any(int(n) != n for n in m.structured_cells):
            raise UserError(f"mesh.structured_cells: expected two integers [nx, ny] (2D only), "
                            f"got {list(m.structured_cells)}")
    ini = cfg.initial
    if ini.field_file:
        if float(ini.noise_amplitude) > 0:
            raise UserError("initial.noise_amplitude: must be 0 with initial.field_file (the file holds the field)")
        if not Path(ini.field_file).is_file():
            raise UserError(f"initial.field_file: {ini.field_file} does not exist (expected an .npz with x_m, y_m, "
                            "eta[, c])")
    width = cfg.electrochemistry.interface_width_m()
    if width > 0.25 * min(m.size_m):
        raise UserError(f"electrochemistry.gradient_coefficient: interface width {width:.3g} m exceeds a quarter "
                        f"of the domain; lower kappa0 or enlarge mesh.size_m")
    if cfg.lab.frequency_max_Hz <= cfg.lab.frequency_min_Hz:
        raise UserError("lab.frequency_max_Hz: must exceed lab.frequency_min_Hz")
    if len(cfg.lab.temperatures_K) < 2:
        raise UserError("lab.temperatures_K: expected at least 2 temperatures (K) for the Arrhenius fit")
    for name in ("cell_size_grain_m", "cell_size_gb_m", "cell_size_fine_m"):
        if getattr(m, name) > max(m.size_m):
            raise UserError(f"mesh.{name}: {getattr(m, name):g} m exceeds the domain (mesh.size_m = {list(m.size_m)} m)")
    sizes = [m.cell_size_grain_m, m.cell_size_gb_m] + ([m.cell_size_fine_m] if m.fine_band_m > 0 else [])
    # ~ cells of the generated mesh (within a factor of a few), in logarithms: no overflow for any finite input
    cells = math.exp(min(sum(math.log(L) for L in m.size_m) - m.dim * math.log(min(sizes)), 700.0))
    if m.structured_cells:
        cells = float(math.prod(int(n) for n in m.structured_cells))
    if not m.file and not cells <= MAX_CELLS:
        raise UserError(f"mesh.size_m: {list(m.size_m)} m with cells of {min(sizes):g} m makes ~{cells:.3g} cells, "
                        f"more than {MAX_CELLS:g}; enlarge mesh.cell_size_*_m or shrink the domain")
    if cfg.mechanics.plane == "stress" and cfg.mechanics.plasticity and cfg.mechanics.enabled and m.dim == 2:
        raise UserError("mechanics.plane: plane stress is supported for elasticity only (set mechanics.plasticity = false)")
    validate_fracture(cfg)
    validate_flaws(cfg)


def validate_fracture(cfg: Config) -> None:
    """The fracture settings the model can take (one line each)."""
    f, mech, m = cfg.fracture, cfg.mechanics, cfg.mesh
    if f.sintering_cooldown and not cfg.mechanics.enabled:
        raise UserError("fracture.sintering_cooldown: needs mechanics.enabled = true (it is a mechanical load)")
    if cfg.mechanics.enabled and cfg.mechanics.metal_flow == "creep" and not cfg.mechanics.plasticity:
        raise UserError("mechanics.metal_flow: \"creep\" needs mechanics.plasticity = true (the electrolyte's yield "
                        "bounds the interface's flow stress)")
    if f.plating == "into_cracks" and not (f.enabled and cfg.electrochemistry.formulation == "faradaic"
                                            and mech.coupling == "staggered"):
        raise UserError("fracture.plating: \"into_cracks\" needs fracture.enabled = true, formulation \"faradaic\" "
                        "and mechanics.coupling = \"staggered\" (the plated volume is a growth strain of the metal)")
    contact = float(cfg.materials.grain_boundary.contact_fraction)
    if contact < 1.0 and not (f.enabled and m.dim == 2 and not m.structured_cells):
        raise UserError(f"materials.grain_boundary.contact_fraction: {contact:g} < 1 opens the GBs as pre-cracks: it "
                        f"needs fracture.enabled = true and a 2D polycrystal (mesh.dim = 2, no mesh.structured_cells)")
    if not f.enabled:
        return
    if not mech.enabled:
        raise UserError("fracture.enabled: needs mechanics.enabled = true (the stress drives the damage)")
    if mech.plane == "stress" and m.dim == 2:
        raise UserError("fracture.enabled: needs mechanics.plane = \"strain\" (the split is written for plane strain)")
    for i, crack in enumerate(f.initial_cracks):
        for end in ("start", "end"):
            point = getattr(crack, end).value
            if not isinstance(point, tuple) or len(point) != m.dim:
                raise UserError(f"fracture.initial_cracks[{i}].{end}: expected {m.dim} coordinates (m)")
            if any(not 0.0 <= float(x) <= L for x, L in zip(point, m.size_m)):
                raise UserError(f"fracture.initial_cracks[{i}].{end}: point {list(point)} lies outside the domain "
                                f"{list(m.size_m)} m")
    if f.length_m > 0.25 * min(m.size_m):
        raise UserError(f"fracture.length_m: {f.length_m:g} m exceeds a quarter of the domain; the damage band "
                        f"(2 l wide) must fit in it many times")


def _flaw_position(value, dim: int, where: str) -> tuple:
    """A flaw's position as dim - 1 floats (m): a number (or [y]) in 2D, [y, z] in 3D."""
    coords = value if isinstance(value, tuple) else (value,)
    if len(coords) != dim - 1 or any(isinstance(c, tuple) for c in coords):
        want = "a number y (m)" if dim == 2 else "[y, z] (m)"
        raise UserError(f"{where}.position: expected {want} for mesh.dim = {dim}, got {list(coords)}")
    return tuple(float(c) for c in coords)


def _depth_fraction(distribution: str, scale: float, shape: float, low: float, high: float) -> float:
    """Probability (closed form) that a drawn depth lies in [low, high] m."""
    if distribution == "lognormal":
        cdf = lambda x: 0.5 * math.erfc(-math.log(x / scale) / (shape * math.sqrt(2.0)))  # noqa: E731
    else:
        cdf = lambda x: -math.expm1(-((x / scale) ** shape))  # noqa: E731
    return cdf(high) - cdf(low) if high > low else 0.0


def validate_flaws(cfg: Config) -> None:
    """initial.flaws and initial.flaw_population against the domain (fem_dendrite.mesh.flaws): one line each."""
    m, ini = cfg.mesh, cfg.initial
    dim, size = m.dim, [float(s) for s in m.size_m]
    if len(size) != dim:
        return  # reported above
    face = size[1:]  # the plating electrode: y (2D), y and z (3D)
    placed = []
    for i, f in enumerate(ini.flaws):
        where = f"initial.flaws[{i}]"
        depth, width, tip = float(f.depth), float(f.width), float(f.tip_radius)
        pos = _flaw_position(f.position.value, dim, where)
        if width >= min(face):
            raise UserError(f"{where}.width: {width:g} m is not narrower than the electrode ({min(face):g} m)")
        if tip > 0.5 * width * (1.0 + 1e-12):
            raise UserError(f"{where}.tip_radius: {tip:g} m exceeds half the width ({0.5 * width:g} m)")
        if depth > size[0] - width:
            raise UserError(f"{where}.depth: {depth:g} m leaves less than its width of electrolyte before the counter "
                            f"electrode (mesh.size_m[0] = {size[0]:g} m)")
        if depth < tip:
            raise UserError(f"{where}.depth: {depth:g} m is shallower than its tip radius ({tip:g} m)")
        for axis, (p, L) in enumerate(zip(pos, face)):
            if not 0.5 * width <= p <= L - 0.5 * width:
                raise UserError(f"{where}.position: the slot ({width:g} m wide at {p:g} m) leaves the electrode "
                                f"[0, {L:g}] m{'' if dim == 2 else ' along ' + 'yz'[axis]}")
        for j, (q, w) in enumerate(placed):
            if math.dist(pos, q) < 0.5 * (width + w):
                raise UserError(f"{where}.position: overlaps initial.flaws[{j}] (centres {math.dist(pos, q):g} m apart, "
                                f"less than their half-widths {0.5 * (width + w):g} m)")
        placed.append((pos, width))
    pop = ini.flaw_population
    if pop is not None and pop.count > 0:
        where = "initial.flaw_population"
        width, tip = float(pop.width), float(pop.tip_radius)
        scale, shape = float(pop.depth_scale), float(pop.depth_shape)
        if tip > 0.5 * width * (1.0 + 1e-12):
            raise UserError(f"{where}.tip_radius: {tip:g} m exceeds half the width ({0.5 * width:g} m)")
        if 3.0 * width >= min(face):
            raise UserError(f"{where}.width: {width:g} m leaves no room on the {min(face):g} m electrode (a width from "
                            f"each corner)")
        margin = max(1.5 * width, float(pop.edge_margin))
        if 2.0 * margin >= min(face):
            raise UserError(f"{where}.edge_margin: {float(pop.edge_margin):g} m from each side leaves no room on the "
                            f"{min(face):g} m electrode")
        need = (pop.count - 1) * 2.0 * width if dim == 2 else pop.count * math.pi * width ** 2 / 0.4
        room = face[0] - 2.0 * margin if dim == 2 else math.prod(L - 2.0 * margin for L in face)
        if need >= room:
            raise UserError(f"{where}.count: {pop.count} flaws {width:g} m wide, 2 widths apart, do not fit on the "
                            f"electrode ({' x '.join(f'{L:g}' for L in face)} m)")
        if pop.distribution == "lognormal" and not shape <= 3.0:
            raise UserError(f"{where}.depth_shape: expected a log-std in (0, 3] for \"lognormal\", got {shape:g}")
        if pop.distribution == "weibull" and not 0.5 <= shape <= 50.0:
            raise UserError(f"{where}.depth_shape: expected a Weibull modulus in [0.5, 50], got {shape:g}")
        fraction = _depth_fraction(pop.distribution, scale, shape, tip, size[0] - width)
        if fraction < 0.5:
            raise UserError(f"{where}.depth_scale: only {100 * fraction:.3g} % of the {pop.distribution} depths lie "
                            f"in [tip_radius, mesh.size_m[0] - width] = [{tip:g}, {size[0] - width:g}] m (need 50 %)")
    flaws = [(float(f.width), float(f.tip_radius), float(f.depth)) for f in ini.flaws]
    if pop is not None and pop.count > 0:
        flaws += [(float(pop.width), float(pop.tip_radius), float(pop.depth_scale))] * pop.count
    if flaws and not m.file and not m.structured_cells:  # the refined cells (tip_radius / 4) around the slots
        tip = min(t for _, t, _ in flaws)
        if 0.25 * tip < 1e-7 * max(size):
            raise UserError(f"initial.flaws: cells of tip_radius / 4 = {0.25 * tip:g} m are below 1e-7 x the domain "
                            f"size (Gmsh cannot mesh that); use a larger tip radius")
        cells = sum((d + 2 * t) * (w + 2 * t) ** (dim - 1) / (0.25 * t) ** dim * 6.0 for w, t, d in flaws)
        if cells > MAX_CELLS:
            raise UserError(f"initial.flaws: the refinement at tip_radius / 4 makes ~{cells:.3g} cells, more than "
                            f"{MAX_CELLS:g}; use larger tip radii or fewer flaws")
