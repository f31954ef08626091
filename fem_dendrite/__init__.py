"""fem-dendrite: phase-field simulation of Na dendrite growth through polycrystalline solid electrolytes.

Data flows one way: config -> mesh -> materials -> forms -> solver -> outputs.
"""
# The binary FEniCSx wheel must be imported before dolfinx/petsc4py to set up its libraries.
import dolfinx_solver  # noqa: F401

__version__ = "0.1.0"
