"""Collective teardown (fem_dendrite.parallel): a problem's PETSc objects are destroyed by close() on every rank, and
garbage that still holds distributed PETSc objects can never be collected on rank 0 alone inside a rank-0-only
section (the deadlock of issue 10: rank 0 destroying a MUMPS factor inside the Gmsh meshing, rank 1 in a bcast).

Under `mpiexec -n 2` these tests deadlock if the protection is missing; the per-test time limit below then kills
both ranks with their stacks printed.
"""
from __future__ import annotations

import gc
import weakref

import fem_dendrite  # noqa: F401  (before dolfinx)
import pytest
from mpi4py import MPI

from fem_dendrite import config
from fem_dendrite.mesh import geometry as fm  # where generate_polycrystal calls Gmsh
from fem_dendrite.solve.problem import CoupledProblem, rectangle_domain
from fem_dendrite.scaling import Scales

COMM = MPI.COMM_WORLD
STRIP = ["mechanics.enabled=false", "initial.nuclei=[]", "initial.layer_thickness=4.0e-7",
         "initial.perturbation_amplitude=0.0", "electrode.voltage=0.1"]


def solved_problem(comm=COMM) -> CoupledProblem:
    """A strip problem after one Newton step with MUMPS LU (so that a distributed factor exists)."""
    cfg = config.load(None, STRIP)
    problem = CoupledProblem(cfg, rectangle_domain(comm, 1.2, 0.12, 24, 4), Scales.from_config(cfg))
    problem.set_initial_state()
    problem.set_time(0.0, 1.0e-3)
    problem.solve()
    return problem


@pytest.mark.mpi
@pytest.mark.timeout(120)
def test_close_destroys_the_solver_and_its_matrices_on_every_rank():
    with solved_problem() as problem:
        snes = problem.nonlinear.solver
        A = snes.getJacobian()[0]
        assert snes.handle != 0 and A.handle != 0
    assert snes.handle == 0  # destroyed by __exit__, here, on every rank
    assert all(getattr(problem.nonlinear, name) is None for name in ("_snes", "_A", "_b", "_x"))
    problem.close()  # idempotent
    del problem, snes, A
    if COMM.rank == 0:  # nothing collective is left to collect: a collection on rank 0 alone returns
        gc.collect()
    COMM.barrier()


@pytest.mark.mpi
@pytest.mark.timeout(120)
def test_garbage_with_a_parallel_factor_is_not_collected_on_rank_zero_alone(tmp_path, monkeypatch):
    """A solved problem dropped without close() while it is part of a reference cycle (here a method patched on it
    that calls the original, as the rejected-step tests do; an exception's traceback does the same) stays alive until
    the collector runs, wherever that is. The mesh generator then forces a collection on rank 0 inside its rank-0-only
    section; rank_zero_section must already have collected it on every rank, or rank 0 would wait in the MUMPS
    destroy for rank 1, which waits in the bcast after the section."""
    gc.collect()
    problem = solved_problem()
    problem.solve = lambda solve=problem.solve: solve()  # problem -> lambda -> bound method -> problem
    alive = weakref.ref(problem.nonlinear)
    del problem
    assert alive() is not None  # a cycle: only the collector frees it (so the collection below can deadlock)

    generate = fm._gmsh_polycrystal

    def collect_then_generate(spec, path):
        gc.collect()  # rank 0 only: the collection that deadlocked in CI
        generate(spec, path)

    monkeypatch.setattr(fm, "_gmsh_polycrystal", collect_then_generate)
    root = COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0)
    spec = fm.PolycrystalSpec(dim=2, size=(1e-6, 1e-6), grains=2, seed=1, h_grain=2.5e-7, h_gb=2.5e-7)
    path = fm.generate_polycrystal(spec, f"{root}/m.msh", COMM)
    assert path.exists()
    assert alive() is None  # collected at the collective entry of the section, on every rank


HANGING_TEST = '''
from mpi4py import MPI

def test_rank_one_never_arrives():
    if MPI.COMM_WORLD.rank == 0:
        MPI.COMM_WORLD.barrier()  # rank 1 never calls it
    else:
        import time
        time.sleep(600)
'''


def test_a_hang_under_mpiexec_ends_with_every_ranks_stack(tmp_path):
    """The project's pytest settings (pyproject.toml) applied to a test that deadlocks on 2 ranks: both ranks time
    out and start printing their stack, one prints it whole, and mpiexec ends within the time limit (2 s here) plus
    start-up, not at CI's limit."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "test_hang.py").write_text(HANGING_TEST)
    mpiexec = str(Path(sys.executable).with_name("mpiexec"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPI_", "HYDRA_"))}
    start = time.monotonic()
    proc = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-c", str(root / "pyproject.toml"), "--rootdir", str(tmp_path), "-o", "timeout=2",
                           str(tmp_path / "test_hang.py")], capture_output=True, text=True, timeout=120, env=env)
    elapsed = time.monotonic() - start
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert elapsed < 60, elapsed
    assert out.count("Timeout") >= 2, out  # pytest-timeout's banner, once per rank
    # both ranks time out together: the first to finish its dump exits, and mpiexec may end the other mid-dump
    # (CI, 7 Dec: rank 0's frames lost after its banner), so each rank's banner is certain, one whole stack too
    assert "in test_rank_one_never_arrives" in out and ("barrier" in out or "sleep" in out), out


def test_a_benchmark_given_a_bad_peer_folder_fails_on_every_rank(tmp_path):
    """benchmarks/peer_lithium.py with a --peer folder that holds no plotfile, on 2 ranks: one line on stderr and
    every rank exits non-zero within seconds (rank 0 used to die alone while rank 1 waited in a broadcast)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    mpiexec = str(Path(sys.executable).with_name("mpiexec"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPI_", "HYDRA_"))}
    proc = subprocess.run([mpiexec, "-n", "2", sys.executable, str(root / "benchmarks" / "peer_lithium.py"),
                           "--peer", f"{tmp_path}:2e-5", "--skip-fem"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode != 0
    assert "no AMReX plotfile" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
