"""Run outputs: VTX series (ParaView), snapshots for `render`, probe histories, summary, checkpoints.

All files are written by rank 0 (VTX by ADIOS2, collectively); every scalar comes from an allreduce.
Fields are written in SI units on SI coordinates (m).
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
from pathlib import Path

import numpy as np
import ufl
from dolfinx import fem, geometry
from dolfinx.io import VTXWriter
from mpi4py import MPI

from fem_dendrite.parallel import rank_zero_section

PROBE_COLUMNS = ["time_s", "dt_s", "metal_measure", "na_ion_amount_mol", "counter_ion_flux_mol_s",
                 "plating_current_A", "mean_current_density_A_m2", "cell_voltage_V", "faradaic_current_A",
                 "metal_potential_V"]


@contextlib.contextmanager
def si_coordinates(msh, length_scale: float):
    """Temporarily put the (scaled) mesh geometry in metres for writing."""
    msh.geometry.x[:] *= length_scale
    try:
        yield
    finally:
        msh.geometry.x[:] /= length_scale


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class OutputFields:
    """SI copies of the fields for output: P1 (eta, c, phi) and DG0 (current density, overpotential, extras)."""

    def __init__(self, problem, extra_cell_fields=None):
        self.problem = problem
        sc = problem.scales
        msh = problem.mesh
        dim = problem.dim
        V = fem.functionspace(msh, ("Lagrange", 1))
        self.point = {"eta": fem.Function(V, name="eta"),
                      "c": fem.Function(V, name="c_mol_m3"),
                      "phi": fem.Function(V, name="phi_V")}
        self._point_scale = {"eta": 1.0, "c": sc.concentration, "phi": sc.potential}
        self._point_source = {"eta": problem.eta, "c": problem.c, "phi": problem.phi}
        fracture = None if problem.mechanics is None else problem.mechanics.fracture
        if fracture is not None:  # the electrolyte's damage, P1 on the same mesh (1: broken)
            self.point["damage"] = fem.Function(V, name="damage")
            self._point_scale["damage"], self._point_source["damage"] = 1.0, fracture.d
        W = fem.functionspace(msh, ("DG", 0, (dim,)))
        Q = fem.functionspace(msh, ("DG", 0))
        current = -problem.conductivity * ufl.grad(problem.phi) * sc.current_density
        self.cell = {"current_density": fem.Function(W, name="current_density_A_m2"),
                     "current_density_magnitude": fem.Function(Q, name="current_density_magnitude_A_m2")}
        self._cell_expr = {
            "current_density": fem.Expression(current, W.element.interpolation_points),
            "current_density_magnitude": fem.Expression(ufl.sqrt(ufl.inner(current, current)),
                                                        Q.element.interpolation_points),
            # |i| in the electrolyte: cells whose mixed conductivity stays below 10 x the largest electrolyte
            # conductivity (SE or GB). In metallic cells (even the diffuse tail: h(0.05) x 1e7 S/m = 1e4 S/m) |i| is
            # round-off of grad phi times a huge conductivity and says nothing about the interface.
            "electrolyte_current_density_magnitude": fem.Expression(
                ufl.conditional(ufl.lt(problem.conductivity, 10.0 * problem.electrolyte_conductivity_max),
                                ufl.sqrt(ufl.inner(current, current)), 0.0),
                Q.element.interpolation_points)}
        self.cell["electrolyte_current_density_magnitude"] = fem.Function(
            Q, name="electrolyte_current_density_magnitude_A_m2")
        # the interface overpotential (V, the one Butler-Volmer sees; meaningful where 0 < eta < 1: render masks
        # the rest), with the cells' hydrostatic stress in the Faradaic formulation as in the summary's span
        stress = None
        if problem.mechanics is not None and problem.formulation == "faradaic":
            stress = problem.mechanics.cell_fields()["hydrostatic_stress"]
        self.cell["overpotential"] = fem.Function(Q, name="overpotential_V")
        self._cell_expr["overpotential"] = fem.Expression(
            problem.overpotential_expression(stress) * sc.potential, Q.element.interpolation_points)
        for name, (expr, space_shape) in (extra_cell_fields or {}).items():
            space = fem.functionspace(msh, ("DG", 0, space_shape) if space_shape else ("DG", 0))
            self.cell[name] = fem.Function(space, name=name)
            self._cell_expr[name] = fem.Expression(expr, space.element.interpolation_points)

    def update(self) -> None:
        for name, src in self._point_source.items():
            self.point[name].x.array[:] = src.x.array * self._point_scale[name]
        for name, expr in self._cell_expr.items():
            self.cell[name].interpolate(expr)

    def cell_max(self, name: str) -> float:
        f = self.cell[name]
        local = np.max(np.abs(f.x.array[: f.function_space.dofmap.index_map.size_local * f.function_space.dofmap.index_map_bs]), initial=0.0)
        return self.problem.comm.allreduce(float(local), op=MPI.MAX)


class FieldWriter:
    """VTX series (fields*.bp, cells*.bp) and snapshot .npz files for rendering."""

    def __init__(self, out: Path, outputs: OutputFields, segment: int, gb_segments: np.ndarray | None):
        self.out = out
        self.outputs = outputs
        self.comm = outputs.problem.comm
        suffix = "" if segment == 0 else f"_{segment}"
        msh = outputs.problem.mesh
        self.vtx = [VTXWriter(self.comm, out / f"fields{suffix}.bp", list(outputs.point.values()), engine="BP4"),
                    VTXWriter(self.comm, out / f"cells{suffix}.bp", list(outputs.cell.values()), engine="BP4")]
        if self.comm.rank == 0:
            (out / "snapshots").mkdir(exist_ok=True)
        self._cells_local = msh.topology.index_map(msh.topology.dim).size_local
        self.gb_segments = gb_segments

    def write(self, t_s: float, index: int) -> None:
        self.outputs.update()
        L0 = self.outputs.problem.scales.length
        with si_coordinates(self.outputs.problem.mesh, L0):
            for writer in self.vtx:
                writer.write(t_s)
            self._snapshot(t_s, index)

    def _snapshot(self, t_s: float, index: int) -> None:
        """Gather owned cells (vertex coordinates repeated per cell) and field values onto rank 0."""
        prob = self.outputs.problem
        msh = prob.mesh
        n = self._cells_local
        geo = msh.geometry.dofmaps[0][:n]
        coords = msh.geometry.x[geo]  # (n, nv, 3)
        dofs = prob.V.dofmap.list[:n]
        point = {k: f.x.array[dofs] for k, f in self.outputs.point.items()}
        cell = {}
        for k, f in self.outputs.cell.items():
            bs = f.function_space.dofmap.index_map_bs
            cell[k] = f.x.array.reshape(-1, bs)[f.function_space.dofmap.list[:n, 0]]
        gathered = self.comm.gather((coords, point, cell), root=0)
        if self.comm.rank == 0:
            data = {"time_s": t_s, "coords": np.concatenate([g[0] for g in gathered])}
            for k in point:
                data[f"point_{k}"] = np.concatenate([g[1][k] for g in gathered])
            for k in cell:
                data[f"cell_{k}"] = np.concatenate([g[2][k] for g in gathered])
            if self.gb_segments is not None:
                data["gb_segments"] = self.gb_segments
            tmp = self.out / "snapshots" / f"snap_{index:05d}.tmp.npz"
            np.savez_compressed(tmp, **data)
            os.replace(tmp, self.out / "snapshots" / f"snap_{index:05d}.npz")

    def close(self) -> None:
        for writer in self.vtx:
            writer.close()


class PointProbes:
    """Field values at fixed points, evaluated on whichever rank owns the point."""

    def __init__(self, msh, points_scaled: np.ndarray):
        self.comm = msh.comm
        self.points = np.zeros((len(points_scaled), 3))
        if len(points_scaled):
            self.points[:, : points_scaled.shape[1]] = points_scaled
        tree = geometry.bb_tree(msh, msh.topology.dim)
        candidates = geometry.compute_collisions_points(tree, self.points)
        colliding = geometry.compute_colliding_cells(msh, candidates, self.points)
        n_local = msh.topology.index_map(msh.topology.dim).size_local
        self.cells = np.full(len(self.points), -1, dtype=np.int32)
        for i in range(len(self.points)):
            links = colliding.links(i)
            links = links[links < n_local]
            if len(links):
                self.cells[i] = links[0]
        found = np.where(self.cells >= 0, self.comm.rank, self.comm.size).astype(np.int64)
        self.owner = np.empty_like(found)
        self.comm.Allreduce(found, self.owner, op=MPI.MIN)
        missing = np.where(self.owner == self.comm.size)[0]
        if len(missing):
            raise ValueError(f"probe points {missing.tolist()} lie outside the mesh")

    def evaluate(self, functions: dict) -> dict:
        """{name: array of values at the points} (identical on all ranks)."""
        out = {}
        mine = self.owner == self.comm.rank
        for name, f in functions.items():
            values = np.zeros(len(self.points))
            if mine.any():
                values[mine] = np.asarray(f.eval(self.points[mine], self.cells[mine])).reshape(int(mine.sum()), -1)[:, 0]
            out[name] = np.empty_like(values)
            self.comm.Allreduce(values, out[name], op=MPI.SUM)
        return out


class ProbeLog:
    """probes.csv: one row per accepted step (rank 0 writes)."""

    def __init__(self, path: Path, comm, dim: int, point_columns: list[str], resume_time_s: float | None):
        self.path = path
        self.comm = comm
        self.columns = PROBE_COLUMNS + point_columns
        if comm.rank != 0:
            return
        if resume_time_s is not None and path.exists():
            rows = list(csv.reader(line for line in path.read_text().splitlines() if not line.startswith("#")))
            header, body = rows[0], rows[1:]
            # rows up to the checkpoint's time; a run killed while appending (SIGKILL) can leave a cut last line
            keep = [r for r in body if len(r) == len(header) and _number(r[0]) <= resume_time_s * (1 + 1e-12)]
            self._write_all(header, keep, dim)
        else:
            self._write_all(self.columns, [], dim)

    def _write_all(self, header, rows, dim):
        unit = "per metre of depth (2D)" if dim == 2 else "3D"
        with open(self.path, "w", newline="") as fh:
            fh.write(f"# fem-dendrite probes; amounts, currents and measures are {unit}: metal_measure m^{dim}, "
                     f"na_ion_amount_mol mol{'/m' if dim == 2 else ''}, counter_ion_flux_mol_s "
                     f"mol/s{'/m' if dim == 2 else ''}, plating_current_A and faradaic_current_A A{'/m' if dim == 2 else ''}\n")
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)

    def append(self, row: dict) -> None:
        if self.comm.rank == 0:
            with open(self.path, "a", newline="") as fh:
                csv.writer(fh).writerow([f"{row[c]:.10g}" for c in self.columns])


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return np.inf


def read_probes(path) -> dict:
    """probes.csv as {column: numpy array}."""
    lines = [line for line in Path(path).read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.reader(lines))
    header, body = rows[0], np.array(rows[1:], dtype=float).reshape(-1, len(rows[0]))
    return {name: body[:, i] for i, name in enumerate(header)}


def write_json(path: Path, data: dict, comm) -> None:
    if comm.rank == 0:
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


# -- checkpoints ------------------------------------------------------------------------------------------------------
# One file per checkpoint, independent of the partition: every function's values are stored cell by cell (the
# cell's dofs in the element's local order, (cells, dofs per cell, block size)) in the order of the mesh's original
# cell index, i.e. the cell order of mesh.msh, which the run re-reads on resume. Any number of ranks can load it: a
# rank takes the rows of its cells (owned and ghost) by their original index. This holds for every element whose
# cell-local dofs do not depend on the partition's global numbering: Lagrange up to degree 2, DG and quadrature spaces.
# The file is written by rank 0 to a temporary name, synced and renamed (atomic); the pointer latest.json names the
# newest complete file and is written (atomically) last, so a run killed at any moment (SIGKILL, OOM, node failure)
# leaves the previous checkpoint intact.
CHECKPOINT_FORMAT = 2
CHECKPOINT_POINTER = "latest.json"


def _sync_replace(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)


def _cell_rows(f, cells: int) -> np.ndarray:
    """f's values on the first `cells` local cells: (cells, dofs per cell, block size)."""
    V = f.function_space
    bs = V.dofmap.bs
    return f.x.array.reshape(-1, bs)[V.dofmap.list[:cells]]


