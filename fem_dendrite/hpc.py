"""Batch-system helpers (hpc/ holds the SLURM scripts that use them).

`fem-dendrite compile [CONFIG]`: fills the FFCx/dolfinx JIT cache (``$XDG_CACHE_HOME/fenics``, default
``~/.cache/fenics``) with every form and expression a run of CONFIG uses, on one rank, so that the ranks of a
batch job load compiled kernels instead of compiling them all at once on a shared file system. The generated
code depends on the forms (the model, elements, degrees, cell type, the mechanics switch), not on the mesh, so
the config's geometry is meshed coarsely and one step is taken (the forms built lazily during a step compile too).

`fem-dendrite sweep SPEC --out DIR --member K`: runs member K (index from 0 in spec order, e.g.
``$SLURM_ARRAY_TASK_ID``, or its name) in this process, on every rank of ``mpiexec``/``srun``; resumes from the
member's checkpoint, does nothing for a completed member. `--report-only` assembles ``DIR/sweep.json`` from the
member folders and writes the report (the step after the array job).
"""
from __future__ import annotations

import datetime
import json
import os
import tempfile
from pathlib import Path

from mpi4py import MPI

from fem_dendrite.errors import UserError

COARSE_CELLS_PER_EDGE = 6  # cells along the longest edge of the domain in the compile run


def jit_cache_dir() -> Path:
    """Where dolfinx keeps compiled forms (its jit option cache_dir; XDG_CACHE_HOME moves it)."""
    from dolfinx import jit

    return Path(jit.get_options()["cache_dir"])


def _cache_files(path: Path) -> int:
    return sum(1 for p in path.rglob("*.so")) if path.exists() else 0


def coarse_overrides(cfg) -> list[str]:
    """--set assignments that keep cfg's forms and mesh a coarse, generated polycrystal of the same geometry."""
    h = max(cfg.mesh.size_m) / COARSE_CELLS_PER_EDGE
    return ['mesh.file=""', f"mesh.grains={min(cfg.mesh.grains, 4)}", "mesh.lloyd_iterations=0",
            f"mesh.cell_size_grain_m={h!r}", f"mesh.cell_size_gb_m={h!r}", f"mesh.cell_size_fine_m={h!r}",
            "mesh.fine_band_m=0.0", "output.vtx=false"]


def compile_forms(config_path, overrides=None, comm=MPI.COMM_WORLD) -> dict:
    """One coarse step of the run `config_path` on rank 0 alone (COMM_SELF); returns {cache_dir, new_kernels,
    steps} on every rank. Collective."""
    from fem_dendrite import config, simulation
    from fem_dendrite.parallel import rank_zero_section

    cfg = config.load(config_path, overrides)  # every rank checks the input (one-line errors)
    result = None
    with rank_zero_section(comm) as root:  # no PETSc object of COMM_WORLD can be collected on rank 0 alone here
        if root:
            try:
                coarse = config.load(config_path, list(overrides or []) + coarse_overrides(cfg))
                cache = jit_cache_dir()
                before = _cache_files(cache)
                with tempfile.TemporaryDirectory(prefix="fem-dendrite-compile-") as scratch:
                    summary = simulation.run(coarse, Path(scratch) / "run", comm=MPI.COMM_SELF, max_steps=1,
                                             quiet=True)
                result = {"cache_dir": str(cache), "new_kernels": _cache_files(cache) - before,
                          "steps": summary["steps"]}
            except UserError as err:  # every rank leaves with the same one-line error
                result = {"error": str(err)}
    result = comm.bcast(result, root=0)
    if "error" in result:
        raise UserError(result["error"])
    return result


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


# -- sweep members as array tasks ------------------------------------------------------------------------------------
def select_member(spec, key: str):
    """The member named `key`, or the one at index `key` (from 0, spec order)."""
    names = [m.name for m in spec.members]
    if key in names:
        return spec.members[names.index(key)]
    try:
        index = int(key)
    except ValueError:
        index = None
    if index is None or not 0 <= index < len(names):
        raise UserError(f"--member: expected a member name or an index 0..{len(names) - 1}, got {key!r}")
    return spec.members[index]


def run_member(spec, out_dir, key: str, comm=MPI.COMM_WORLD, quiet: bool = False) -> dict:
    """Run one sweep member in this process (all ranks of `comm`); returns its summary."""
    from fem_dendrite import config, simulation, studies

    member = select_member(spec, key)
    member_dir = Path(out_dir) / member.name
    settings = studies.member_settings(member)  # as studies writes member.json
    previous = member_dir / studies.MEMBER_FILE
    if previous.exists() and json.loads(previous.read_text()) != settings:
        raise UserError(f"{member_dir}: was run with other settings; use another --out or delete that folder")
    if studies.member_completed(member_dir):
        if comm.rank == 0:
            print(f"fem-dendrite sweep: member {member.name} already completed", flush=True)
        return studies.read_summary(member_dir)
    cfg = config.load(member.base, member.set_args())
    resume = studies.checkpoint_path(member_dir).exists()
    comm.barrier()
    if comm.rank == 0:
        member_dir.mkdir(parents=True, exist_ok=True)
        _write_json(previous, settings)
    comm.barrier()
    return simulation.run(cfg, member_dir, resume=resume, comm=comm, quiet=quiet)


def assemble_record(spec, out_dir) -> dict:
    """DIR/sweep.json made from the member folders (their summary.json), as `run_sweep` would have left it."""
    from fem_dendrite import studies

    out_dir = Path(out_dir)
    members = []
    for m in spec.members:
        summary = studies.read_summary(out_dir / m.name)
        status = summary.get("status", "failed") if summary else "pending"
        members.append({**studies.member_entry(m), "status": status,
                        "returncode": None, "wall_time_s": summary.get("wall_time_s") if summary else None,
                        "resumed": False, "command": None, "note": "array task (fem-dendrite sweep --member)"})
    record = {"format": 1, "name": spec.name, "description": spec.description, "spec_file": spec.source,
              "paper_scale": spec.paper_scale, "base": spec.base, "jobs": None,
              "ranks_per_member": spec.ranks_per_member, "spec": spec.raw,
              **({"formulations": list(spec.formulations)} if spec.formulations else {}),
              "state": "finished" if all(e["status"] == "completed" for e in members) else "incomplete",
              "started_at": None, "updated_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "members": members}
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / studies.SWEEP_FILE, record)
    return record


def sweep_cli(args) -> int | None:
    """`sweep --member K` / `sweep --report-only`; None when neither is given (the ordinary sweep runs)."""
    from fem_dendrite import studies

    member, report_only = getattr(args, "member", None), getattr(args, "report_only", False)
    if member is None and not report_only:
        return None
    if member is not None and report_only:
        raise UserError("--member and --report-only: give one of them")
    spec = studies.load_spec(args.spec, paper_scale=args.paper_scale)
    comm = MPI.COMM_WORLD
    if member is not None:
        summary = run_member(spec, args.out, member, comm, quiet=getattr(args, "quiet", False))
        return 0 if summary and summary.get("status") == "completed" else 1
    record = None
    if comm.rank == 0:
        record = assemble_record(spec, args.out)
        report = studies.make_report(args.out)
        done = sum(1 for m in record["members"] if m["status"] == "completed")
        print(f"fem-dendrite sweep: {done}/{len(record['members'])} members completed; report: {report}",
              flush=True)
    record = comm.bcast(record, root=0)
    return 0 if record["state"] == "finished" else 1

