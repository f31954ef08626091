"""Checkpoints (fem_dendrite.io): independent of the partition (written on 2 ranks, read on 1 and the reverse), atomic
(a write cut short leaves the previous checkpoint), refused with one line for another mesh, and a run killed with
SIGKILL resumes from its last checkpoint to the result of a run that was never stopped.

Tests marked mpi also run under `mpiexec -n 2 python -m pytest -m mpi`.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import basix.ufl
import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh as dmesh
from mpi4py import MPI

from fem_dendrite import config, io, simulation
from fem_dendrite.errors import UserError

COMM = MPI.COMM_WORLD


def spaces_and_functions(comm, n=(6, 5), length=1.0):
    """Functions on the spaces a checkpoint holds (P1, vector P2, tensor quadrature, DG0), each set to a smooth
    function of x so that where a value lands can be checked: {name: (Function, expression in x)}."""
    msh = dmesh.create_rectangle(comm, [[0.0, 0.0], [length, 0.5]], list(n), dmesh.CellType.triangle)
    x = ufl.SpatialCoordinate(msh)
    quad = basix.ufl.quadrature_element(msh.topology.cell_name(), value_shape=(3, 3), degree=2)
    made = {
        "eta": (fem.functionspace(msh, ("Lagrange", 1)), 1.0 + x[0] * x[1] + x[0]),
        "u": (fem.functionspace(msh, ("Lagrange", 2, (2,))), ufl.as_vector([x[0] ** 2, x[0] - 3 * x[1] ** 2])),
        "history": (fem.functionspace(msh, quad),
                    ufl.as_matrix([[x[0], x[1], 0.0], [x[1], x[0] * x[1], 1.0], [0.0, 1.0, -x[0]]])),
        "cells": (fem.functionspace(msh, ("DG", 0)), x[0] + 10 * x[1]),
    }
    out = {}
    for name, (V, expr) in made.items():
        f = fem.Function(V, name=name)
        f.interpolate(fem.Expression(expr, V.element.interpolation_points))
        out[name] = (f, expr)
    return out


def assert_holds_its_expression(f, expr):
    """f equals its expression interpolated on its own mesh. To 1e-13 of the largest value: the values are copied,
    but the expression evaluated at the same point on another partition can differ in the last bit (the geometry map
    sums its terms in another order); a value put on a wrong dof differs by the expression's change over a cell."""
    want = fem.Function(f.function_space)
    want.interpolate(fem.Expression(expr, f.function_space.element.interpolation_points))
    np.testing.assert_allclose(f.x.array, want.x.array, rtol=0.0, atol=1e-13 * np.abs(want.x.array).max())


@pytest.mark.mpi
@pytest.mark.parametrize("write_comm, read_comm", [("world", "self"), ("self", "world")])
def test_a_checkpoint_is_read_on_another_number_of_ranks(tmp_path, write_comm, read_comm):
    """Written on COMM_WORLD (2 ranks under mpiexec) and read on COMM_SELF, and the reverse: every value lands on the
    dof of the same cell and local dof, on P1, vector P2, tensor quadrature and DG0 spaces, and the scalars come back."""
    comms = {"world": COMM, "self": MPI.COMM_SELF}
    root = COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0)
    folder = Path(root) / "ckpt"
    written = spaces_and_functions(comms[write_comm])
    if write_comm == "self":  # every rank writes its own copy (COMM_SELF: each rank is a rank 0); rank 0's is read
        folder = Path(root) / f"ckpt_{COMM.rank}"
    io.save_checkpoint(folder, comms[write_comm], {k: f for k, (f, _) in written.items()}, {"metal_potential": -0.25},
                       {"t_s": 1.5}, step=7)
    COMM.barrier()
    if write_comm == "self":
        folder = Path(root) / "ckpt_0"
    read = spaces_and_functions(comms[read_comm])
    for f, _ in read.values():
        f.x.array[:] = np.nan
    header = io.read_checkpoint_header(folder, comms[read_comm])
    assert header["step"] == 7 and header["meta"] == {"t_s": 1.5} and header["ranks"] == comms[write_comm].size
    scalars = io.load_checkpoint(header, {k: f for k, (f, _) in read.items()}, comms[read_comm])
    assert scalars == {"metal_potential": -0.25}
    for name, (f, expr) in read.items():
        assert_holds_its_expression(f, expr)


