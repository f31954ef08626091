"""Linear solver recipes for the coupled Newton: direct (MUMPS LU) or iterative (FGMRES + PCFIELDSPLIT).

A recipe is data: a dict of PETSc options per preset (PRESETS), laid under the problem's SNES prefix and
overridden by the config's [solver.petsc] table. `solver.preset`:

- "lu": MUMPS LU of the whole Jacobian every Newton iteration (robust; its cost and memory grow superlinearly
  with the number of unknowns, ~N^1.5 in 2D and ~N^2 in 3D for the factorisation).
- "fieldsplit": FGMRES on the whole Jacobian, preconditioned block by block (PCFIELDSPLIT, multiplicative = block
  Gauss-Seidel in the order eta, c, phi[, u]): smoothed-aggregation AMG (GAMG) on the potential (threshold 0.1: the
  metal/electrolyte conductivity contrast is ~1e8; 0.02, the first choice, failed the 3D Faradaic Newton, see
  _AMG_POTENTIAL) and on the displacement (threshold 0.02, its rigid-body modes attached as near-nullspace), block-Jacobi/ILU(0) on eta and
  c (mass-dominated at the steps the phase field takes). The linear tolerance is fixed (ksp_rtol = 1e-6 of the
  Newton residual), not Eisenstat-Walker: the potential's residual has a round-off floor (~1.7e-5 scaled, from the
  1e8 metal/electrolyte conductivity contrast) that dominates the global norm once eta and c have converged, so
  EW's forcing term (from the ratio of successive global norms) goes to ~0.9, FGMRES does one iteration, and the
  displacement block, which the convergence test requires at 1e-9, creeps down by ~0.7 per Newton iteration: 12
  Newton iterations and a rejected step at every step of the default case refined 2x (measured; ew_rtolmax = 0.01
  did not help either, since the linear tolerance is relative to the same floor). With ksp_rtol = 1e-6 the
  Newton counts are those of LU (16 for the same 3 steps) at ~14 FGMRES iterations per Newton iteration.
  There is no hypre (BoomerAMG) in this PETSc build, hence GAMG.
- "auto": "fieldsplit" from auto_threshold(dim, displacement) global unknowns on, else "lu".

dolfinx 0.11 wires PCFIELDSPLIT automatically only for MATNEST. With solver.layout = "interleaved" (scalar P1
unknowns, fem_dendrite.solve.interleaved) field k is every n-th row (strided index sets); otherwise the coupled problem
uses one blocked MATAIJ (NonlinearProblem with a list of forms), whose rows are ordered rank by rank and, inside a rank, block by block
(rank r owns [offset_r, offset_r + sum_b n_b) with block b's owned dofs at offset_r + sum_{b' < b} n_b'). The index
sets are built from that layout (block_index_sets) for any list of named blocks, so a problem with more blocks
(e.g. a one-dof global unknown) gets its splits the same way: a block with one global dof gets a split of its own,
solved by Jacobi (exact for a 1 x 1 block).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite.errors import UserError

# From this many global unknowns on, "auto" picks the fieldsplit preset, by (mesh dimension, whether the Newton holds
# the displacement block). Measured with benchmarks/scaling.py on 2 ranks (docs/performance/scaling.md "Solver presets and scaling").
# With the displacement (the monolithic (eta, c, phi, u) Newton of gao2024; results/scaling/scaling_{2d,3d}.json):
# 2D: LU and fieldsplit within the load noise at 18.5k and 69k unknowns, fieldsplit 2.7 x faster at 267k; 3D:
# fieldsplit 2.0 x faster already at the smallest size measured, 12,264 unknowns (3.1 x at 57k: the MUMPS
# factorisation of a 3D mesh fills in far more). Without it (the Faradaic (eta, phi) Newton, galvanostatic,
# interleaved; docs/scaling_{2d,3d}_faradaic.json): 2D: fieldsplit 1.4-1.6 x faster at every size measured, from
# 7.4k to 420k unknowns; 3D: the two equal at 9.6k, fieldsplit 1.8 x faster at 19k, 3.3 x at 115k. Below the
# smallest size measured in each case: LU.
AUTO_FIELDSPLIT_DOFS = {(2, True): 200_000, (2, False): 7_000, (3, True): 12_000, (3, False): 12_000}


def auto_threshold(dim: int, displacement: bool) -> int:
    """Global unknowns from which "auto" picks "fieldsplit" (AUTO_FIELDSPLIT_DOFS) on a `dim`-dimensional mesh, for
    a Newton with or without the displacement block."""
    return AUTO_FIELDSPLIT_DOFS[(3 if dim == 3 else 2, bool(displacement))]

_DIRECT = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}

_LOCAL = {"ksp_type": "preonly", "pc_type": "bjacobi", "sub_pc_type": "ilu"}  # eta, c
_AMG = {"ksp_type": "preonly", "pc_type": "gamg", "pc_gamg_threshold": 0.02, "pc_gamg_agg_nsmooths": 1}  # u
# phi: threshold 0.1 (docs/performance/scaling.md "Solver presets and scaling"): with 0.02 the Faradaic 3D Newton on 1 rank needed
# 640-1190 FGMRES iterations per step and rejected steps once the front moved under capillarity, with 0.1 161-261
# and none (on 2 ranks 0.1 alone was not enough: _POTENTIAL_INNER_3D); in 2D 0.1 is as fast (gao2024 at 55k
# unknowns: 13.1 instead of 14.3 FGMRES per Newton; Faradaic at 160k: the same 29.3)
_AMG_POTENTIAL = {**_AMG, "pc_gamg_threshold": 0.1}
# phi in 3D: the V-cycle inside an FGMRES of its own (to 1e-2, at most 30 iterations) instead of one V-cycle. The
# coarse polycrystal_3d run (Faradaic, 21k coupled unknowns, 2 ranks) failed at t = 0.54 s with one V-cycle (the outer
# FGMRES hit its 400 iterations at every dt; with threshold 0.02 or 0.1, with or without the predictor) and ran to
# t = 1.2 s in 9 steps, none rejected, 41-55 outer iterations per step, with the inner solve. In 2D it is not needed
# and costs ~15 % per step (Faradaic 160k unknowns: 1.81 s vs 1.56 s; gao2024 55k: 0.27 s vs 0.24 s), so 2D keeps one
# V-cycle (docs/performance/scaling.md "Solver presets and scaling").
_POTENTIAL_INNER_3D = {"ksp_type": "fgmres", "ksp_rtol": 1.0e-2, "ksp_max_it": 30}
_SCALAR = {"ksp_type": "preonly", "pc_type": "jacobi"}  # a block with one global dof

PRESETS = {
    "lu": dict(_DIRECT),
    "fieldsplit": {
        "ksp_type": "fgmres",
        "ksp_gmres_restart": 100,
        "ksp_max_it": 400,
        # a fixed linear tolerance, not Eisenstat-Walker: see the module docstring
        "ksp_rtol": 1.0e-6,
        "ksp_atol": 1.0e-14,
        "snes_ksp_ew": False,
        "pc_type": "fieldsplit",
        "pc_fieldsplit_type": "multiplicative",
        **{f"fieldsplit_eta_{k}": v for k, v in _LOCAL.items()},
        **{f"fieldsplit_c_{k}": v for k, v in _LOCAL.items()},
        **{f"fieldsplit_phi_{k}": v for k, v in _AMG_POTENTIAL.items()},
        **{f"fieldsplit_u_{k}": v for k, v in _AMG.items()},
    },
}

# options each preset sets explicitly, so that a problem built after another one in the same process does not
# inherit a setting of the other's (NonlinearProblem applies the options database of its prefix when built)
_RESET = {"snes_ksp_ew": False}

_installed: dict[str, set] = {}  # prefix -> option names this module put into the options database


def global_dofs(unknowns) -> int:
    """Number of global unknowns (all blocks)."""
    return sum(u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
               for u in unknowns)


def choose_preset(preset: str, n_global: int, dim: int = 2, displacement: bool = True) -> str:
    """The preset actually used: "auto" -> "fieldsplit" from auto_threshold(dim, displacement) unknowns on (dim: the
    mesh dimension; displacement: the Newton holds a vector block "u"), else "lu"."""
    if preset == "auto":
        return "fieldsplit" if n_global >= auto_threshold(dim, displacement) else "lu"
    if preset not in PRESETS:
        raise UserError(f"solver.preset: expected one of 'auto', {', '.join(map(repr, PRESETS))}, got {preset!r}")
    return preset


def block_index_sets(unknowns, comm, first_row: int | None = None) -> list[tuple[str, PETSc.IS]]:
    """(name, IS) per block of the blocked (MATAIJ) layout of `unknowns` (their names, in order).

    Rank r owns global rows [offset_r, offset_r + sum_b n_b) with n_b = size_local x bs of block b, block after
    block (dolfinx.fem.petsc.create_matrix of a list of forms, kind None or "mpi"). `first_row`: the matrix's
    first owned row (checked against the offset computed here). Each IS carries its block's block size.
    """
    sizes = [u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs for u in unknowns]
    offset = comm.exscan(sum(sizes), op=MPI.SUM) if comm.size > 1 else 0
    offset = 0 if offset is None else offset
    if first_row is not None and first_row != offset:
        raise RuntimeError(f"fieldsplit: the matrix's first owned row {first_row} is not the blocked layout's "
                           f"offset {offset} (dolfinx changed its block ordering?)")
    sets = []
    start = offset
    for u, n in zip(unknowns, sizes):
        index_set = PETSc.IS().createStride(n, first=start, step=1, comm=comm)
        index_set.setBlockSize(u.function_space.dofmap.index_map_bs)
        sets.append((u.name, index_set))
        start += n
    return sets


def rigid_body_modes(V) -> PETSc.NullSpace:
    """Orthonormal rigid-body modes of a vector space V (2D: 2 translations + 1 rotation; 3D: 3 + 3), as a PETSc
    NullSpace whose vectors have V's owned layout (the near-nullspace of elasticity for GAMG)."""
    dim = V.mesh.geometry.dim
    modes = []

    def translation(i):
        return lambda x: np.vstack([np.full(x.shape[1], 1.0 if j == i else 0.0) for j in range(dim)])

    for i in range(dim):
        modes.append(translation(i))
    rotations = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    for i, j in rotations:
        def rotation(x, i=i, j=j):
            v = np.zeros((dim, x.shape[1]))
            v[i], v[j] = -x[j], x[i]
            return v
        modes.append(rotation)
    funcs = []
    for mode in modes:
        f = fem.Function(V)
        f.interpolate(mode)
        funcs.append(f)
    n = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
    vecs = []
    for f in funcs:
        v = PETSc.Vec().createMPI((n, PETSc.DECIDE), bsize=V.dofmap.index_map_bs, comm=V.mesh.comm)
        v.getArray()[:] = f.x.array[:n]
        vecs.append(v)
    # Gram-Schmidt (PETSc.NullSpace needs orthonormal vectors)
    for k, v in enumerate(vecs):
        for w in vecs[:k]:
            v.axpy(-v.dot(w), w)
        v.normalize()
    space = PETSc.NullSpace().create(vectors=vecs, comm=V.mesh.comm)
    for v in vecs:
        v.destroy()
    return space


