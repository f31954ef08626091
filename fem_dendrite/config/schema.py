"""The configuration's sections as typed, frozen dataclasses: each physical field with its SI unit and accepted
range, each numerical setting with its check or its accepted values (read by config.loading)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from fem_dendrite.scaling import Quantity

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
class AdaptConfig:
    """Adaptive refinement (fem_dendrite.mesh.adapt): the base mesh refined `levels` times (each level halves the
    edges it splits) within margin_m of the metal's interface (0.02 < eta < 0.98), re-built from the base mesh every
    interval_steps accepted steps or once the front has moved half the margin, so it also coarsens behind the front."""

    enabled: bool = _p()
    levels: int = _p(check="positive")
    margin_m: float = _p(check="positive")  # refined distance (m) around the interface, ahead and behind
    interval_steps: int = _p(check="positive")


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
    adapt: AdaptConfig = None


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
class MetalMaterial(PhaseMaterial):
    """Na metal: a phase that also creeps, eps_dot = creep_rate (sigma_eq / creep_reference_stress)^creep_exponent
    (power-law creep; mechanics.metal_flow = "creep")."""

    creep_rate: Quantity = _q("1/s", "positive")
    creep_reference_stress: Quantity = _q("Pa", "positive")
    creep_exponent: Quantity = _q("1", "positive", bounds=(1.0, 20.0, "a power-law creep exponent"))


@dataclass(frozen=True)
class ElectrolyteMaterial(PhaseMaterial):
    """The ceramic's grain interior: a phase with a fracture energy and an anisotropic thermal expansion (its
    crystal's a and c axes; each grain has its own orientation)."""

    fracture_energy: Quantity = _q("J/m^2", "positive")
    thermal_expansion_a: Quantity = _q("1/K", "nonnegative", bounds=(0.0, 1.0e-4, "a ceramic's expansion"))
    thermal_expansion_c: Quantity = _q("1/K", "nonnegative", bounds=(0.0, 1.0e-4, "a ceramic's expansion"))


@dataclass(frozen=True)
class GrainBoundaryMaterial:
    """Properties of the grain-boundary phase (beta = 1)."""

    diffusivity: Quantity = _q("m^2/s", "positive")
    conductivity: Quantity = _q("S/m", "positive")
    youngs_modulus: Quantity = _q("Pa", "positive")
    fracture_energy: Quantity = _q("J/m^2", "positive")
    contact_fraction: Quantity = _q("1", "fraction")  # the contacted share of each GB (mesh.contacts); 1: intact


@dataclass(frozen=True)
class MaterialsConfig:
    mixing_rule: str = _p(choices=("metal_first", "paper"))
    electrolyte: ElectrolyteMaterial = None
    metal: MetalMaterial = None
    grain_boundary: GrainBoundaryMaterial = None


@dataclass(frozen=True)
class ElectrochemistryConfig:
    """Phase field, Butler-Volmer kinetics and Nernst-Planck transport (MODEL.md eqs. 1-3).

    formulation: "faradaic" (two potentials, one reaction current, c = c0; fem_dendrite.physics.faradaic) or
    "gao2024" (the paper's single-potential model, MODEL.md eqs. 1-3; fem_dendrite.physics.electrochemistry) or
    "confined_flaws" (a reduced quasi-static model of Na-filled crack-like flaws: no front, the confined Na's
    pressure F (eta_BV + U) / V_m on each flaw's crack; fem_dendrite.solve.confined_flaws).
    """

    formulation: str = _p(choices=("faradaic", "gao2024", "confined_flaws"))
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
    support: str = _p(choices=("roller", "counter", "clamped"))
    lateral_faces: str = _p(choices=("roller", "free"))
    freeze_phase: bool = _p()
    eigenstrain_reference: str = _p(choices=("initial", "pristine"))
    displacement_degree: int = _p(choices=(1, 2))
    coupling: str = _p(choices=("monolithic", "staggered"))
    # the metal's inelastic flow: "plastic" (rate-independent J2 with linear hardening) or "creep" (power-law creep,
    # materials.metal.creep_*; the electrolyte keeps its J2 law)
    metal_flow: str = _p(choices=("plastic", "creep"))
    # how the yield stress mixes across the interface: "linear" (h P_metal + (1 - h) P_SE, as every property) or
    # "geometric" (P_metal^h P_SE^(1-h): for a brittle electrolyte whose yield stands in for "none")
    flow_mixing: str = _p(choices=("linear", "geometric"))
    volume_expansion: Quantity = _q("1", "nonnegative", bounds=(0.0, 1.0, "a relative volume change (Na: 0.05)"))
    stack_pressure: Quantity = _q("Pa", "nonnegative", bounds=(0.0, 1.0e9, "beyond the electrolyte's strength"))