def _cell_midpoints(msh, cells: int) -> np.ndarray:
    return msh.geometry.x[msh.geometry.dofmaps[0][:cells]].mean(axis=1)


def save_checkpoint(folder: Path, comm, functions: dict, scalars: dict, meta: dict, step: int,
                    arrays: dict | None = None) -> Path:
    """Write checkpoint_{step}.npz (functions by original cell index, global scalars, meta) and then the pointer.

    functions: {name: dolfinx Function} on one mesh; scalars: {name: float}, identical on every rank; meta: JSON-able.
    arrays: {name: array}, identical on every rank, stored as they are (load_checkpoint_array); with them the cells'
    node coordinates are stored too, so that a mesh rebuilt from them (an adapted one: mesh.adapt) can be matched by
    geometry (load_checkpoint(by_geometry=True)). Collective; rank 0 writes. Returns the path of the checkpoint file.
    """
    if not functions:
        raise ValueError("save_checkpoint: no functions to store")
    msh = next(iter(functions.values())).function_space.mesh
    tdim = msh.topology.dim
    owned = msh.topology.index_map(tdim).size_local
    keys = np.asarray(msh.topology.original_cell_index[:owned], dtype=np.int64)
    local = {"keys": keys, "midpoints": _cell_midpoints(msh, owned)}
    if arrays is not None:
        local["cell_nodes"] = msh.geometry.x[msh.geometry.dofmaps[0][:owned]]
        meta = {**meta, "arrays": sorted(arrays)}
        local.update({f"a:{name}": np.asarray(value) for name, value in arrays.items()})
    local.update({f"f:{name}": _cell_rows(f, owned) for name, f in functions.items()})
    gathered = comm.gather(local, root=0)
    path = folder / f"checkpoint_{step:06d}.npz"
    error = None
    with rank_zero_section(comm) as root:  # rank 0 writes; no garbage collection on it alone meanwhile
        if root:
            error = _write_checkpoint(folder, path, gathered, local, functions, scalars, meta, step, comm.size)
    error = comm.bcast(error, root=0)
    if error is not None:
        from fem_dendrite.errors import UserError
        raise UserError(error)
    return path


