"""The interleaved Newton layout (solver.layout, fem_dendrite.solve.interleaved): the same residual as the blocked layout
(its lifting-free form included), the same Newton steps to the solver tolerance with LU and with the field split, the
Dirichlet values of the new time, and the choice of layout. Tests marked mpi also run on 2 ranks."""
from __future__ import annotations

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI

from fem_dendrite import config
from fem_dendrite.solve.coupling import MechanicsCoupling
from fem_dendrite.errors import UserError
from fem_dendrite.solve.faradaic_problem import FaradaicProblem
from fem_dendrite.solve.problem import CoupledProblem, rectangle_domain
from fem_dendrite.scaling import Scales
from test_solver import advance, owned  # fixed steps; a field's owned values

COMM = MPI.COMM_WORLD
SQUARE = 2.0  # um (scaled)
GAO = ["electrochemistry.formulation=\"gao2024\"", "mechanics.enabled=false", "electrode.control=\"potentiostatic\""]


def build(layout, overrides=(), n=12, cls=CoupledProblem, mechanics=False):
    cfg = config.load(None, [*GAO, f"solver.layout=\"{layout}\"", *overrides])
    scales = Scales.from_config(cfg)
    mech = MechanicsCoupling(cfg, scales) if mechanics else None
    problem = cls(cfg, rectangle_domain(COMM, SQUARE, SQUARE, n, n), scales, mechanics=mech)
    problem.set_initial_state()
    return problem


def max_diff(a, b) -> float:
    return COMM.allreduce(float(np.max(np.abs(a - b), initial=0.0)), op=MPI.MAX)


@pytest.mark.mpi
def test_block_assembled_jacobian_is_the_direct_assembly():
    """The Jacobian the SNES sees, assembled the first time straight into AIJ and afterwards into BAIJ and copied,
    equals dolfinx's direct AIJ assembly of the same form at the same (changed) state, to round-off; a state change
    reaches it (the copy is not stale)."""
    problem = build("interleaved")
    problem.set_time(0.0, 1.0e-3)
    il, snes = problem.interleaved, problem.nonlinear.solver
    il.gather()
    x = fem_petsc.create_vector(il.space)
    J = problem.nonlinear.A
    rng = np.random.default_rng(COMM.rank)
    previous = None
    for evaluation in range(3):
        il.state.x.array[:] += 0.05 * rng.random(il.state.x.array.size)
        il.state.x.scatter_forward()
        fem_petsc.assign(il.state, x)
        snes.computeJacobian(x, J, J)
        direct = fem_petsc.assemble_matrix(problem.nonlinear.J, il.bcs, diag=1.0)
        direct.assemble()
        scale = direct.norm()
        difference = direct.copy()
        difference.axpy(-1.0, J)
        assert scale > 0.0
        assert difference.norm() <= 1.0e-13 * scale, evaluation
        if previous is not None:  # the state moved, and so did J
            previous.axpy(-1.0, J)
            assert previous.norm() > 1.0e-6 * scale
            previous.destroy()
        previous = J.copy()
        for m in (direct, difference):
            m.destroy()
    for obj in (previous, x):
        obj.destroy()
    problem.close()


@pytest.mark.mpi
def test_interleaved_residual_is_the_blocked_residual_row_for_row():
    """At a state that satisfies the Dirichlet conditions (an interior perturbed away from any solution) the
    lifting-free interleaved residual equals dolfinx's lifted blocked residual, field by field, to round-off;
    its Dirichlet rows are zero."""
    blocks, inter = build("blocks"), build("interleaved")
    assert blocks.interleaved is None and inter.interleaved is not None
    rng = np.random.default_rng(COMM.rank)
    for p in (blocks, inter):
        p.set_time(0.0, 1.0e-3)
    for a, b in zip(blocks.unknowns, inter.unknowns):  # the same perturbed state in both (ghosts made consistent)
        a.x.array[:] += 0.05 * rng.random(a.x.array.size)
        a.x.scatter_forward()
        b.x.array[:] = a.x.array
    for bc in blocks.bcs:  # on the constraint, as the Newton's iterates are
        for u in blocks.unknowns:
            if bc.function_space == u.function_space._cpp_object:
                bc.set(u.x.array)
    inter.interleaved.gather()

    x_blocks = fem_petsc.create_vector([u.function_space for u in blocks.unknowns])
    fem_petsc.assign(blocks.unknowns, x_blocks)
    r_blocks = x_blocks.duplicate()
    blocks.nonlinear.solver.computeFunction(x_blocks, r_blocks)
    x_inter = fem_petsc.create_vector(inter.interleaved.space)
    fem_petsc.assign(inter.interleaved.state, x_inter)
    r_inter = x_inter.duplicate()
    inter.nonlinear.solver.computeFunction(x_inter, r_inter)

    n = len(inter.unknowns)
    nodes = inter.V.dofmap.index_map.size_local
    interleaved = r_inter.getArray(readonly=True).reshape(nodes, n)
    blocked = r_blocks.getArray(readonly=True)
    for k, u in enumerate(blocks.unknowns):
        block = blocked[k * nodes: (k + 1) * nodes]
        scale = COMM.allreduce(float(np.max(np.abs(block), initial=0.0)), op=MPI.MAX)
        assert scale > 0.0
        assert max_diff(interleaved[:, k], block) <= 1.0e-12 * scale, u.name
    rows = inter.interleaved._owned_bc_rows
    assert COMM.allreduce(rows.size, op=MPI.SUM) > 0
    assert max_diff(r_inter.getArray(readonly=True)[rows], 0.0) == 0.0
    for v in (x_blocks, r_blocks, x_inter, r_inter):
        v.destroy()
    blocks.close()
    inter.close()