@dataclass(frozen=True)
class Nucleus:
    center: Quantity = _q("m")
    radius: Quantity = _q("m", "positive")


@dataclass(frozen=True)
class Flaw:
    """A surface flaw at the plating electrode (x = 0): a slot of `depth` into the electrolyte and `width`, its
    round tip of `tip_radius`, centred at `position` along the electrode (y in 2D; y, z in 3D), filled with Na or
    empty (an open crack)."""

    depth: Quantity = _q("m", "positive")
    width: Quantity = _q("m", "positive")
    tip_radius: Quantity = _q("m", "positive")
    position: Quantity = _q("m")
    filled: bool = _p()


@dataclass(frozen=True)
class FlawPopulation:
    """`count` flaws at seeded random positions along the plating electrode, their depths drawn from
    `distribution` ("lognormal": median depth_scale, log-std depth_shape; "weibull": scale depth_scale, modulus
    depth_shape), each with `width` and `tip_radius`, filled with Na or not; count = 0: none."""

    count: int = _p(check="nonnegative")
    distribution: str = _p(choices=("lognormal", "weibull"))
    depth_scale: Quantity = _q("m", "positive")
    depth_shape: Quantity = _q("1", "positive")
    width: Quantity = _q("m", "positive")
    tip_radius: Quantity = _q("m", "positive")
    filled: bool = _p()
    seed: int = _p(check="nonnegative")
    # flaw centres at least this far from the side faces (and 1.5 widths in any case): a window's sides are not the
    # pellet's edges, and a flaw beside a free side (or its mirror image beside a roller side) is not a surface flaw
    edge_margin: Quantity = _q("m", "nonnegative")


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
    flaws: tuple = field(default=(), metadata={"item": Flaw})
    flaw_population: FlawPopulation = None


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
    # the staggered stress the overpotential sees may change by at most this much per step (Pa; 0: no limit): the
    # explicit lag of a confined deposit's pressure, which feeds its own plating rate (fracture.plating)
    max_stress_change_Pa: float = _p(check="nonnegative")
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
    exact_times: bool = _p()  # the step before each output is shortened so the output lands on k x interval_s
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
class CrackSegment:
    """A straight pre-crack (d = 1 on the segment, the optimal profile across it): end points in m."""

    start: Quantity = _q("m")
    end: Quantity = _q("m")


@dataclass(frozen=True)
class FractureConfig:
    """Phase-field fracture of the electrolyte (fem_dendrite.physics.fracture, fem_dendrite.solve.fracture)."""

    enabled: bool = _p()
    model: str = _p(choices=("AT1", "AT2"))
    split: str = _p(choices=("amor", "none"))  # "amor": compression does not crack; "none": all energy degrades
    length_m: float = _p(check="positive")  # regularisation length l (numerical: l << flaw size, cells <= l/4)
    residual_stiffness: float = _p(check="open_unit_interval")  # k in g(d) = (1 - d)^2 + k
    ion_residual_conductivity: float = _p(check="open_unit_interval")  # (1 - d)^2 + this: a crack's ionic factor
    tolerance: float = _p(check="open_unit_interval")  # alternate minimisation: max |d_k - d_k-1| to stop
    max_iterations: int = _p(check="positive")  # alternate minimisation: iterations before the step is cut
    sintering_cooldown: bool = _p()  # cool from sintering_temperature to electrochemistry.temperature first
    sintering_temperature: Quantity = _q("K", "positive", bounds=(300.0, 2500.0, "a ceramic's sintering range"))
    cooldown_steps: int = _p(check="positive")  # equal temperature decrements of the cool-down
    orientation_seed: int = _p(check="nonnegative")  # the grains' random crystal orientations
    crack_pressure: Quantity = _q("Pa", "nonnegative", bounds=(0.0, 1.0e10, "beyond any ceramic's strength"))
    crack_pressure_rate: Quantity = _q("Pa/s", "nonnegative")  # p(t) = crack_pressure + rate t in the cracks
    ramp_stop_growth_m: float = _p(check="positive")  # a pressure ramp stops once the crack grew by this much
    stop_at_crack_growth: bool = _p()  # any run stops once the crack grew by ramp_stop_growth_m (a flaw's initiation)
    # "anywhere": plated metal replaces the electrolyte wherever the front is (the phase-field models' default);
    # "into_cracks": only where the electrolyte is broken (d >= plating_damage); elsewhere the plated volume is a
    # growth strain of the metal (a confined deposit pushes on its walls: solve.confined_plating)
    plating: str = _p(choices=("anywhere", "into_cracks"))
    plating_damage: float = _p(check="open_unit_interval")
    initial_cracks: tuple = field(default=(), metadata={"item": CrackSegment})


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
    fracture: FractureConfig

    def replace(self, **sections) -> "Config":
        return dataclasses.replace(self, **sections)
