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
from fem_dendrite.fracture_outputs import FlawPressure, crack_growth_stop, fracture_summary
from fem_dendrite.solve.formulations import build_problem
from fem_dendrite.solve.problem import Domain, reaction_dominance
from fem_dendrite.progress import StepProgress
from fem_dendrite.scaling import Scales
from fem_dendrite.solve.timestepping import AdaptiveStepper, StepSizeTooSmall


def build_mesh(cfg, out: Path, comm, resume: bool = False) -> Path:
    """The .msh of the run: cfg.mesh.file, or a Voronoi polycrystal generated into the run folder, refined around the
    initial surface flaws (fem_dendrite.mesh.flaws; their realisation goes to flaws.json in `out`)."""
    from fem_dendrite import mesh as mesh_mod

    flaws = mesh_mod.flaws_from_config(cfg)  # drawn from its seed on every rank; refined around (not meshed as) slots
    mesh_mod.write_flaws_json(cfg, out, comm)
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
    refinements += mesh_mod.flaw_refinements(flaws, m.size_m,
                                             cfg.fracture.length_m if cfg.fracture.enabled else None)
    spec = mesh_mod.PolycrystalSpec(dim=m.dim, size=tuple(m.size_m), grains=m.grains, seed=m.seed,
                                    lloyd_iterations=m.lloyd_iterations, h_grain=m.cell_size_grain_m,
                                    h_gb=m.cell_size_gb_m, refinements=refinements,
                                    seed_points=tuple(tuple(p) for p in m.seed_points_m))
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
    segments = mesh_mod.gb_segments(meshdata) if cfg.mesh.dim == 2 else None
    x = msh.geometry.x
    lo, hi = np.empty(3), np.empty(3)
    comm.Allreduce(x.min(axis=0), lo, op=MPI.MIN)
    comm.Allreduce(x.max(axis=0), hi, op=MPI.MAX)
    size = tuple((hi - lo)[: cfg.mesh.dim])
    msh.geometry.x[:] /= scales.length
    domain = Domain(msh, meshdata.cell_tags, meshdata.facet_tags, beta,
                    tuple(s / scales.length for s in size))
    return domain, segments


def sintered_microstructure(cfg, out: Path, comm) -> tuple[Domain, object, dict, Path]:
    """The run's mesh after the sintering cool-down alone (fracture.sintering_cooldown; the run's initial state, no
    electrochemistry step): its domain with the geometry back in SI (m), the damage d (P1 on that mesh), the
    fracture measures, the mesh path. grain_orientations.json goes to `out`. Collective."""
    from dolfinx import fem

    if not (cfg.fracture.enabled and cfg.fracture.sintering_cooldown):
        raise UserError("fracture.sintering_cooldown: cracks from the cool-down need fracture.enabled = true and "
                        "fracture.sintering_cooldown = true")
    scales = Scales.from_config(cfg)
    msh_path = build_mesh(cfg, out, comm)
    domain, _ = build_domain(cfg, msh_path, comm, scales)
    problem = build_problem(cfg, domain, scales, mechanics=_build_mechanics(cfg, scales))
    with problem:  # its PETSc objects are destroyed here on every rank
        problem.set_initial_state()
        fracture = problem.mechanics.fracture
        measures = fracture.measures()
        measures["cooldown"] = problem.mechanics.cooldown_record
        damage = fem.Function(fracture.d.function_space, name="damage")
        damage.x.array[:] = fracture.d.x.array
        problem.mechanics.sintering.write_orientations(out, comm)
    domain.mesh.geometry.x[:] *= scales.length
    return domain, damage, measures, msh_path


def structured_domain(cfg, comm, scales: Scales) -> Domain:
    """mesh.structured_cells: a uniform single-grain rectangle (no GBs), scaled to L0 units."""
    from fem_dendrite.solve.problem import rectangle_domain

    (lx, ly), (nx, ny) = cfg.mesh.size_m, cfg.mesh.structured_cells
    return rectangle_domain(comm, lx / scales.length, ly / scales.length, int(nx), int(ny),
                            cfg.mesh.structured_diagonal)