@dataclass(frozen=True)
class SolverSetup:
    """What configure_solver chose: the preset used, its options (without prefix) and the global unknowns."""

    preset: str
    options: dict
    n_global: int


def preset_options(preset: str, unknowns, user: dict, dim: int = 2) -> dict:
    """The option dict of a preset (without prefix) for these blocks on a `dim`-dimensional mesh, overridden by the
    user's [solver.petsc]."""
    options = dict(_RESET)
    names = [u.name for u in unknowns]
    # only the splits this problem has (an option for a missing split would be reported unused by PETSc)
    options.update({k: v for k, v in PRESETS[preset].items()
                    if not k.startswith("fieldsplit_") or any(k.startswith(f"fieldsplit_{n}_") for n in names)})
    if preset == "fieldsplit" and dim == 3 and "phi" in names:
        options.update({f"fieldsplit_phi_{k}": v for k, v in _POTENTIAL_INNER_3D.items()})
    if preset == "fieldsplit":
        for u in unknowns:  # a block with one global dof (e.g. a global 'real' unknown): a split of its own
            if u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs == 1:
                options.update({f"fieldsplit_{u.name}_{k}": v for k, v in _SCALAR.items()})
    options.update(user)
    return options


def release_options(prefix: str) -> None:
    """Remove the options configure_solver put into the database under `prefix` (local, not collective)."""
    db = PETSc.Options()
    for key in _installed.pop(prefix, set()):
        db.delValue(f"{prefix}{key}")


