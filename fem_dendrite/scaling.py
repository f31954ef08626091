"""Nondimensionalisation: the one place where SI values become the solver's scaled values and back.

Scales (stated once, used everywhere):
    length              L0 = 1 um
    time                t0 = 1 / L_eta                       (the Butler-Volmer reaction time)
    concentration       c0                                   (Na+ reference concentration)
    energy density      E0 = c0 R T                          (also the stress scale)
    potential           phi0 = R T / F                       (25.7 mV at 298 K)
derived:
    diffusivity         L0^2 / t0
    conductivity        F^2 c0 L0^2 / (R T t0)              (so that div(sigma grad phi) = n F c_s deta/dt keeps its form)
    current density     F c0 L0 / t0
    interface mobility  1 / (E0 t0)          gradient coefficient  E0 L0^2
    fracture energy     E0 L0                (24.8 J/m^2 at 298 K and c0 = 1e4 mol/m^3)
The scaled equations are MODEL.md eqs. 1-4 with every coefficient divided by its scale; the charge number n and
the ratio c_s / c0 stay explicit.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from fem_dendrite.errors import UserError

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)


@dataclass(frozen=True)
class Quantity:
    """A physical parameter: value in SI units, the unit, and where the number comes from (config.py loads them)."""

    value: float | tuple
    unit: str
    source: str

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Scales:
    length: float  # m
    time: float  # s
    concentration: float  # mol/m^3
    temperature: float  # K

    @classmethod
    def from_config(cls, cfg) -> "Scales":
        ec = cfg.electrochemistry
        return cls(length=1.0e-6, time=1.0 / float(ec.reaction_rate), concentration=float(ec.ion_concentration),
                   temperature=float(ec.temperature))

    @property
    def energy_density(self) -> float:  # J/m^3 (= Pa)
        return self.concentration * GAS_CONSTANT * self.temperature

    stress = energy_density

    @property
    def potential(self) -> float:  # V
        return GAS_CONSTANT * self.temperature / FARADAY

    @property
    def diffusivity(self) -> float:  # m^2/s
        return self.length**2 / self.time

    @property
    def conductivity(self) -> float:  # S/m
        return FARADAY**2 * self.concentration * self.length**2 / (GAS_CONSTANT * self.temperature * self.time)

    @property
    def current_density(self) -> float:  # A/m^2
        return FARADAY * self.concentration * self.length / self.time

    @property
    def mobility(self) -> float:  # m^3/(J s)
        return 1.0 / (self.energy_density * self.time)

    @property
    def gradient_coefficient(self) -> float:  # J/m
        return self.energy_density * self.length**2

    @property
    def fracture_energy(self) -> float:  # J/m^2 (energy per crack area: energy density x length)
        return self.energy_density * self.length

    def amount(self, dim: int) -> float:
        """mol (3D) or mol per metre of depth (2D) of one scaled concentration unit over one scaled measure."""
        return self.concentration * self.length**dim

    def measure(self, dim: int) -> float:
        """m^dim of one scaled measure (m^2 in 2D, m^3 in 3D)."""
        return self.length**dim

    def current(self, dim: int) -> float:
        """A (3D) or A per metre of depth (2D) of one scaled current."""
        return self.current_density * self.length ** (dim - 1)


# the scale of each SI unit a configuration uses (Scales properties by name, or a constant)
_UNIT_SCALES = {
    "1": lambda sc: 1.0, "m": lambda sc: sc.length, "K": lambda sc: sc.temperature,
    "mol/m^3": lambda sc: sc.concentration, "m^2/s": lambda sc: sc.diffusivity, "S/m": lambda sc: sc.conductivity,
    "Pa": lambda sc: sc.energy_density, "J/m^3": lambda sc: sc.energy_density,
    "J/m": lambda sc: sc.gradient_coefficient, "m^3/(J s)": lambda sc: sc.mobility, "1/s": lambda sc: 1.0 / sc.time,
    "V": lambda sc: sc.potential, "A/m^2": lambda sc: sc.current_density,
    "A/(m^2 s)": lambda sc: sc.current_density / sc.time,
    "m^3/mol": lambda sc: 1.0 / sc.concentration,
    "J/m^2": lambda sc: sc.fracture_energy, "Pa/s": lambda sc: sc.energy_density / sc.time,
    "1/K": lambda sc: 1.0 / sc.temperature,
}


def scaled_parameters(cfg) -> dict:
    """{"section.key": scaled value} of every physical parameter (Quantity) of `cfg`.

    Raises UserError naming the parameter when a scale or a scaled value is not a finite number (an input that is
    finite in SI can leave double precision once divided by its scale, e.g. a reaction rate of 1e300 1/s).
    """
    scales = Scales.from_config(cfg)
    for unit, scale_of in _UNIT_SCALES.items():  # the scales come from three parameters
        scale = scale_of(scales)
        if not (math.isfinite(scale) and scale > 0.0):
            ec = cfg.electrochemistry
            raise UserError(f"electrochemistry.reaction_rate ({float(ec.reaction_rate):g} 1/s), "
                            f"electrochemistry.ion_concentration ({float(ec.ion_concentration):g} mol/m^3), "
                            f"electrochemistry.temperature ({float(ec.temperature):g} K): the solver's scale for "
                            f"{unit} made from them is {scale:g}, not a finite positive number")
    out: dict = {}

    def walk(obj, where: str) -> None:
        for f in dataclasses.fields(obj):
            value, key = getattr(obj, f.name), f"{where}.{f.name}" if where else f.name
            if isinstance(value, Quantity):
                # units the time-dependent solver never scales (the lab section's J/mol, F/m, ...) keep scale 1
                scale = _UNIT_SCALES.get(value.unit, lambda sc: 1.0)(scales)
                values = value.value if isinstance(value.value, tuple) else (value.value,)
                scaled = [float(v) / scale for v in values]
                if not (math.isfinite(scale) and scale > 0.0 and all(math.isfinite(v) for v in scaled)):
                    raise UserError(f"{key}: {value.value!r} {value.unit} is out of range for the solver (scaled by "
                                    f"{scale:.3g} {value.unit} it is not a finite number)")
                out[key] = scaled if isinstance(value.value, tuple) else scaled[0]
            elif dataclasses.is_dataclass(value):
                walk(value, key)
            elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
                for i, item in enumerate(value):
                    walk(item, f"{key}[{i}]")

    walk(cfg, "")
    return out