def _write_checkpoint(folder, path, gathered, local, functions, scalars, meta, step, ranks) -> str | None:
    """save_checkpoint's part on rank 0: the file, then the pointer; None or the one-line error."""
    error = None
    try:
        keys = np.concatenate([g["keys"] for g in gathered])
        order = np.argsort(keys)
        if not np.array_equal(keys[order], np.arange(len(keys))):
            return "checkpoint: the owned cells' original indices are not 0..N-1 exactly once (a bug; not written)"
        data = {name: np.concatenate([g[name] for g in gathered])[order] for name in local
                if name != "keys" and not name.startswith("a:")}
        data.update({name: value for name, value in local.items() if name.startswith("a:")})
        header = {"format": CHECKPOINT_FORMAT, "ranks": ranks, "step": step, "scalars": scalars,
                  "functions": sorted(functions), "meta": meta}
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".checkpoint_{step:06d}.npz.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, header=json.dumps(header), **data)
        _sync_replace(tmp, path)
        pointer = folder / f".{CHECKPOINT_POINTER}.tmp"
        pointer.write_text(json.dumps({"format": CHECKPOINT_FORMAT, "file": path.name, "step": step}) + "\n")
        _sync_replace(pointer, folder / CHECKPOINT_POINTER)
        for old in folder.glob("checkpoint_*.npz"):  # older checkpoints, now that the pointer has moved on
            if old.name != path.name:
                old.unlink(missing_ok=True)
        for old in ("state.npz", *(f.name for f in folder.glob("fields_r*.npz"))):  # the per-rank format
            (folder / old).unlink(missing_ok=True)
    except OSError as err:
        error = f"checkpoint: cannot write {path}: {err}"
    return error