def configure_solver(nonlinear_problem, unknowns, cfg, prefix: str, interleaved=None) -> SolverSetup:
    """Set the linear solver of a dolfinx NonlinearProblem built on the blocked `unknowns` (named Functions).

    cfg.solver.preset picks the recipe (PRESETS; "auto" by size); [solver.petsc] entries override it. For
    "fieldsplit" the splits are the blocks, named after the unknowns (options fieldsplit_<name>_...), and a
    vector block named "u" gets its rigid-body modes as near-nullspace. Collective.

    The options live in PETSc's (global) options database under `prefix` from here until the problem's first
    Newton iteration has set up its preconditioner (the splits' solvers read them then); configuring another
    problem with the same prefix before that replaces them, and the first problem's splits then get PETSc's
    default sub-solvers. Build and solve problems one after the other (as the simulation and the tests do).
    `interleaved`: the problem's fem_dendrite.solve.interleaved.InterleavedSystem when its Newton runs on one P1^n
    space; the splits are then its strided fields.
    """
    comm = unknowns[0].function_space.mesh.comm
    n_global = global_dofs(unknowns)
    dim = unknowns[0].function_space.mesh.topology.dim
    displacement = any(u.name == "u" for u in unknowns)
    preset = choose_preset(cfg.solver.preset, n_global, dim, displacement)
    options = preset_options(preset, unknowns, dict(cfg.solver.petsc), dim)
    snes = nonlinear_problem.solver
    pc = snes.getKSP().getPC()

    release_options(prefix)  # what an earlier problem with this prefix left
    db = PETSc.Options()
    for key, value in options.items():
        db[f"{prefix}{key}"] = value
    _installed[prefix] = set(options)

    if options.get("pc_type") == "fieldsplit":
        pc.setType("fieldsplit")
        nullspaces = []
        first_row = nonlinear_problem.A.getOwnershipRange()[0]
        if interleaved is not None:
            index_sets = list(zip([u.name for u in unknowns], interleaved.index_sets(comm, first_row)))
        else:
            index_sets = block_index_sets(unknowns, comm, first_row)
        for u, (name, index_set) in zip(unknowns, index_sets):
            if name == "u" and u.function_space.dofmap.index_map_bs > 1:
                space = rigid_body_modes(u.function_space)
                index_set.compose("nearnullspace", space)  # PCFIELDSPLIT hands it to the split's matrix
                nullspaces.append(space)
        pc.setFieldSplitIS(*index_sets)
        # the PC (and each IS its near-nullspace) holds a reference: release ours here, on every rank
        for _, index_set in index_sets:
            index_set.destroy()
        for space in nullspaces:
            space.destroy()
    # the options stay in the database under this prefix until the first linear solve is done: the splits' solvers
    # (and theirs: bjacobi blocks, GAMG levels) read them when the preconditioner is first set up
    snes.setFromOptions()

    def release(snes_, it, fnorm):  # after the first Newton iteration (same point on every rank)
        if it >= 1 and _installed.get(prefix) is installed:
            release_options(prefix)

    installed = _installed[prefix]
    snes.setMonitor(release)
    return SolverSetup(preset, options, n_global)
