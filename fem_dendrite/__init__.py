"""fem-dendrite: phase-field simulation of Na dendrite growth through polycrystalline solid electrolytes.

Data flows one way: config -> mesh -> materials -> forms -> solver -> outputs. The package reads in that order:

- ``errors``, ``parallel``: the exceptions a user sees and the MPI helpers;
- ``scaling``: physical quantities and the nondimensionalisation (the one place SI values are scaled);
- ``config``: the run configuration, typed and frozen, loaded from TOML (``configs/``);
- ``mesh``: Gmsh Voronoi polycrystals, tags, reading;
- ``materials``: property interpolation and mixing;
- ``physics``: the weak forms, one function per equation;
- ``solve``: the coupled problems, their Newton solvers and the time stepping;
- ``io``, ``analysis``, ``progress``, ``render``: what a run writes, measures, prints and draws;
- ``simulation``: a run from config to outputs;
- ``lab``, ``studies``: conductivity/impedance and Weibull tools; sweeps and CCD ensembles;
- ``hpc``, ``cli``: batch jobs and the command line.

tests/test_architecture.py holds this order: no import cycle, no import against the data flow.
"""
# The binary FEniCSx wheel must be imported before dolfinx/petsc4py to set up its libraries.
import dolfinx_solver  # noqa: F401
from petsc4py import PETSc  # noqa: E402

# A solver prefix whose options a run never reaches (e.g. the coupled Newton of a mechanics-only case, which converges
# before its first linear solve) is not a user error: no "Option left" list at exit.
PETSc.Options()["options_left"] = "0"

__version__ = "0.1.0"
