"""One simulation run: config -> mesh -> materials -> forms -> solver -> outputs.

`run(cfg, out)` writes into the run folder: config.toml (resolved), mesh.msh, fields*.bp and cells*.bp (VTX, SI),
snapshots/ (for `fem-dendrite render`), probes.csv, summary.json and checkpoint/. Ctrl-C or SIGTERM (a batch
system's wall time) finishes the current step, writes a checkpoint and a summary with status "interrupted";
`--resume` continues from the last checkpoint.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_dendrite import config as config_mod
from fem_dendrite import io
from fem_dendrite.errors import UserError
from fem_dendrite.problem import CoupledProblem, Domain, reaction_dominance
from fem_dendrite.progress import StepProgress
from fem_dendrite.scaling import Scales
from fem_dendrite.timestepping import AdaptiveStepper, StepSizeTooSmall


def build_mesh(cfg, out: Path, comm, resume: bool = False) -> Path:
    """The .msh of the run: cfg.mesh.file, or a Voronoi polycrystal generated into the run folder."""
    from fem_dendrite import mesh as mesh_mod

    if cfg.mesh.file:
        path = Path(cfg.mesh.file)
        if not path.exists():
            raise UserError(f"mesh.file: {path} does not exist")
        return path
    path = out / "mesh.msh"
    if resume and path.exists():
        return path
    m = cfg.mesh
    refinements = ()
    if m.fine_band_m > 0:
        lower = (0.0,) * m.dim
        upper = (min(m.fine_band_m, m.size_m[0]),) + tuple(m.size_m[1:])
        refinements = (mesh_mod.Refinement(kind="box", lower=lower, upper=upper, size=m.cell_size_fine_m),)
    spec = mesh_mod.PolycrystalSpec(dim=m.dim, size=tuple(m.size_m), grains=m.grains, seed=m.seed,
                                    lloyd_iterations=m.lloyd_iterations, h_grain=m.cell_size_grain_m,
                                    h_gb=m.cell_size_gb_m, refinements=refinements)
    spec.validate()
    mesh_mod.generate_polycrystal(spec, path, comm)
    return path


def build_domain(cfg, msh_path: Path, comm, scales: Scales) -> tuple[Domain, np.ndarray]:
    """Read the mesh, build beta in SI, then scale the geometry to L0 units. Returns the domain and GB segments (m)."""
    from fem_dendrite import mesh as mesh_mod

    meshdata = mesh_mod.read_mesh(msh_path, comm)
    msh = meshdata.mesh
    if msh.geometry.dim != cfg.mesh.dim:
        raise UserError(f"mesh.file: a {msh.geometry.dim}D mesh, but mesh.dim = {cfg.mesh.dim}")
    beta = mesh_mod.gb_indicator(meshdata, cfg.mesh.gb_width_m)
    segments = getattr(mesh_mod, "gb_segments", getattr(mesh_mod, "_gb_segments", None))(meshdata) \
        if cfg.mesh.dim == 2 else None
    x = msh.geometry.x
    lo, hi = np.empty(3), np.empty(3)
    comm.Allreduce(x.min(axis=0), lo, op=MPI.MIN)
    comm.Allreduce(x.max(axis=0), hi, op=MPI.MAX)
    size = tuple((hi - lo)[: cfg.mesh.dim])
    msh.geometry.x[:] /= scales.length
    domain = Domain(msh, meshdata.cell_tags, meshdata.facet_tags, beta,
                    tuple(s / scales.length for s in size))
    return domain, segments


def _build_mechanics(cfg, scales):
    if not cfg.mechanics.enabled:
        return None
    from fem_dendrite.coupling import MechanicsCoupling

    return MechanicsCoupling(cfg, scales)


class _StopRequest:
    """Ctrl-C / SIGTERM set a flag; the run stops cleanly after the current step."""

    def __init__(self):
        self.signal = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread
                pass
        return self

    def _handler(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def run(cfg, out, resume: bool = False, comm=MPI.COMM_WORLD, max_steps: int | None = None,
        quiet: bool = False) -> dict:
    """Run the simulation described by `cfg` into the folder `out`; returns the summary (also summary.json).

    Rank 0 reports every accepted step (fem_dendrite.progress) unless `quiet`."""
    wall_start = time.perf_counter()
    out = Path(out)
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        io.atomic_write_text(out / "config.toml", config_mod.to_toml(cfg))
    comm.barrier()
    scales = Scales.from_config(cfg)
    checkpoint_dir = out / "checkpoint"
    checkpoint = io.load_checkpoint(checkpoint_dir, comm) if resume else None

    msh_path = build_mesh(cfg, out, comm, resume=checkpoint is not None)
    domain, gb_segments = build_domain(cfg, msh_path, comm, scales)
    problem = CoupledProblem(cfg, domain, scales, mechanics=_build_mechanics(cfg, scales))
    dim = problem.dim
    lam = reaction_dominance(cfg, float(cfg.electrode.voltage))
    if comm.rank == 0 and lam > 1.0:
        print(f"fem-dendrite: note: reaction/double-well rate ratio Lambda = {lam:.3g} > 1 at the applied voltage: "
              "the interface may not stay sharp (README, 'Phase-field mobility')", flush=True)

    outputs = io.OutputFields(problem, extra_cell_fields=problem.mechanics.output_expressions()
                              if problem.mechanics is not None else None)
    points = np.asarray(cfg.output.probe_points_m, dtype=float).reshape(-1, dim) / scales.length
    probes = io.PointProbes(problem.mesh, points)
    probe_names = {"eta": problem.eta, "c": outputs.point["c"], "phi": outputs.point["phi"]}
    if problem.mechanics is not None:  # DG0 cell averages (Pa) of the cell holding each probe point
        probe_names.update({"von_mises_Pa": outputs.cell["von_mises_stress"],
                            "hydrostatic_stress_Pa": outputs.cell["hydrostatic_stress"]})
    point_columns = [f"{name}_p{i}" for i in range(len(points)) for name in probe_names]

    state = {"t_s": 0.0, "step": 0, "rejected": 0, "newton": 0, "linear": 0, "output_index": 0,
             "next_output_s": 0.0, "segment": 0, "short_circuit_time_s": None, "wall_before_s": 0.0,
             "max_current_density": 0.0, "max_von_mises_se": 0.0, "max_von_mises_metal": 0.0,
             "max_equivalent_plastic_strain": 0.0, "c_min": 1.0, "eta_min": 0.0, "eta_max": 1.0}
    dt0 = None
    if checkpoint is not None:
        arrays, meta = checkpoint
        problem.set_arrays(arrays)
        state.update(meta["state"])
        state["segment"] += 1
        dt0 = meta["dt_s"]
    else:
        problem.set_initial_state()
    stepper = AdaptiveStepper(cfg.time, dt_s=dt0)

    log = io.ProbeLog(out / "probes.csv", comm, dim, point_columns,
                      resume_time_s=state["t_s"] if checkpoint is not None else None)
    writer = io.FieldWriter(out, outputs, state["segment"], gb_segments)
    n_dofs = sum(f.function_space.dofmap.index_map.size_global * f.function_space.dofmap.index_map_bs
                 for f in problem.unknowns)
    A_plating = problem.integrals()["plating_measure"] * scales.length ** (dim - 1)

    def record(dt_s: float, integrals: dict) -> None:
        current = integrals["plating_current"] * scales.current(dim)
        outputs.update()
        values = probes.evaluate(probe_names)
        row = {"time_s": state["t_s"], "dt_s": dt_s,
               "metal_measure": integrals["metal_measure"] * scales.measure(dim),
               "na_ion_amount_mol": integrals["ion_amount"] * scales.amount(dim),
               "counter_ion_flux_mol_s": integrals["counter_ion_flux"] * scales.amount(dim) / scales.time,
               "plating_current_A": current,
               "mean_current_density_A_m2": current / A_plating,
               "cell_voltage_V": problem.cell_voltage() * scales.potential}
        for i in range(len(points)):
            for name in probe_names:
                row[f"{name}_p{i}"] = values[name][i]
        log.append(row)
        if dt_s > 0:  # the initial potential is a guess, not a solution: its current means nothing
            state["max_current_density"] = max(state["max_current_density"],
                                               outputs.cell_max("electrolyte_current_density_magnitude"))
        state["c_min"] = min(state["c_min"], comm.allreduce(float(problem.c.x.array.min(initial=1.0)), op=MPI.MIN))
        state["eta_min"] = min(state["eta_min"], comm.allreduce(float(problem.eta.x.array.min(initial=0.0)),
                                                                op=MPI.MIN))
        state["eta_max"] = max(state["eta_max"], comm.allreduce(float(problem.eta.x.array.max(initial=1.0)),
                                                                op=MPI.MAX))
        if problem.mechanics is not None:
            for key, value in problem.mechanics.extremes(outputs).items():
                state[key] = max(state[key], value)

    def checkpoint_now() -> None:
        meta = {"state": {k: v for k, v in state.items()}, "dt_s": stepper.dt_s}
        meta["state"]["wall_before_s"] = state["wall_before_s"] + time.perf_counter() - wall_start
        io.save_checkpoint(checkpoint_dir, comm, problem.arrays(), meta)

    def write_output() -> None:
        writer.write(state["t_s"], state["output_index"])
        state["output_index"] += 1
        state["next_output_s"] = state["t_s"] + cfg.output.interval_s * (1 - 1e-9)

    if checkpoint is None:
        record(0.0, problem.integrals())
        write_output()

    status, message = "completed", ""
    steps_this_run = 0
    progress = StepProgress(comm, cfg.time.end_s, state["t_s"], quiet=quiet, wall_start=wall_start)
    with _StopRequest() as stop:
        while state["t_s"] < cfg.time.end_s * (1 - 1e-12):
            if state["step"] >= cfg.time.max_steps or (max_steps is not None and steps_this_run >= max_steps):
                status, message = ("completed", "time.max_steps reached") if max_steps is None else \
                    ("interrupted", "step limit of this call reached")
                break
            try:
                result = stepper.advance(problem, state["t_s"])
            except StepSizeTooSmall as err:
                status, message = "failed", str(err)
                break
            integrals = problem.integrals()
            problem.accept()
            steps_this_run += 1
            state["t_s"] = result.t_s
            state["step"] += 1
            state["rejected"] += result.rejected
            state["newton"] += result.newton_iterations + result.failed_newton_iterations
            state["linear"] += result.linear_iterations
            record(result.dt_s, integrals)
            progress.step(state["step"], state["t_s"], result.dt_s,
                          result.newton_iterations + result.failed_newton_iterations, result.linear_iterations,
                          result.rejected, problem.dendrite_tip()[0] * scales.length)  # dendrite_tip: collective
            short = problem.short_circuit()
            if short and state["short_circuit_time_s"] is None:
                state["short_circuit_time_s"] = state["t_s"]
            if state["t_s"] >= state["next_output_s"] or short:
                write_output()
            if state["step"] % cfg.output.checkpoint_every == 0:
                checkpoint_now()
            if short and cfg.time.stop_at_short_circuit:
                message = "short circuit: metal connects the electrodes"
                break
            if comm.allreduce(stop.signal is not None, op=MPI.LOR):
                status, message = "interrupted", f"stopped by {stop.signal or 'a signal on another rank'}"
                break
    if status != "failed":
        checkpoint_now()
    if state["output_index"] == 0 or status != "completed" or state["t_s"] < state["next_output_s"]:
        write_output()
    writer.close()
    progress.close()

    summary = build_summary(problem, scales, state, status, message, n_dofs,
                            state["wall_before_s"] + time.perf_counter() - wall_start, A_plating)
    io.write_json(out / "summary.json", summary, comm)
    if comm.rank == 0 and not quiet:
        print(f"fem-dendrite: {status} at t = {state['t_s']:.6g} s after {state['step']} steps"
              f"{': ' + message if message else ''}; results in {out}", flush=True)
    return summary


def build_summary(problem, scales, state, status, message, n_dofs, wall_s, plating_area) -> dict:
    depth, tip = problem.dendrite_tip()
    comm = problem.comm
    integrals = problem.integrals()
    phi = problem.phi.x.array
    span = (comm.allreduce(float(phi.max(initial=-np.inf)), op=MPI.MAX)
            - comm.allreduce(float(phi.min(initial=np.inf)), op=MPI.MIN)) * scales.potential
    summary = {
        "status": status,
        "message": message,
        "t_end_s": state["t_s"],
        "steps": state["step"],
        "rejected_steps": state["rejected"],
        "newton_iterations": state["newton"],
        "linear_iterations": state["linear"],
        "wall_time_s": wall_s,
        "ranks": comm.size,
        "dofs": n_dofs,
        "dim": problem.dim,
        "dendrite_depth_m": depth * scales.length,
        "tip_position_m": [float(v) * scales.length for v in tip],
        "metal_measure": integrals["metal_measure"] * scales.measure(problem.dim),
        "na_ion_amount_mol": integrals["ion_amount"] * scales.amount(problem.dim),
        "max_current_density_A_m2": state["max_current_density"],
        "potential_span_V": span,
        "min_concentration": state["c_min"],  # c / c0, over the run
        "phase_field_range": [state["eta_min"], state["eta_max"]],  # min and max of eta over the run
        "short_circuit": state["short_circuit_time_s"] is not None,
        "short_circuit_time_s": state["short_circuit_time_s"],
        "plating_electrode_measure": plating_area,
        "max_von_mises_se_Pa": state["max_von_mises_se"] if problem.mechanics is not None else None,
        "max_von_mises_metal_Pa": state["max_von_mises_metal"] if problem.mechanics is not None else None,
        "max_equivalent_plastic_strain":
            state["max_equivalent_plastic_strain"] if problem.mechanics is not None else None,
    }
    return summary
