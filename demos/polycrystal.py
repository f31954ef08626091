# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A Voronoi polycrystal and its grain-boundary field
#
# Build a small NZSP polycrystal with Gmsh, read it into dolfinx (serially or under `mpiexec`), and build the
# grain-boundary indicator beta that the property mixing rules use. Run with `python polycrystal.py` or
# `mpiexec -n 2 python polycrystal.py`; the printed numbers are the same on any number of ranks.

# %%
import tempfile
from pathlib import Path

from mpi4py import MPI

import fem_dendrite  # noqa: F401  (sets up the FEniCSx wheel before dolfinx)
import ufl
from dolfinx import fem
from fem_dendrite import mesh

comm = MPI.COMM_WORLD
folder = Path(comm.bcast(tempfile.mkdtemp() if comm.rank == 0 else None, root=0))
spec = mesh.PolycrystalSpec(dim=2, size=(2.0e-6, 2.0e-6), grains=10, seed=3, lloyd_iterations=2)
path = mesh.generate_polycrystal(spec, folder / "demo.msh", comm)

# %% [markdown]
# `mesh_info` gives global numbers (allreduced), the same on 1 and N ranks.

# %%
info = mesh.mesh_info(path, comm)
if comm.rank == 0:
    print({k: info[k] for k in ("n_grains", "n_cells", "domain_measure", "gb_measure")})

# %% [markdown]
# beta = 1 on grain boundaries, decaying to 0 over the GB width; its integral is about (GB length) x (width).

# %%
meshdata = mesh.read_mesh(path, comm)
beta = mesh.gb_indicator(meshdata, width=5.0e-8)
integral = comm.allreduce(fem.assemble_scalar(fem.form(beta * ufl.dx(domain=meshdata.mesh))), op=MPI.SUM)
if comm.rank == 0:
    print(f"integral of beta = {integral:.4g} m^2 ~ GB length x width = {info['gb_measure'] * 5.0e-8:.4g} m^2")
assert 0.5 < integral / (info["gb_measure"] * 5.0e-8) < 1.5

# %% [markdown]
# The picture: beta over the mesh (rank 0 gathers each rank's cells) with the grain-boundary facets in white.

# %%
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.tri import Triangulation

from fem_dendrite import render

V = beta.function_space
dofs = V.dofmap.list[: meshdata.mesh.topology.index_map(meshdata.mesh.topology.dim).size_local]
cells = comm.gather((V.tabulate_dof_coordinates()[dofs][..., :2], beta.x.array[dofs]), root=0)
segments = mesh.gb_segments(meshdata)  # every GB facet, on every rank
picture = None
if comm.rank == 0:
    xy = np.concatenate([c[0] for c in cells]).reshape(-1, 2) * 1e6  # um
    values = np.concatenate([c[1] for c in cells]).reshape(-1)
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    shade = ax.tripcolor(Triangulation(xy[:, 0], xy[:, 1], np.arange(len(xy)).reshape(-1, 3)), values,
                         shading="gouraud", cmap="viridis")
    ax.add_collection(LineCollection(segments * 1e6, colors="white", linewidths=0.6))
    fig.colorbar(shade, ax=ax, label="beta (1 on a grain boundary)")
    ax.set(aspect="equal", xlabel="x (um)", ylabel="y (um)", title=f"{info['n_grains']} grains, GB width 50 nm")
    fig.tight_layout()
    picture = folder / "beta.png"
    fig.savefig(picture, dpi=110)
render.inline(picture)  # the picture inline in the notebook (a plain script: nothing)
