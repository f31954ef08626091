"""Run configuration: typed, frozen dataclasses loaded from TOML and validated on load.

Physical parameters are TOML tables ``{ value = ..., unit = "...", source = "..." }`` in SI units; the unit must
match the one the code expects (checked on load) and the source says where the number comes from (paper, table,
or 'assumed: why'). Numerical settings (mesh resolution, time stepping, solver, output) are plain keys whose name
ends in their unit (``size_m``, ``end_s``).

A user file only needs the entries that differ from the bundled default case (``configs/default.toml``): it is
laid over it. ``--set section.key=value`` overrides any entry last (a physical parameter's value; its source
becomes 'override').
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fem_dendrite.errors import UserError
from fem_dendrite.scaling import Quantity, scaled_parameters


# --------------------------------------------------------------------------------------------------------------
def _q(unit: str, check: str = "", **meta):
    """Field of a Quantity with the expected SI unit and a range check ('positive', 'nonnegative', 'unit', '').

    `bounds=(low, high, why)`: the physical range the model accepts (inclusive), said in the error message."""
    return field(metadata={"unit": unit, "check": check, **meta})


def _p(check: str = "", choices: tuple = (), **meta):
    """Field of a plain (numerical) setting with a range check or a set of accepted values."""
    return field(metadata={"check": check, "choices": choices, **meta})


# Physical ranges the model accepts (config errors say them). Wider than any cell that can be built, narrower than
# what breaks the arithmetic: exp(alpha n F V / RT) in the Butler-Volmer term leaves double precision near 18 V.
_WINDOW = "a few volts at most: the electrolyte's stability window, ~5 V for NASICON"
_CURRENT = "10 A/cm^2, 25 x Gao 2024's largest 400 mA/cm^2"
MAX_CELLS = 1.0e8  # estimated cells of a generated mesh above which the run is refused (not a laptop or a node)


@dataclass(frozen=True)
class MeshConfig:
    """Polycrystal geometry and resolution (Gmsh Voronoi tessellation, fem_dendrite.mesh)."""

    dim: int = _p(choices=(2, 3))
    size_m: tuple = _p(check="positive_vector")
    grains: int = _p(check="positive")
    seed: int = _p(check="nonnegative")
    lloyd_iterations: int = _p(check="nonnegative")
    cell_size_grain_m: float = _p(check="positive")
    cell_size_gb_m: float = _p(check="positive")
    cell_size_fine_m: float = _p(check="positive")
    fine_band_m: float = _p(check="nonnegative")
    gb_width_m: float = _p(check="positive")
    file: str = _p()
    seed_points_m: tuple = _p()  # explicit Voronoi seeds, one per grain (a bicrystal); [] = random (seed)
    structured_cells: tuple = _p(check="positive_vector")  # [nx, ny]: a uniform single-grain rectangle; [] = Gmsh
    structured_diagonal: str = _p(choices=("crossed", "right", "left"))  # triangles of each structured square


@dataclass(frozen=True)
class PhaseMaterial:
    """Properties of one phase (NZSP grain interior or Na metal)."""

    diffusivity: Quantity = _q("m^2/s", "positive")
    conductivity: Quantity = _q("S/m", "positive")
    youngs_modulus: Quantity = _q("Pa", "positive")
    poisson_ratio: Quantity = _q("1", "poisson")
    yield_stress: Quantity = _q("Pa", "positive")
    hardening_modulus: Quantity = _q("Pa", "nonnegative")


@dataclass(frozen=True)
class GrainBoundaryMaterial:
    """Properties of the grain-boundary phase (beta = 1)."""

    diffusivity: Quantity = _q("m^2/s", "positive")
    conductivity: Quantity = _q("S/m", "positive")
    youngs_modulus: Quantity = _q("Pa", "positive")


@dataclass(frozen=True)
class MaterialsConfig:
    mixing_rule: str = _p(choices=("metal_first", "paper"))
    electrolyte: PhaseMaterial = None
    metal: PhaseMaterial = None
    grain_boundary: GrainBoundaryMaterial = None


@dataclass(frozen=True)
class ElectrochemistryConfig:
    """Phase field, Butler-Volmer kinetics and Nernst-Planck transport (MODEL.md eqs. 1-3).

    formulation: "faradaic" (two potentials, one reaction current, c = c0; fem_dendrite.physics.faradaic) or
    "gao2024" (the paper's single-potential model, MODEL.md eqs. 1-3; fem_dendrite.physics.electrochemistry).
    """

    formulation: str = _p(choices=("faradaic", "gao2024"))
    temperature: Quantity = _q("K", "positive", bounds=(200.0, 371.0, "solid Na: it melts at 371 K"))
    ion_concentration: Quantity = _q("mol/m^3", "positive")
    metal_site_density: Quantity = _q("mol/m^3", "positive")
    barrier_height: Quantity = _q("J/m^3", "positive")
    gradient_coefficient: Quantity = _q("J/m", "positive")
    anisotropy_strength: Quantity = _q("1", "nonnegative", bounds=(0.0, 0.99, "kappa0 (1 + delta cos) must stay > 0"))
    anisotropy_mode: Quantity = _q("1", "nonnegative_integer", bounds=(0.0, 12.0, "a crystal's rotational symmetry"))
    interface_mobility: Quantity = _q("m^3/(J s)", "positive")
    reaction_rate: Quantity = _q("1/s", "positive")
    transfer_coefficient: Quantity = _q("1", "unit_interval")
    charge_number: Quantity = _q("1", "positive_integer", bounds=(1.0, 3.0, "the charge of a cation"))
    equilibrium_potential: Quantity = _q("V", bounds=(-5.0, 5.0, _WINDOW))
    metal_sink: str = _p(choices=("phase_rate", "faradaic"))
    exchange_current_density: Quantity = _q("A/m^2", "positive")
    gb_exchange_current_density: Quantity = _q("A/m^2", "positive")
    metal_molar_volume: Quantity = _q("m^3/mol", "positive")
    ion_transport: str = _p(choices=("dilute", "site_limited"))
    ion_site_density: Quantity = _q("mol/m^3", "positive")
    phase_mass: str = _p(choices=("consistent", "lumped"))  # gao2024: quadrature of d eta/dt and g'(eta)
    charge_source: str = _p(choices=("reaction", "none"))  # gao2024: eq. 3's source; "none" = Laplace potential
    capillarity: str = _p(choices=("overpotential", "allen_cahn"))

    def interface_width_m(self) -> float:
        """2 sqrt(2 kappa0 / W) (m): the width of the equilibrium profile of f = W eta^2 (1 - eta)^2."""
        return 2.0 * math.sqrt(2.0 * float(self.gradient_coefficient) / float(self.barrier_height))

    def interface_energy_J_m2(self) -> float:
        """gamma = sqrt(kappa0 W / 18) (J/m^2): the energy of that profile per unit area."""
        return math.sqrt(float(self.gradient_coefficient) * float(self.barrier_height) / 18.0)


@dataclass(frozen=True)
class MechanicsConfig:
    """Small-strain elasto-plasticity with the phase-change eigenstrain (MODEL.md eq. 4)."""

    enabled: bool = _p()
    plasticity: bool = _p()
    plane: str = _p(choices=("strain", "stress"))
    support: str = _p(choices=("roller", "clamped"))
    lateral_faces: str = _p(choices=("roller", "free"))
    freeze_phase: bool = _p()
    eigenstrain_reference: str = _p(choices=("initial", "pristine"))
    displacement_degree: int = _p(choices=(1, 2))
    coupling: str = _p(choices=("monolithic", "staggered"))
    volume_expansion: Quantity = _q("1", "nonnegative", bounds=(0.0, 1.0, "a relative volume change (Na: 0.05)"))
    stack_pressure: Quantity = _q("Pa", "nonnegative", bounds=(0.0, 1.0e9, "beyond the electrolyte's strength"))


@dataclass(frozen=True)
class Nucleus:
    center: Quantity = _q("m")
    radius: Quantity = _q("m", "positive")


@dataclass(frozen=True)
class InitialConfig:
    """Initial metal: a layer on the plating electrode (optionally perturbed, optionally with random noise on its
    front) and any number of nuclei, or a field read from a file."""

    layer_thickness: Quantity = _q("m", "nonnegative")
    perturbation_amplitude: Quantity = _q("m", "nonnegative")
    perturbation_wavelength: Quantity = _q("m", "positive")
    noise_amplitude: Quantity = _q("m", "nonnegative")  # uniform random shift of the layer front, +- this
    noise_seed: int = _p(check="nonnegative")
    field_file: str = _p()  # .npz of eta (and c) on a regular grid (fem_dendrite.solve.initial_field); "" = generated
    nuclei: tuple = field(default=(), metadata={"item": Nucleus})


@dataclass(frozen=True)
class ElectrodeConfig:
    """Electrode control. Potentiostatic: plating electrode held at -voltage (plating) or +voltage (stripping)
    against the counter electrode (phi = 0). Galvanostatic: |j| = current_density; ramp: |j| = current_density
    + current_ramp_rate * t."""

    control: str = _p(choices=("potentiostatic", "galvanostatic", "ramp"))
    direction: str = _p(choices=("plating", "stripping"))
    voltage: Quantity = _q("V", "nonnegative", bounds=(0.0, 5.0, _WINDOW))
    current_density: Quantity = _q("A/m^2", "nonnegative", bounds=(0.0, 1.0e5, _CURRENT))
    current_ramp_rate: Quantity = _q("A/(m^2 s)", "nonnegative", bounds=(0.0, 1.0e5, "10 A/cm^2 in one second"))


@dataclass(frozen=True)
class TimeConfig:
    end_s: float = _p(check="positive")
    initial_step_s: float = _p(check="positive")
    min_step_s: float = _p(check="positive")
    max_step_s: float = _p(check="positive")
    growth_factor: float = _p(check="above_one")
    cut_factor: float = _p(check="open_unit_interval")
    easy_newton_iterations: int = _p(check="positive")
    max_phase_change: float = _p(check="positive")
    max_steps: int = _p(check="positive")
    stop_at_short_circuit: bool = _p()
    # accepted steps during which dt stays below a step size that failed (0: off; fem_dendrite.solve.timestepping)
    failure_memory: int = _p(check="nonnegative")
    # Newton's first iterate: the last accepted state ("none"), its linear extrapolation ("linear"), or "auto"
    # (linear unless the displacement is in the Newton: CoupledProblem.predictor)
    predictor: str = _p(choices=("auto", "none", "linear"))
    # "backward_euler": Newton to solver.rtol every step; "linearized" / "linearized_trapezoidal": one linear solve
    # (linearly implicit Euler / trapezoidal rule) is the step's answer when it keeps eta, c within their bounds,
    # else Newton goes on from it to backward Euler (timestepping.linearized_step)
    scheme: str = _p(choices=("backward_euler", "linearized", "linearized_trapezoidal"))
    # "monolithic": phi is an unknown of the Newton; "staggered": phi is solved on its own from the state at the
    # step's start, at most every potential_interval_s, and held in the (eta, c) Newton (fem_dendrite.solve.staggered)
    potential_coupling: str = _p(choices=("monolithic", "staggered"))
    potential_interval_s: float = _p(check="nonnegative")  # 0: every step


@dataclass(frozen=True)
class SolverConfig:
    max_iterations: int = _p(check="positive")
    rtol: float = _p(check="open_unit_interval")  # PETSc refuses a relative tolerance >= 1
    displacement_rtol: float = _p(check="open_unit_interval")  # the staggered displacement-only Newton's
    atol: float = _p(check="positive")
    stol: float = _p(check="nonnegative")
    quadrature_degree: int = _p(check="positive")
    preset: str = _p(choices=("auto", "lu", "fieldsplit"))  # linear solver recipe (fem_dendrite.solve.presets.PRESETS)
    layout: str = _p(choices=("auto", "blocks", "interleaved"))  # the Newton's unknowns (fem_dendrite.solve.interleaved)
    petsc: dict = field(default_factory=dict, metadata={"mapping": True})


@dataclass(frozen=True)
class OutputConfig:
    interval_s: float = _p(check="positive")
    checkpoint_every: int = _p(check="positive")
    vtx: bool = _p()
    probe_points_m: tuple = _p()


@dataclass(frozen=True)
class LabConfig:
    """Properties for `fem-dendrite conductivity` (fem_dendrite.lab): permittivities, Arrhenius activation energies
    (sigma T = A exp(-E_a / R T)), measured resistivities to calibrate against, the physical GB width, and the
    temperatures and frequencies to compute."""

    grain_relative_permittivity: Quantity = _q("1", "positive")
    gb_relative_permittivity: Quantity = _q("1", "positive")
    grain_activation_energy: Quantity = _q("J/mol", "nonnegative")
    gb_activation_energy: Quantity = _q("J/mol", "nonnegative")
    physical_gb_width: Quantity = _q("m", "positive")
    measured_bulk_resistivity: Quantity = _q("Ohm m", "positive")
    measured_gb_resistivity: Quantity = _q("Ohm m", "nonnegative")
    temperatures_K: tuple = _p(check="positive_vector")
    frequency_min_Hz: float = _p(check="positive")
    frequency_max_Hz: float = _p(check="positive")
    frequencies_per_decade: int = _p(check="positive")


@dataclass(frozen=True)
class Config:
    mesh: MeshConfig
    materials: MaterialsConfig
    electrochemistry: ElectrochemistryConfig
    mechanics: MechanicsConfig
    initial: InitialConfig
    electrode: ElectrodeConfig
    time: TimeConfig
    solver: SolverConfig
    output: OutputConfig
    lab: LabConfig

    def replace(self, **sections) -> "Config":
        return dataclasses.replace(self, **sections)


# --------------------------------------------------------------------------------------------------------------
def bundled_config_path(name: str = "default") -> Path:
    """Path of a bundled config (fem_dendrite/configs/NAME.toml)."""
    return Path(str(resources.files("fem_dendrite") / "configs" / f"{name}.toml"))


def bundled_config_names() -> list[str]:
    return sorted(p.stem for p in Path(str(resources.files("fem_dendrite") / "configs")).glob("*.toml"))


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"config {path}: not valid TOML ({err})") from None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "value" not in value:
            out[key] = _merge(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and "value" in value:
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _parse_literal(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_override(data: dict, assignment: str) -> None:
    if "=" not in assignment:
        raise UserError(f"--set expects SECTION.KEY=VALUE, got {assignment!r}")
    dotted, text = assignment.split("=", 1)
    keys = [k.strip() for k in dotted.strip().split(".") if k.strip()]
    if len(keys) < 2:
        raise UserError(f"--set expects SECTION.KEY=VALUE, got {assignment!r}")
    value = _parse_literal(text.strip())
    node = data
    for i, key in enumerate(keys[:-1]):
        if not isinstance(node.get(key), dict):
            raise UserError(f"--set {dotted}: unknown entry {'.'.join(keys[: i + 1])!r}")
        node = node[key]
    last = keys[-1]
    open_table = keys[:-1] == ["solver", "petsc"]  # any PETSc option may be added, not only the bundled ones
    if last not in node and not open_table:
        accepted = ", ".join(sorted(node))
        raise UserError(f"--set {dotted}: unknown key {last!r} (accepted: {accepted})")
    if isinstance(node.get(last), dict) and "value" in node[last]:
        node[last] = {**node[last], "value": value, "source": f"override (--set {dotted})"}
    elif last == "value" and "source" in node:
        node["value"] = value
        node["source"] = f"override (--set {dotted})"
    else:
        node[last] = value


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _check(value, check: str, where: str, bounds: tuple | None = None, unit: str = "") -> None:
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, tuple):
            continue
        if not math.isfinite(v):
            raise UserError(f"{where}: expected a finite number, got {v!r}")
        bad = {
            "positive": v <= 0,
            "positive_vector": v <= 0,
            "nonnegative": v < 0,
            "poisson": not -1.0 < v < 0.5,
            "unit_interval": not 0.0 < v < 1.0,
            "open_unit_interval": not 0.0 < v < 1.0,
            "above_one": v <= 1.0,
            "positive_integer": v < 1 or v != int(v),
            "nonnegative_integer": v < 0 or v != int(v),
        }.get(check, False)
        if bad:
            accepted = {
                "positive": "a number > 0",
                "positive_vector": "numbers > 0",
                "nonnegative": "a number >= 0",
                "poisson": "a number in (-1, 0.5)",
                "unit_interval": "a number in (0, 1)",
                "open_unit_interval": "a number in (0, 1)",
                "above_one": "a number > 1",
                "positive_integer": "an integer >= 1",
                "nonnegative_integer": "an integer >= 0",
            }[check]
            raise UserError(f"{where}: expected {accepted}, got {v!r}")
        if bounds is not None and not bounds[0] <= v <= bounds[1]:
            low, high, why = bounds
            raise UserError(f"{where}: expected a number in [{low:g}, {high:g}]{' ' + unit if unit != '1' else ''} "
                            f"({why}), got {v!r}")


def _to_tuple(value):
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (accepted: {', '.join(names)})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name not in data:
            raise UserError(f"{key}: missing (every entry is required; see `fem-dendrite config show`)")
        raw = data[f.name]
        hint = hints[f.name]
        meta = f.metadata
        if dataclasses.is_dataclass(hint if isinstance(hint, type) else None) and hint is not Quantity:
            kwargs[f.name] = _build(hint, raw, key)
        elif hint is Quantity:
            kwargs[f.name] = _build_quantity(raw, meta, key)
        elif "item" in meta:
            if not isinstance(raw, list):
                raise UserError(f"{key}: expected a list of tables")
            kwargs[f.name] = tuple(_build(meta["item"], item, f"{key}[{i}]") for i, item in enumerate(raw))
        elif meta.get("mapping"):
            if not isinstance(raw, dict):
                raise UserError(f"{key}: expected a table of PETSc options")
            kwargs[f.name] = {str(k): raw[k] for k in raw}
        else:
            kwargs[f.name] = _build_plain(raw, hint, meta, key)
    return cls(**kwargs)


def _build_quantity(raw, meta, key) -> Quantity:
    if not isinstance(raw, dict) or set(raw) != {"value", "unit", "source"}:
        raise UserError(f"{key}: expected {{ value = ..., unit = \"{meta['unit']}\", source = \"...\" }}")
    if raw["unit"] != meta["unit"]:
        raise UserError(f"{key}: unit must be {meta['unit']!r} (SI), got {raw['unit']!r}")
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise UserError(f"{key}: source must say where the value comes from")
    value = raw["value"]
    if isinstance(value, list):
        value = tuple(_number(v, key) for v in value)
    else:
        value = _number(value, key)
    _check(value, meta.get("check", ""), key, meta.get("bounds"), meta["unit"])
    return Quantity(value, raw["unit"], raw["source"])


def _build_plain(raw, hint, meta, key):
    choices = meta.get("choices", ())
    if choices and raw not in choices:
        raise UserError(f"{key}: expected one of {', '.join(map(repr, choices))}, got {raw!r}")
    if hint is bool:
        if not isinstance(raw, bool):
            raise UserError(f"{key}: expected true or false, got {raw!r}")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise UserError(f"{key}: expected an integer, got {raw!r}")
        _check(float(raw), meta.get("check", ""), key)
        return raw
    if hint is float:
        value = _number(raw, key)
        _check(value, meta.get("check", ""), key)
        return value
    if hint is str:
        if not isinstance(raw, str):
            raise UserError(f"{key}: expected a string, got {raw!r}")
        return raw
    if hint is tuple:
        if not isinstance(raw, list):
            raise UserError(f"{key}: expected a list, got {raw!r}")
        value = _to_tuple(raw)
        _check(tuple(v for v in value if not isinstance(v, tuple)), meta.get("check", ""), key)
        return value
    return raw


def _validate_cross(cfg: Config) -> None:
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


def load(path: str | Path | None = None, overrides: typing.Sequence[str] | None = None) -> Config:
    """Resolved configuration: the bundled default, the file at `path` laid over it, then `overrides`.

    `path` may also name a bundled config (e.g. "default", "flat_front").
    """
    data = _read_toml(bundled_config_path("default"))
    if path is not None:
        p = Path(path)
        if not p.exists() and str(path) in bundled_config_names():
            p = bundled_config_path(str(path))
        if not p.exists():
            raise UserError(f"config file not found: {path} (bundled configs: {', '.join(bundled_config_names())})")
        data = _merge(data, _read_toml(p))
    for assignment in overrides or ():
        _apply_override(data, assignment)
    cfg = _build(Config, data, "")
    _validate_cross(cfg)
    scaled_parameters(cfg)  # raises if a value leaves double precision once scaled
    return cfg


# -- TOML output -------------------------------------------------------------------------------------------------
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int,)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else f'"{key}"'


def to_dict(obj) -> dict:
    """Plain nested dict of a config (Quantities as {value, unit, source})."""
    if isinstance(obj, Quantity):
        return {"value": obj.value, "unit": obj.unit, "source": obj.source}
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [to_dict(v) for v in obj]
    return obj


def to_toml(cfg: Config) -> str:
    """The resolved configuration as TOML (loadable again with `load`)."""
    lines: list[str] = ["# fem-dendrite resolved configuration (SI units)"]

    def emit(table: dict, prefix: str) -> None:
        scalars = {k: v for k, v in table.items()
                   if not (isinstance(v, dict) and "value" not in v and k != "petsc")
                   and not (isinstance(v, list) and v and isinstance(v[0], dict))}
        lines.append("")
        lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in table.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    lines.append("")
                    lines.append(f"[[{prefix}.{key}]]")
                    for k, v in item.items():
                        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for key, value in table.items():
            if isinstance(value, dict) and "value" not in value and key != "petsc":
                emit(value, f"{prefix}.{key}")

    for section, table in to_dict(cfg).items():
        emit(table, section)
    return "\n".join(lines) + "\n"
