"""Run configuration: typed, frozen dataclasses loaded from TOML and validated on load.

Physical parameters are TOML tables ``{ value = ..., unit = "...", source = "..." }`` in SI units; the unit must
match the one the code expects (checked on load) and the source says where the number comes from (paper, table,
or 'assumed: why'). Numerical settings (mesh resolution, time stepping, solver, output) are plain keys whose name
ends in their unit (``size_m``, ``end_s``).

A user file only needs the entries that differ from the bundled default case (``configs/default.toml``): it is
laid over it. ``--set section.key=value`` overrides any entry last (a physical parameter's value; its source
becomes 'override').

Modules: ``schema`` (the sections as frozen dataclasses, each field with its unit and accepted range),
``loading`` (TOML in and out, overrides, field checks), ``validation`` (checks across sections).
"""
from fem_dendrite.config.loading import (  # noqa: F401  (the public names, re-exported)
    bundled_config_names, bundled_config_path, load, to_dict, to_toml)
from fem_dendrite.config.schema import (  # noqa: F401
    MAX_CELLS, Config, CrackSegment, ElectrochemistryConfig, ElectrodeConfig, ElectrolyteMaterial, FractureConfig,
    GrainBoundaryMaterial, InitialConfig, LabConfig, MaterialsConfig, MechanicsConfig, MeshConfig, Nucleus,
    OutputConfig, PhaseMaterial, SolverConfig, TimeConfig)
from fem_dendrite.errors import UserError  # noqa: F401
from fem_dendrite.scaling import Quantity  # noqa: F401