def test_a_checkpoint_cut_short_leaves_the_previous_one(tmp_path, monkeypatch):
    """A process that dies while writing checkpoint 2 (here: after its temporary file, before the rename) leaves the
    pointer on checkpoint 1, which still loads; the next complete write moves the pointer and removes checkpoint 1."""
    made = spaces_and_functions(MPI.COMM_SELF)
    functions = {k: f for k, (f, _) in made.items()}
    folder = tmp_path / "ckpt"
    io.save_checkpoint(folder, MPI.COMM_SELF, functions, {}, {"t_s": 1.0}, step=1)
    for f in functions.values():
        f.x.array[:] *= 2.0

    def killed(tmp, final):
        raise SystemExit("killed")  # not an error fem-dendrite handles: the process ends here

    real = io._sync_replace
    monkeypatch.setattr(io, "_sync_replace", killed)
    with pytest.raises(SystemExit):
        io.save_checkpoint(folder, MPI.COMM_SELF, functions, {}, {"t_s": 2.0}, step=2)
    monkeypatch.setattr(io, "_sync_replace", real)
    header = io.read_checkpoint_header(folder, MPI.COMM_SELF)
    assert header["step"] == 1 and header["meta"]["t_s"] == 1.0
    io.load_checkpoint(header, functions, MPI.COMM_SELF)
    for name, (f, expr) in made.items():
        assert_holds_its_expression(f, expr)  # the values of checkpoint 1, not the doubled ones

    io.save_checkpoint(folder, MPI.COMM_SELF, functions, {}, {"t_s": 3.0}, step=3)
    assert sorted(p.name for p in folder.glob("checkpoint_*.npz")) == ["checkpoint_000003.npz"]
    assert json.loads((folder / io.CHECKPOINT_POINTER).read_text())["step"] == 3


def test_a_checkpoint_of_another_mesh_is_refused_in_one_line(tmp_path):
    folder = tmp_path / "ckpt"
    made = spaces_and_functions(MPI.COMM_SELF)
    io.save_checkpoint(folder, MPI.COMM_SELF, {k: f for k, (f, _) in made.items()}, {}, {}, step=1)
    header = io.read_checkpoint_header(folder, MPI.COMM_SELF)
    for other, words in ((spaces_and_functions(MPI.COMM_SELF, n=(5, 6)), "cells are not where"),  # as many cells
                         (spaces_and_functions(MPI.COMM_SELF, n=(6, 6)), "60 cells, the mesh 72")):
        with pytest.raises(UserError, match=words) as err:
            io.load_checkpoint(header, {k: f for k, (f, _) in other.items()}, MPI.COMM_SELF)
        assert "\n" not in str(err.value) and str(err.value).startswith("--resume:")
    (folder / io.CHECKPOINT_POINTER).write_text("{not json")
    with pytest.raises(UserError, match="cannot be read"):
        io.read_checkpoint_header(folder, MPI.COMM_SELF)


# ------------------------------------------------------------------------------------------------- whole runs
TINY = ["mechanics.enabled=true", "mesh.size_m=[5.0e-7, 5.0e-7]", "mesh.grains=2", "mesh.lloyd_iterations=0",
        "mesh.cell_size_grain_m=8.0e-8", "mesh.cell_size_gb_m=8.0e-8", "mesh.cell_size_fine_m=8.0e-8",
        "mesh.fine_band_m=0.0", "initial.nuclei=[]", "initial.layer_thickness=1.5e-7",
        "initial.perturbation_amplitude=3.0e-8", "initial.perturbation_wavelength=5.0e-7",
        "output.probe_points_m=[[1.5e-7, 2.5e-7], [4.0e-7, 2.5e-7]]", "output.vtx=false", "mechanics.stack_pressure=5.0e6",
        "time.initial_step_s=1.0e-3", "time.max_step_s=1.0e-3", "time.min_step_s=1.0e-6", "electrode.voltage=0.1"]
NUMBERS = ["t_end_s", "metal_measure", "na_ion_amount_mol", "dendrite_depth_m", "potential_span_V",
           "max_current_density_A_m2", "max_von_mises_se_Pa", "max_von_mises_metal_Pa",
           "max_equivalent_plastic_strain", "min_concentration"]


