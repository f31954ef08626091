"""The coupled Newton on one interleaved space (solver.layout = "interleaved").

The physics modules write one residual per field, each on its own P1 space (eta, c, phi): dolfinx then assembles a
blocked Jacobian block by block, n^2 forms, each with its own coefficient packing and its own pass over the cells.
When every unknown is a scalar P1 field on the same mesh, the same equations are one form on the vector space
P1^n: node i of field k is dof n i + k (node-major). Each cell then packs its coefficients once and inserts one
(3n x 3n) block; on the peer benchmark's 128^2 mesh (3 fields, 1 rank) the Jacobian costs 27 ms instead of 57 ms
and the residual 4.5 ms instead of 17.7 ms (benchmarks/peer_lithium.py, docs/peer_lithium.md).

The Jacobian is assembled into a block-AIJ matrix (BAIJ, one n x n block per pair of nodes) and copied into the
AIJ matrix the linear solvers see: inserting a cell's (3n x 3n) values into AIJ searches every one of its rows for
every column, into BAIJ once per block. On the same mesh: 13.8 ms into BAIJ + 5.5 ms for the copy instead of
28.4 ms into AIJ (1 rank), 8.6 + 2.8 instead of 15.9 ms on 2 ranks; the matrices are equal to round-off.

The forms are the per-field residuals with the fields and test functions replaced by the components of the
interleaved state (ufl.replace): the same integrands, the same quadrature, so the residual is the same vector up
to the order of the rows. The rest of the code keeps working on the per-field Functions: `gather` copies them
into the interleaved state before the Newton and `scatter` copies the result back.

Dirichlet conditions: the per-field conditions set their values into the fields before each solve (`gather`), so
the Newton starts on the constraint and keeps it (its increment is zero on those rows: identity rows and columns
in the Jacobian, a residual of x - x_start there). The residual therefore needs no lifting: dolfinx's lifting
assembles the Jacobian's forms against the boundary values at every residual evaluation (40 % of the residual's
cost above) to add a term that is zero once the iterate satisfies the constraint.
"""
from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from petsc4py import PETSc


def can_interleave(unknowns) -> bool:
    """True when every unknown is a scalar P1 field on one mesh with the same node numbering (the condition for
    one P1^n space whose node i is node i of each field)."""
    if len(unknowns) < 2:
        return False
    first = unknowns[0].function_space
    for u in unknowns:
        V = u.function_space
        element = V.ufl_element()
        if (V.mesh is not first.mesh or V.dofmap.index_map_bs != 1 or element.family_name not in ("P", "Q")
                or element.embedded_superdegree != 1 or len(V.value_shape) != 0):
            return False
        if V is not first and not (np.array_equal(V.dofmap.list, first.dofmap.list)
                                   and V.dofmap.index_map.size_local == first.dofmap.index_map.size_local
                                   and np.array_equal(V.dofmap.index_map.ghosts, first.dofmap.index_map.ghosts)):
            return False
    return True