def read_checkpoint_header(folder: Path, comm) -> dict | None:
    """The header of the newest complete checkpoint in `folder` (None if there is none); collective."""
    from fem_dendrite.errors import UserError

    result = None
    if comm.rank == 0:
        pointer = folder / CHECKPOINT_POINTER
        if pointer.exists():
            try:
                file = folder / json.loads(pointer.read_text())["file"]
                with np.load(file) as data:
                    header = json.loads(str(data["header"]))
                result = {**header, "path": str(file)}
            except (OSError, ValueError, KeyError) as err:
                result = {"error": f"--resume: the checkpoint in {folder} cannot be read ({err})"}
        elif (folder / "state.npz").exists():
            result = {"error": f"--resume: {folder} holds a checkpoint of an older fem-dendrite (per-rank files); "
                               "it cannot be resumed by this version"}
    result = comm.bcast(result, root=0)
    if result is not None and "error" in result:
        raise UserError(result["error"])
    return result


def load_checkpoint_array(header: dict, name: str) -> np.ndarray:
    """An array that save_checkpoint(arrays=...) stored (every rank reads it). Collective only in that every rank
    calls it; a checkpoint without it is a one-line UserError."""
    from fem_dendrite.errors import UserError

    if name not in header["meta"].get("arrays", ()):
        raise UserError(f"--resume: the checkpoint has no {name} (written without mesh.adapt?)")
    with np.load(header["path"]) as data:
        return np.array(data[f"a:{name}"])