def interface_cells(cfg) -> float:
    """Cells across the interface width 2 sqrt(2 kappa0 / W): the grid spacing of a structured mesh, else the finest
    Gmsh size where the metal is (the fine band, if any, else the grain interior)."""
    m = cfg.mesh
    if m.structured_cells:
        h = max(L / n for L, n in zip(m.size_m, m.structured_cells))
    else:
        h = m.cell_size_fine_m if m.fine_band_m > 0 else m.cell_size_grain_m
    if m.adapt.enabled:  # the interface lies in the refined region: its cells halved `levels` times
        h /= 2 ** m.adapt.levels
    return cfg.electrochemistry.interface_width_m() / h


MIN_INTERFACE_CELLS = 3.0  # below: P1 cannot represent the tanh profile (docs/performance/peer_race.md, "Peer benchmark")


def _build_mechanics(cfg, scales):
    if not cfg.mechanics.enabled:
        return None
    from fem_dendrite.solve.coupling import MechanicsCoupling

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
    checkpoint = io.read_checkpoint_header(checkpoint_dir, comm) if resume else None

    if cfg.mesh.structured_cells:
        domain, gb_segments = structured_domain(cfg, comm, scales), None
    else:
        msh_path = build_mesh(cfg, out, comm, resume=checkpoint is not None)
        domain, gb_segments = build_domain(cfg, msh_path, comm, scales)
    regridder = None
    if cfg.mesh.adapt.enabled:  # the problem on the base mesh refined around the interface (fem_dendrite.solve.regrid)
        from fem_dendrite.solve.regrid import Regridder

        regridder = Regridder(cfg, domain, scales,
                              lambda d: build_problem(cfg, d, scales, mechanics=_build_mechanics(cfg, scales)))
        problem = regridder.initial_problem(io.load_checkpoint_array(checkpoint, "adapt_points")
                                            if checkpoint is not None else None)
    else:
        problem = build_problem(cfg, domain, scales, mechanics=_build_mechanics(cfg, scales))
    with problem:  # its PETSc objects are destroyed here on every rank, also after an error (fem_dendrite.parallel)
        try:
            return _run_problem(problem, cfg, out, comm, scales, checkpoint, checkpoint_dir, gb_segments, wall_start,
                                max_steps, quiet, regridder)
        finally:
            if regridder is not None:
                regridder.close()  # the problem of the last regrid (collective, on every rank)