class InterleavedSystem:
    """The residuals of scalar P1 `unknowns` (one per field, field k tested with its own test function) as one
    form on P1^n, its Dirichlet rows, and the copies between the fields and the interleaved state."""

    def __init__(self, residuals, unknowns, bcs):
        if not can_interleave(unknowns):
            raise ValueError("solver.layout = 'interleaved' needs scalar P1 unknowns on one mesh")
        self.unknowns = list(unknowns)
        self.n = n = len(unknowns)
        V = unknowns[0].function_space
        self.space = fem.functionspace(V.mesh, ("Lagrange", 1, (n,)))
        index_map = self.space.dofmap.index_map
        if not (np.array_equal(self.space.dofmap.list, V.dofmap.list)
                and np.array_equal(index_map.ghosts, V.dofmap.index_map.ghosts)):
            raise ValueError("the interleaved space numbers its nodes differently from the fields' spaces")
        self.state = fem.Function(self.space, name="newton_state")
        self._test = ufl.TestFunction(self.space)
        self.residual = self.vector_form(residuals)
        # (condition, index of its field) of the per-field Dirichlet conditions, and the same rows on the interleaved
        # space; their values are the state's own at the start of the solve
        self._field_bcs = [(bc, self._field_of(bc)) for bc in bcs]
        zero = fem.Constant(V.mesh, PETSc.ScalarType(0.0))
        self.bcs, rows = [], []
        for bc, k in self._field_bcs:
            dofs, _ = bc.dof_indices()
            interleaved = (n * dofs.astype(np.int64) + k).astype(np.int32)
            self.bcs.append(fem.dirichletbc(zero, interleaved, self.space.sub(k)))
            rows.append(interleaved)
        owned = index_map.size_local * n
        rows = np.unique(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int32)
        self._owned_bc_rows = rows[rows < owned]
        self._start = np.zeros(0)

    def on_state(self, form):
        """`form` (or expression) with the fields replaced by the components of the interleaved state: what it
        is at the Newton's current iterate (the fields themselves are only updated after the solve)."""
        return ufl.replace(form, {u: self.state[j] for j, u in enumerate(self.unknowns)})

    def vector_form(self, forms):
        """One linear form on P1^n from one linear form per field (forms[k] tested with field k's test function),
        on the state."""
        total = 0
        for k, form in enumerate(forms):
            (argument,) = form.arguments()
            total = total + ufl.replace(self.on_state(form), {argument: self._test[k]})
        return total

    def _field_of(self, bc) -> int:
        for k, u in enumerate(self.unknowns):
            if bc.function_space == u.function_space._cpp_object:
                return k
        raise ValueError("a Dirichlet condition on a space that is not one of the unknowns'")

    def gather(self) -> None:
        """Fields -> interleaved state, after setting the Dirichlet values into the fields (ghosts included)."""
        for bc, k in self._field_bcs:
            bc.set(self.unknowns[k].x.array)
        view = self.state.x.array.reshape(-1, self.n)
        for k, u in enumerate(self.unknowns):
            view[:, k] = u.x.array
        self._start = self.state.x.array[self._owned_bc_rows].copy()

    def scatter(self) -> None:
        """Interleaved state -> fields (ghosts included)."""
        view = self.state.x.array.reshape(-1, self.n)
        for k, u in enumerate(self.unknowns):
            u.x.array[:] = view[:, k]

    def index_sets(self, comm, first_row: int) -> list[PETSc.IS]:
        """Field k's owned rows of the interleaved matrix: first_row + k, + n, ... (one IS per field)."""
        nodes = self.space.dofmap.index_map.size_local
        return [PETSc.IS().createStride(nodes, first=first_row + k, step=self.n, comm=comm) for k in range(self.n)]

    def _load(self, x) -> None:
        """The SNES iterate x (owned values) -> the interleaved state, ghosts included."""
        x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        fem_petsc.assign(x, self.state)

    def install(self, nonlinear_problem) -> None:
        """Replace the SNES residual by the lifting-free one and its Jacobian assembly by the block-wise one (see the
        module docstring)."""
        self._install_residual(nonlinear_problem)
        self._install_jacobian(nonlinear_problem)

    def _install_residual(self, nonlinear_problem) -> None:
        snes = nonlinear_problem.solver
        b = snes.getFunction()[0]
        form = nonlinear_problem.F

        def residual(_snes, x, b):
            self._load(x)
            with b.localForm() as local:
                local.set(0.0)
            fem_petsc.assemble_vector(b, form)
            b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            rows = self._owned_bc_rows
            if rows.size:
                values = b.getArray()
                values[rows] = x.getArray(readonly=True)[rows] - self._start
            b.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)

        snes.setFunction(residual, b)

    def _install_jacobian(self, nonlinear_problem) -> None:
        """Assemble the Jacobian into a block-AIJ matrix (one n x n block per pair of nodes), then copy it into the
        SNES's AIJ matrix, which the linear solvers use (PCFIELDSPLIT extracts each field's rows from it: a BAIJ
        matrix silently returns zero sub-blocks for index sets that split its blocks, PETSc 3.25)."""
        snes = nonlinear_problem.solver
        form = nonlinear_problem.J
        bcs = self.bcs
        self._blocked = blocked = fem_petsc.create_matrix(form, kind="baij")
        self._converted = None  # blocked as AIJ: made at the first assembly (an unassembled BAIJ has no pattern yet)

        def jacobian(_snes, x, J, _P):
            self._load(x)
            if not J.assembled:  # the first time straight into J: it fixes J's assembled pattern
                J.zeroEntries()
                fem_petsc.assemble_matrix(J, form, bcs, diag=1.0)
                J.assemble()
                return
            blocked.zeroEntries()
            fem_petsc.assemble_matrix(blocked, form, bcs, diag=1.0)
            blocked.assemble()
            if self._converted is None:
                self._converted = blocked.convert("aij", PETSc.Mat())
            else:
                blocked.convert("aij", self._converted)
            # J keeps its identity (the field split caches its sub-matrices on it); assembled AIJ patterns of the
            # same nonzeros are the same arrays, so this copies the values only
            self._converted.copy(J, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)

        snes.setJacobian(jacobian, nonlinear_problem.A, nonlinear_problem.P_mat)

    def close(self) -> None:
        """Destroy the block-AIJ Jacobian (collective: with the SNES, on every rank)."""
        for name in ("_blocked", "_converted"):
            matrix = getattr(self, name, None)
            if matrix is not None:
                matrix.destroy()
                setattr(self, name, None)