def _geometric_rows(data, msh, cells: int, scale: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(stored row of each local cell, stored node of each of its nodes) by coordinates: the checkpoint's cell with
    this cell's midpoint, its nodes matched one by one (a rebuilt mesh may number a cell's nodes otherwise).
    (None, None) where a cell has no match within 1e-9 of the mesh's size."""
    from scipy.spatial import cKDTree

    here = msh.geometry.x[msh.geometry.dofmaps[0][:cells]]  # (cells, nodes, 3)
    distance, rows = cKDTree(data["midpoints"]).query(here.mean(axis=1))
    if len(rows) and distance.max() > 1e-9 * scale:
        return None, None
    stored = data["cell_nodes"][rows]  # (cells, nodes, 3)
    gap = np.linalg.norm(here[:, :, None, :] - stored[:, None, :, :], axis=3)  # (cells, here node, stored node)
    nodes = gap.argmin(axis=2)
    if len(rows) and np.take_along_axis(gap, nodes[:, :, None], axis=2).max() > 1e-9 * scale:
        return None, None
    return rows, nodes


def _reordered_rows(rows: np.ndarray, nodes: np.ndarray, quadrature: bool) -> np.ndarray | None:
    """Stored cell rows (cells, values per cell, block) in the order of this mesh's cells' nodes (_geometric_rows):
    P1 values follow their node; quadrature values stay where a cell's nodes are in the stored order and take the
    cell's mean where they are not (a point's place depends on the node order). None: another element."""
    identity = (nodes == np.arange(nodes.shape[1])).all(axis=1)
    if quadrature:
        rows = rows.copy()
        rows[~identity] = rows[~identity].mean(axis=1, keepdims=True)
        return rows
    if rows.shape[1] != nodes.shape[1]:
        return None
    return np.take_along_axis(rows, nodes[:, :, None], axis=1)


def load_checkpoint(header: dict, functions: dict, comm, by_geometry: bool = False) -> dict:
    """Fill `functions` ({name: Function}, on the mesh re-read from the run's mesh file) from the checkpoint that
    `header` (read_checkpoint_header) describes; returns its global scalars. Collective; every rank reads the file.

    by_geometry: the cells are found by their coordinates, not by their index in the mesh file (a mesh rebuilt by
    mesh.adapt from the points the checkpoint stores); for DG0, P1 and quadrature fields (_reordered_rows)."""
    from fem_dendrite.errors import UserError

    msh = next(iter(functions.values())).function_space.mesh
    tdim = msh.topology.dim
    imap = msh.topology.index_map(tdim)
    cells = imap.size_local + imap.num_ghosts
    keys = np.asarray(msh.topology.original_cell_index[:cells], dtype=np.int64)
    nodes = None
    missing = sorted(set(functions) - set(header["functions"]))
    problem = None
    with np.load(header["path"]) as data:
        stored_midpoints = data["midpoints"]
        n_cells = comm.allreduce(imap.size_local, op=MPI.SUM)
        scale = max(float(np.abs(stored_midpoints).max()), 1e-300)
        if len(stored_midpoints) != n_cells:
            problem = (f"the checkpoint has {len(stored_midpoints)} cells, the mesh {n_cells}: resume with the run's "
                       "own mesh.msh" + (" and mesh.adapt settings" if by_geometry else ""))
        elif missing:
            problem = f"the checkpoint has no {', '.join(missing)} (written with other settings?)"
        elif by_geometry:
            keys, nodes = _geometric_rows(data, msh, cells, scale)
            if keys is None:
                problem = "the adapted mesh's cells are not where the checkpoint's are (other mesh.adapt settings?)"
        else:
            here = _cell_midpoints(msh, cells)
            if not np.allclose(stored_midpoints[keys], here, rtol=0.0, atol=1e-9 * scale):
                problem = "the mesh's cells are not where the checkpoint's are: resume with the run's own mesh.msh"
        problem = comm.allreduce([problem] if problem else [], op=MPI.SUM)
        if problem:
            raise UserError(f"--resume: {problem[0]}")
        shapes = []
        for name, f in functions.items():
            rows = data[f"f:{name}"]
            target = _cell_rows(f, cells)
            if rows.shape[1:] != target.shape[1:]:
                shapes.append(f"{name} has {rows.shape[1:]} values per cell in the checkpoint, "
                              f"{target.shape[1:]} here (another element degree?)")
                continue
            rows = rows[keys]
            if nodes is not None and rows.shape[1] > 1:
                rows = _reordered_rows(rows, nodes, f.function_space.ufl_element().family_name == "quadrature")
                if rows is None:
                    shapes.append(f"{name}: a field on an adapted mesh must be DG0, P1 or on quadrature points")
                    continue
            bs = f.function_space.dofmap.bs
            f.x.array.reshape(-1, bs)[f.function_space.dofmap.list[:cells]] = rows
            f.x.scatter_forward()
        shapes = comm.allreduce(shapes, op=MPI.SUM)
        if shapes:
            raise UserError(f"--resume: {shapes[0]}")
    return dict(header["scalars"])