def _run_problem(problem, cfg, out, comm, scales, checkpoint, checkpoint_dir, gb_segments, wall_start, max_steps,
                 quiet=False, regridder=None):
    """run()'s time loop and outputs on a built problem; with a `regridder` (mesh.adapt) the problem, its outputs
    and probes are rebuilt on the adapted mesh after the steps it says are due (the closures below read the
    current ones)."""
    dim = problem.dim
    regime = regime_numbers(cfg, problem.domain.size[0] * scales.length)
    if comm.rank == 0:
        if not quiet:  # --quiet keeps the notes (warnings) only
            print("fem-dendrite: " + ", ".join(f"{k} = {v:.3g}" for k, v in regime.items() if v is not None),
                  flush=True)
        for warning in regime_warnings(cfg, regime):
            print(f"fem-dendrite: note: {warning}", flush=True)

    def output_fields(problem):
        return io.OutputFields(problem, extra_cell_fields=problem.mechanics.output_expressions()
                               if problem.mechanics is not None else None)

    def probe_fields(problem, outputs) -> dict:
        names = {"eta": problem.eta, "c": outputs.point["c"], "phi": outputs.point["phi"]}
        if problem.mechanics is not None:  # DG0 cell averages (Pa) of the cell holding each probe point
            names.update({"von_mises_Pa": outputs.cell["von_mises_stress"],
                          "hydrostatic_stress_Pa": outputs.cell["hydrostatic_stress"]})
        return names

    def adapted_outputs(problem):
        """Outputs, probes and a field writer (the next segment's files) on a regridded problem's mesh."""
        outputs = output_fields(problem)
        state["segment"] += 1
        return outputs, io.PointProbes(problem.mesh, points), io.FieldWriter(out, outputs, state["segment"],
                                                                              gb_segments)

    outputs = output_fields(problem)
    points = np.asarray(cfg.output.probe_points_m, dtype=float).reshape(-1, dim) / scales.length
    probes = io.PointProbes(problem.mesh, points)
    probe_names = probe_fields(problem, outputs)
    point_columns = [f"{name}_p{i}" for i in range(len(points)) for name in probe_names]
    # the pressure of the Na in each filled flaw (with the mechanics): one column per flaw, as flaws.json lists them
    flaw_pressure = FlawPressure(problem, cfg) if problem.mechanics is not None else None
    if flaw_pressure is not None and not flaw_pressure.flaws:
        flaw_pressure = None
    point_columns += [f"flaw{k}_pressure_Pa" for k in range(len(flaw_pressure.flaws) if flaw_pressure else 0)]

    state = {"charge_passed_C": 0.0, "metal_measure_initial": None, "t_s": 0.0, "step": 0, "rejected": 0, "newton": 0,
             "linear": 0, "output_index": 0, "last_output_s": None,
             "next_output_s": 0.0, "segment": 0, "short_circuit_time_s": None, "wall_before_s": 0.0,
             "max_current_density": 0.0, "max_von_mises_se": 0.0, "max_von_mises_metal": 0.0,
             "max_equivalent_plastic_strain": 0.0, "c_min": 1.0, "eta_min": 0.0, "eta_max": 1.0,
             "crack_measure_initial": None, "critical_pressure_Pa": None, "crack_growth_time_s": None,
             "crack_growth_current_A_m2": None, "flaw_pressures_Pa": None,
             "failed_flaw": None}
    dt0 = None
    if checkpoint is not None:
        problem.restored(io.load_checkpoint(checkpoint, problem.checkpoint_fields(), comm,
                                            by_geometry=regridder is not None))
        meta = checkpoint["meta"]
        state.update(meta["state"])
        if regridder is not None:
            regridder.restore(meta["adapt"])
        state["segment"] += 1
        dt0 = meta["dt_s"]
    else:
        problem.set_initial_state()
        if problem.mechanics is not None and problem.mechanics.sintering is not None:
            problem.mechanics.sintering.write_orientations(out, comm)
    stepper = AdaptiveStepper(cfg.time, dt_s=dt0, memory=checkpoint["meta"].get("stepper") if checkpoint else None)

    log = io.ProbeLog(out / "probes.csv", comm, dim, point_columns,
                      resume_time_s=state["t_s"] if checkpoint is not None else None)
    writer = io.FieldWriter(out, outputs, state["segment"], gb_segments)
    A_plating = problem.integrals()["plating_measure"] * scales.length ** (dim - 1)

    def record(dt_s: float, integrals: dict) -> None:
        current = integrals["plating_current"] * scales.current(dim)
        outputs.update()
        values = probes.evaluate(probe_names)
        if state["metal_measure_initial"] is None:
            state["metal_measure_initial"] = integrals["metal_measure"] * scales.measure(dim)
        faradaic = integrals["faradaic_current"] * scales.current(dim)
        state["charge_passed_C"] += faradaic * dt_s
        row = {"time_s": state["t_s"], "dt_s": dt_s,
               "metal_measure": integrals["metal_measure"] * scales.measure(dim),
               "na_ion_amount_mol": integrals["ion_amount"] * scales.amount(dim),
               "counter_ion_flux_mol_s": integrals["counter_ion_flux"] * scales.amount(dim) / scales.time,
               "plating_current_A": current,
               "mean_current_density_A_m2": current / A_plating,
               "cell_voltage_V": problem.cell_voltage() * scales.potential,
               "faradaic_current_A": faradaic,
               "metal_potential_V": problem.cell_voltage() * scales.potential}
        for i in range(len(points)):
            for name in probe_names:
                row[f"{name}_p{i}"] = values[name][i]
        if flaw_pressure is not None:
            row.update({f"flaw{k}_pressure_Pa": p for k, p in enumerate(flaw_pressure.pressures())})
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
        meta = {"state": {k: v for k, v in state.items()}, "dt_s": stepper.dt_s, "stepper": stepper.memory()}
        if regridder is not None:
            meta["adapt"] = regridder.memory()
        meta["state"]["wall_before_s"] = state["wall_before_s"] + time.perf_counter() - wall_start
        io.save_checkpoint(checkpoint_dir, comm, problem.checkpoint_fields(), problem.checkpoint_scalars(), meta,
                           state["step"], arrays={"adapt_points": regridder.points} if regridder else None)

    def write_output() -> None:
        writer.write(state["t_s"], state["output_index"])
        state["output_index"] += 1
        state["last_output_s"] = state["t_s"]
        state["next_output_s"] = state["t_s"] + cfg.output.interval_s * (1 - 1e-9)

    if checkpoint is None:
        record(0.0, problem.integrals())
        write_output()
        crack_growth_stop(problem, cfg, state)  # the crack measure at t = 0

    status, message = "completed", ""
    steps_this_run = 0
    progress = StepProgress(comm, cfg.time.end_s, state["t_s"], quiet=quiet, wall_start=wall_start)
    loop_start = time.perf_counter()
    with _StopRequest() as stop:
        while state["t_s"] < cfg.time.end_s * (1 - 1e-12):
            if state["step"] >= cfg.time.max_steps or (max_steps is not None and steps_this_run >= max_steps):
                status, message = ("completed", "time.max_steps reached") if max_steps is None else \
                    ("interrupted", "step limit of this call reached")
                break
            try:
                interval = cfg.output.interval_s  # exact_times: the step lands on the next multiple of the interval
                result = stepper.advance(problem, state["t_s"], until_s=round(state["next_output_s"] / interval)
                                         * interval if cfg.output.exact_times else None)
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
            depth = problem.dendrite_tip()[0]  # collective; scaled
            progress.step(state["step"], state["t_s"], result.dt_s,
                          result.newton_iterations + result.failed_newton_iterations, result.linear_iterations,
                          result.rejected, depth * scales.length)
            short = problem.short_circuit()
            if short and state["short_circuit_time_s"] is None:
                state["short_circuit_time_s"] = state["t_s"]
            if state["t_s"] >= state["next_output_s"] or short:
                write_output()
            if regridder is not None and not short and regridder.due(depth):
                writer.close()  # a VTX series holds one mesh: the adapted mesh's fields go to the next segment's
                problem = regridder.regrid(problem, depth)
                outputs, probes, writer = adapted_outputs(problem)
                probe_names = probe_fields(problem, outputs)
                if flaw_pressure is not None:
                    flaw_pressure = FlawPressure(problem, cfg)
            if state["step"] % cfg.output.checkpoint_every == 0:
                checkpoint_now()
            if short and cfg.time.stop_at_short_circuit:
                message = "short circuit: metal connects the electrodes"
                break
            if crack_growth_stop(problem, cfg, state, flaw_pressure):
                message = (f"the pressurised crack grew at {state['critical_pressure_Pa']:.6g} Pa"
                           if state["critical_pressure_Pa"] is not None else
                           f"the crack grew at t = {state['t_s']:.6g} s")
                break
            if comm.allreduce(stop.signal is not None, op=MPI.LOR):
                status, message = "interrupted", f"stopped by {stop.signal or 'a signal on another rank'}"
                break
    if status != "failed":
        checkpoint_now()
    if state["output_index"] == 0 or state["last_output_s"] != state["t_s"]:  # the final state, once
        write_output()
    writer.close()
    progress.close()
    loop_wall_s = time.perf_counter() - loop_start

    summary = build_summary(problem, scales, state, status, message, solved_dofs(problem),
                            state["wall_before_s"] + time.perf_counter() - wall_start, A_plating, outputs, regime)
    summary["time_loop_wall_s"] = loop_wall_s  # this segment's steps (and regrids), without set-up and JIT
    if regridder is not None:  # cells now and at most, regrids, the metal measure's largest change at a regrid
        summary["adapt"] = regridder.record(problem)
    io.write_json(out / "summary.json", summary, comm)
    if comm.rank == 0 and not quiet:
        print(f"fem-dendrite: {status} at t = {state['t_s']:.6g} s after {state['step']} steps"
              f"{': ' + message if message else ''}; results in {out}", flush=True)
    return summary