def assert_same_run(a: dict, b: dict, folder_a, folder_b):
    """Summary and probe history of two runs of the same case. Numbers to 1e-6: the Newton solutions agree to the
    Newton tolerance (rtol 1e-8) whatever the partition (serial or parallel MUMPS, another order of the sums); the
    summary's maxima over the steps carry that with some amplification. Newton counts may differ by a step that ends
    just at the tolerance on one partition."""
    assert a["status"] == b["status"] == "completed"
    assert a["steps"] == b["steps"] and a["rejected_steps"] == b["rejected_steps"]
    assert abs(a["newton_iterations"] - b["newton_iterations"]) <= 2
    for key in NUMBERS:
        if b[key] is None:  # not defined for this run (the stresses with the mechanics off)
            assert a[key] is None, key
            continue
        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-300), key
    p, q = io.read_probes(Path(folder_a) / "probes.csv"), io.read_probes(Path(folder_b) / "probes.csv")
    assert list(p) == list(q) and len(p["time_s"]) == len(q["time_s"]) == a["steps"] + 1
    for name in p:
        assert np.allclose(p[name], q[name], rtol=1e-6, atol=1e-12 * np.abs(q[name]).max()), name


@pytest.mark.mpi
def test_a_run_interrupted_on_two_ranks_ends_on_one_and_the_reverse(tmp_path):
    """Interrupted after 2 of 5 steps on COMM_WORLD (2 ranks under mpiexec) and resumed on 1 rank (each rank resumes
    its own copy, concurrently), and interrupted on 1 rank and resumed on COMM_WORLD: both end at the run that was
    never stopped (mechanics on: u and the plastic history on its quadrature space travel with the checkpoint)."""
    from fem_dendrite.parallel import rank_zero_section

    root = Path(COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0))
    cfg = config.load(None, TINY + ["time.end_s=5.0e-3"])
    full = simulation.run(cfg, root / "full", comm=COMM)
    assert full["steps"] == 5 and full["max_equivalent_plastic_strain"] > 0.0
    cfg = config.load(None, TINY + ["time.end_s=5.0e-3", f"mesh.file=\"{root / 'full' / 'mesh.msh'}\""])

    part = simulation.run(cfg, root / "part", comm=COMM, max_steps=2)
    assert part["status"] == "interrupted" and part["steps"] == 2
    with rank_zero_section(COMM) as writer:
        if writer:
            for rank in range(COMM.size):
                shutil.copytree(root / "part", root / f"part_{rank}")
    COMM.barrier()  # the copies exist before any rank resumes one
    mine = root / f"part_{COMM.rank}"
    resumed = simulation.run(cfg, mine, resume=True, comm=MPI.COMM_SELF)
    assert resumed["ranks"] == 1
    assert_same_run(resumed, full, mine, root / "full")

    alone = root / f"alone_{COMM.rank}"
    part = simulation.run(cfg, alone, comm=MPI.COMM_SELF, max_steps=2)
    assert part["status"] == "interrupted" and part["steps"] == 2
    COMM.barrier()
    resumed = simulation.run(cfg, root / "alone_0", resume=True, comm=COMM)
    assert resumed["ranks"] == COMM.size
    assert_same_run(resumed, full, root / "alone_0", root / "full")


def test_sigkill_mid_run_resumes_from_the_last_checkpoint(tmp_path):
    """`fem-dendrite run` killed with SIGKILL (no handler runs: a node failure, the OOM killer) once it has written a
    few checkpoints (one per step here) ends, with `--resume`, at the result of a run that was never stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cli = str(Path(sys.executable).with_name("fem-dendrite"))
    overrides = TINY + ["time.end_s=2.0e-2", "output.checkpoint_every=1"]
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(config.to_toml(config.load(None, overrides)))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([cli, "run", str(cfg_file), "--out", str(killed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    pointer = killed / "checkpoint" / io.CHECKPOINT_POINTER
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if pointer.exists() and json.loads(pointer.read_text() or "{}").get("step", 0) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    at_kill = json.loads(pointer.read_text())["step"]
    assert 3 <= at_kill < 20

    resumed = subprocess.run([cli, "run", str(cfg_file), "--out", str(killed), "--resume"], capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    cfg_whole = tmp_path / "whole.toml"
    cfg_whole.write_text(config.to_toml(config.load(None, overrides + [f"mesh.file=\"{killed / 'mesh.msh'}\""])))
    whole = subprocess.run([cli, "run", str(cfg_whole), "--out", str(tmp_path / "whole")], capture_output=True,
                           text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    a = json.loads((killed / "summary.json").read_text())
    b = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert a["steps"] == 20
    assert_same_run(a, b, killed, tmp_path / "whole")