@pytest.mark.mpi
@pytest.mark.parametrize("preset", ["lu", "fieldsplit"])
def test_interleaved_steps_end_at_the_blocked_solution(preset):
    """Three coupled steps (eta, c, phi) in both layouts: the same Newton iterations and the same fields to 1e-8
    (both Newtons run to the residual's round-off floor, as in tests/test_solver.py); with the field split the
    splits are the interleaved fields and get their own solvers."""
    tight = [f"solver.preset=\"{preset}\"", "solver.rtol=1.0e-12"]
    blocks, inter = build("blocks", tight, n=16), build("interleaved", tight, n=16)
    its_blocks, its_inter = advance(blocks, 3, 1.0e-3), advance(inter, 3, 1.0e-3)
    assert [newton for newton, _ in its_blocks] == [newton for newton, _ in its_inter]
    for a, b in zip(blocks.unknowns, inter.unknowns):
        assert max_diff(owned(a), owned(b)) < 1.0e-8, a.name
    if preset == "fieldsplit":
        pc = inter.nonlinear.solver.getKSP().getPC()
        subs = {k.getOptionsPrefix(): k.getPC().getType() for k in pc.getFieldSplitSubKSP()}
        prefix = "fem_dendrite_coupled_fieldsplit_"
        assert subs == {prefix + "eta_": "bjacobi", prefix + "c_": "bjacobi", prefix + "phi_": "gamg"}
    blocks.close()
    inter.close()


@pytest.mark.mpi
def test_interleaved_index_sets_select_each_field():
    """Field k's index set picks exactly field k's owned values out of the interleaved vector, and the sets
    partition the owned rows."""
    problem = build("interleaved")
    problem.interleaved.gather()
    x = fem_petsc.create_vector(problem.interleaved.space)
    fem_petsc.assign(problem.interleaved.state, x)
    first, last = x.getOwnershipRange()
    sets = problem.interleaved.index_sets(COMM, first)
    local = np.concatenate([s.getIndices() for s in sets])
    assert np.array_equal(np.sort(local), np.arange(first, last))
    for u, index_set in zip(problem.unknowns, sets):
        assert np.array_equal(x.getArray(readonly=True)[index_set.getIndices() - first], owned(u))
        index_set.destroy()
    x.destroy()
    problem.close()


@pytest.mark.mpi
def test_galvanostatic_bordered_newton_is_the_same_in_both_layouts():
    """Faradaic formulation under galvanostatic control: V_s is a global unknown of the bordered Newton
    (fem_dendrite.solve.faradaic_problem), whose current constraint is linearised at the Newton's iterate: on the
    interleaved state in that layout (the fields only follow after the solve). Three steps: the same Newton
    iterations, fields and V_s to 1e-8, the applied current met in both."""
    extra = ["electrochemistry.formulation=\"faradaic\"", "electrode.control=\"galvanostatic\"", "solver.rtol=1.0e-12"]
    blocks = build("blocks", extra, n=16, cls=FaradaicProblem)
    inter = build("interleaved", extra, n=16, cls=FaradaicProblem)
    assert inter.newton_layout == "interleaved"
    its_blocks, its_inter = advance(blocks, 2, 1.0e-3), advance(inter, 2, 1.0e-3)
    for p, its in ((blocks, its_blocks), (inter, its_inter)):  # the third step, the current before accept()
        p.set_time(2.0e-3, 1.0e-3)
        its.append(p.solve())
        applied = p._applied_total()
        assert abs(p.total_current() - applied) <= 1.0e-8 * abs(applied)
    assert [newton for newton, _ in its_blocks] == [newton for newton, _ in its_inter]
    for a, b in zip(blocks.unknowns, inter.unknowns):
        assert max_diff(owned(a), owned(b)) < 1.0e-8, a.name
    assert abs(float(blocks.metal_potential.value) - float(inter.metal_potential.value)) < 1.0e-8
    blocks.close()
    inter.close()


def test_a_new_dirichlet_value_reaches_the_interleaved_newton():
    """The plating potential changed between steps: the interleaved Newton starts on (and keeps) the new value."""
    problem = build("interleaved")
    problem.set_time(0.0, 1.0e-4)
    problem.solve()
    problem.accept()
    new = 1.5 * float(problem.plating_potential.value)
    problem.plating_potential.value = new
    problem.set_time(1.0e-4, 1.0e-4)
    problem.solve()
    dofs = problem._facet_dofs("plating", problem.spaces["phi"])
    assert np.allclose(problem.phi.x.array[dofs], new, rtol=0.0, atol=1.0e-12)
    problem.close()


def test_layout_auto_and_where_interleaving_does_not_apply():
    """auto: interleaved for scalar P1 unknowns, blocks with the displacement in the Newton; asking for interleaved
    there is a one-line config error."""
    problem = build("auto")
    assert problem.newton_layout == "interleaved"
    problem.close()
    mech = ["mechanics.enabled=true", "mechanics.coupling=\"monolithic\""]
    problem = build("auto", mech, n=4, mechanics=True)
    assert problem.newton_layout == "blocks" and problem.interleaved is None
    problem.close()
    with pytest.raises(UserError, match="solver.layout: 'interleaved' needs scalar P1 unknowns only"):
        build("interleaved", mech, n=4, mechanics=True)
    with pytest.raises(UserError, match="solver.layout: expected one of"):
        config.load(None, ["solver.layout=\"nest\""])