def solved_dofs(problem) -> int:
    """Unknowns of every solve of a step (global): the Newton's, the staggered displacement, the damage."""
    solved = list(problem.unknowns)
    if problem.mechanics is not None and not problem.mechanics_in_newton:  # staggered: solved on its own
        solved.append(problem.mechanics.u)
    if problem.mechanics is not None and problem.mechanics.fracture is not None:  # the damage: its own SNES
        solved.append(problem.mechanics.fracture.d)
    return sum(f.function_space.dofmap.index_map.size_global * f.function_space.dofmap.index_map_bs
               for f in solved)


def regime_numbers(cfg, length_m: float) -> dict:
    """Dimensionless numbers of the configured case (printed at the start of a run, kept in the summary)."""
    from fem_dendrite.solve.faradaic_problem import capillary_speed_ratio, wagner_number

    if cfg.electrochemistry.formulation == "gao2024":
        return {"Lambda": reaction_dominance(cfg, float(cfg.electrode.voltage)), "wagner_number": None,
                "capillary_to_faradaic_speed": None, "interface_cells": interface_cells(cfg)}
    return {"Lambda": None, "wagner_number": wagner_number(cfg, length_m),
            "capillary_to_faradaic_speed": capillary_speed_ratio(cfg), "interface_cells": interface_cells(cfg)}


def regime_warnings(cfg, regime: dict) -> list[str]:
    """What the numbers forbid: a diffuse front (Lambda > 1), GB conductivity effects (Wa >> 1), capillary
    smoothing faster than growth, an interface the mesh does not resolve. None for "confined_flaws": its phase field
    is held (no front, no interface to resolve)."""
    out = []
    if cfg.electrochemistry.formulation == "confined_flaws":
        return out
    cells = regime.get("interface_cells")
    if cells is not None and cells < MIN_INTERFACE_CELLS:
        out.append(f"the mesh does not resolve the interface: its width 2 sqrt(2 kappa0/W) spans {cells:.2g} cells "
                   f"(< {MIN_INTERFACE_CELLS:g}); fronts and speeds carry an O(1) discretisation error there "
                   "(refine the mesh or widen the interface; electrochemistry.phase_mass = \"lumped\" keeps eta "
                   "and c monotone)")
    if regime["Lambda"] is not None and regime["Lambda"] > 1.0:
        out.append(f"reaction/double-well rate ratio Lambda = {regime['Lambda']:.3g} > 1 at the applied voltage: "
                   "the interface may not stay sharp (docs/model/gao2024.md, 'Phase-field mobility')")
    if regime["wagner_number"] is not None and regime["wagner_number"] > 10.0:
        out.append(f"Wagner number {regime['wagner_number']:.3g} >> 1: the interface kinetics, not the ionic paths, "
                   "set the current distribution, so a GB conductivity contrast cannot steer growth here "
                   "(docs/model/formulations.md, 'Wagner number')")
    if regime["capillary_to_faradaic_speed"] is not None and regime["capillary_to_faradaic_speed"] > 1.0:
        out.append(f"capillary/Faradaic front speed ratio {regime['capillary_to_faradaic_speed']:.3g} > 1: "
                   "capillarity smooths protrusions faster than the current grows them (docs/model/formulations.md, 'Capillarity')")
    return out


def interface_overpotential_span(problem, outputs, scales) -> float:
    """max - min (V) of the overpotential over interface cells (0.3 < eta < 0.7 at the cell midpoint), allreduced.

    Faradaic: eta_s = V_s - phi - E0 - V_m (sigma_h - gamma K_m) / F with the cells' hydrostatic stress (and the
    Gibbs-Thomson term where electrochemistry.capillarity = "overpotential"); gao2024: phi - E0."""
    from dolfinx import fem

    Q = fem.functionspace(problem.mesh, ("DG", 0))
    stress = None
    if problem.mechanics is not None and problem.formulation == "faradaic":
        stress = problem.mechanics.cell_fields()["hydrostatic_stress"]
    values, eta = fem.Function(Q), fem.Function(Q)
    values.interpolate(fem.Expression(problem.overpotential_expression(stress), Q.element.interpolation_points))
    eta.interpolate(fem.Expression(problem.eta, Q.element.interpolation_points))
    n = Q.dofmap.index_map.size_local
    mask = (eta.x.array[:n] > 0.3) & (eta.x.array[:n] < 0.7)
    v = values.x.array[:n][mask]
    hi = problem.comm.allreduce(float(v.max(initial=-np.inf)), op=MPI.MAX)
    lo = problem.comm.allreduce(float(v.min(initial=np.inf)), op=MPI.MIN)
    return (hi - lo) * scales.potential if np.isfinite(hi) else 0.0


def gb_lead_m(problem, scales) -> float | None:
    """analysis.gb_lead of the current eta (m), from every rank's owned cells; None without GBs (beta = 0)."""
    from fem_dendrite import analysis

    V = problem.V
    n_cells = problem.mesh.topology.index_map(problem.dim).size_local
    cells = V.dofmap.list[:n_cells]
    x = V.tabulate_dof_coordinates()[:, : problem.dim]
    beta = problem.domain.beta
    beta_values = beta.x.array if beta.function_space.dofmap.index_map.size_global == V.dofmap.index_map.size_global \
        else np.zeros(len(x))
    points, betas = analysis.front_crossings(x, cells, problem.eta.x.array, beta_values)
    points = np.concatenate(problem.comm.allgather(points))
    betas = np.concatenate(problem.comm.allgather(betas))
    lead = analysis.gb_lead(points, betas)
    return None if not np.isfinite(lead) else lead * scales.length


def build_summary(problem, scales, state, status, message, n_dofs, wall_s, plating_area, outputs=None,
                  regime=None) -> dict:
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
        "formulation": problem.formulation,
    }
    # charge = metal: the metal formed (change of integral h(eta), m^3, or m^2 = m^3 per metre of depth in 2D)
    # against V_m / (n F) x the charge passed (C, or C/m in 2D)
    metal = integrals["metal_measure"] * scales.measure(problem.dim)
    formed = metal - (state["metal_measure_initial"] if state["metal_measure_initial"] is not None else metal)
    molar_volume = problem.metal_molar_volume_scaled() / scales.concentration  # m^3 per mol of charge
    from fem_dendrite.scaling import FARADAY
    expected = state["charge_passed_C"] * molar_volume / FARADAY
    summary.update({
        "charge_passed_C": state["charge_passed_C"],
        "metal_formed_m3": formed,
        "faradaic_balance": abs(expected - formed) / max(abs(formed), abs(expected), 1e-300),
        "interface_overpotential_span_V": interface_overpotential_span(problem, outputs, scales),
        "wagner_number": (regime or {}).get("wagner_number"),
        "capillary_to_faradaic_speed": (regime or {}).get("capillary_to_faradaic_speed"),
        "metal_potential_V": problem.cell_voltage() * scales.potential,
        "gb_lead_m": gb_lead_m(problem, scales),
        # staggered coupling: Newton iterations of the displacement solves (this segment of the run), apart from
        # the coupled Newton's newton_iterations
        "mechanics_newton_iterations": getattr(problem, "mechanics_iterations", None),
    })
    summary.update(fracture_summary(problem, state))
    return summary

