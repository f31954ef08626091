"""Command line: `fem-dendrite mesh | mesh-info | run | render | config show | sweep | ccd | conductivity | weibull
| compile`.

Bad input ends with one line on stderr naming the problem (exit code 2), never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (exit 2)."""

    def error(self, message):  # noqa: D102
        raise SystemExit(_fail(f"{self.prog}: {message}"))


def _fail(message: str) -> int:
    print(f"fem-dendrite: error: {message}", file=sys.stderr)
    return 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fem-dendrite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    # -- mesh ---------------------------------------------------------------------------------------------
    p = sub.add_parser("mesh", help="build a Voronoi polycrystal mesh with Gmsh")
    p.add_argument("--dim", type=int, choices=(2, 3), default=2, help="2 (rectangle) or 3 (box)")
    p.add_argument("--size", type=_positive_float, nargs="+", required=True, metavar="L",
                   help="domain edge lengths in m: LX LY (2D) or LX LY LZ (3D)")
    grains = p.add_mutually_exclusive_group(required=True)
    grains.add_argument("--grains", type=int, help="number of grains (>= 1)")
    grains.add_argument("--mean-grain-size", type=_positive_float, metavar="D",
                        help="mean grain diameter in m (the grain count follows from the domain measure)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the Voronoi seed points")
    p.add_argument("--lloyd", type=int, default=0, metavar="N", help="Lloyd relaxation iterations")
    p.add_argument("--h-grain", type=_positive_float, metavar="H", help="cell size inside grains (m)")
    p.add_argument("--h-gb", type=_positive_float, metavar="H", help="cell size at grain boundaries (m)")
    p.add_argument("--gb-width", type=_positive_float, metavar="W",
                   help="width (m) of explicit GB strips tagged as their own cells (2D); default: no strips")
    p.add_argument("--refine-disk", type=float, nargs="+", action="append", default=None,
                   metavar="V", help="X Y R H (2D) or X Y Z R H (3D): cell size H inside a disk/ball of radius R")
    p.add_argument("--refine-box", type=float, nargs="+", action="append", default=None,
                   metavar="V", help="XMIN YMIN XMAX YMAX H (2D) or with Z: cell size H inside a box")
    p.add_argument("--out", required=True, help="output .msh file")

    p = sub.add_parser("mesh-info", help="print one JSON object describing a .msh file (same on any rank count)")
    p.add_argument("file")

    # -- run / render / config --------------------------------------------------------------------------
    p = sub.add_parser("run", help="run a simulation (default: the bundled reference case)")
    p.add_argument("config", nargs="?", default=None, help="TOML file (default: the bundled default case)")
    p.add_argument("--out", default="results/run", help="run folder (default: results/run)")
    p.add_argument("--set", dest="overrides", action="append", default=None, metavar="SECTION.KEY=VALUE",
                   help="override one config entry (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--quiet", action="store_true",
                   help="no progress (one line per accepted step, or a bar on a terminal) and no closing line")

    p = sub.add_parser("render", help="write PNG panels of a run folder (pyvista, off-screen)")
    p.add_argument("run_dir")
    p.add_argument("--mesh", action="store_true", help="also pictures/mesh.png: the cells drawn over eta (2D)")
    p.add_argument("--window", type=float, nargs=4, metavar=("X0", "X1", "Y0", "Y1"),
                   help="with --mesh: zoom to this window (m)")

    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    q = csub.add_parser("show", help="print the resolved configuration as TOML")
    q.add_argument("config", nargs="?", default=None)
    q.add_argument("--set", dest="overrides", action="append", default=None, metavar="SECTION.KEY=VALUE")

    p = sub.add_parser("sweep", help="run a parameter sweep (a list or grid of config variations)")
    p.add_argument("spec", help="sweep TOML spec (a file, or the name of a bundled spec)")
    p.add_argument("--out", required=True, help="sweep folder")
    p.add_argument("--jobs", type=int, default=None, help="members run at once (default: from the spec)")
    p.add_argument("--paper-scale", action="store_true", help="use the resolution of a cluster run")
    p.add_argument("--member", metavar="K", default=None,
                   help="run only member K (index from 0 or name) in this process, e.g. one SLURM array task")
    p.add_argument("--report-only", action="store_true",
                   help="assemble sweep.json from the member folders and write the report (after array tasks)")
    p.add_argument("--quiet", action="store_true", help="with --member: no per-step progress lines")

    p = sub.add_parser("compile", help="fill the JIT cache with every form a run of CONFIG uses (one rank)")
    p.add_argument("config", nargs="?", default=None, help="TOML file or bundled name (default: the default case)")
    p.add_argument("--set", dest="overrides", action="append", default=None, metavar="SECTION.KEY=VALUE")

    p = sub.add_parser("ccd", help="virtual critical-current-density test: an ensemble of microstructures under a "
                                   "current ramp until short circuit, with the Weibull statistics of j_c")
    p.add_argument("config", nargs="?", default=None, help="TOML file (default: the bundled default case)")
    p.add_argument("--members", type=int, required=True, help="number of microstructures (mesh.seed values)")
    p.add_argument("--out", required=True, help="ensemble folder (resumable, like `sweep`)")
    p.add_argument("--ramp", type=_positive_float, default=None, metavar="RATE",
                   help="current ramp in A m^-2 s^-1 (default 2.78e-3 = 1 mA cm^-2 h^-1, Lowack 2025; a quasi-static "
                        "formulation (confined_flaws) keeps its config's ramp)")
    p.add_argument("--seed0", type=int, default=0, help="mesh.seed of the first member (default 0)")
    p.add_argument("--jobs", type=int, default=None, help="members run at once (default 1)")
    p.add_argument("--set", dest="overrides", action="append", default=None, metavar="SECTION.KEY=VALUE",
                   help="override one config entry of every member (repeatable)")

    # -- lab: effective conductivity / impedance, statistics of critical current densities ---------
    p = sub.add_parser("conductivity", help="effective conductivity, impedance, Arrhenius and GB calibration of "
                                            "the configured polycrystal (no metal)")
    p.add_argument("config", nargs="?", default=None, help="TOML file (default: the bundled default case)")
    p.add_argument("--out", required=True, help="folder for conductivity.json and the plots")
    p.add_argument("--calibrate", choices=("band", "contact"), default="band",
                   help="read the measured R_gb as the GB band's conductivity (band, default) or as GBs open over "
                        "part of their length, the intact GB as configured (contact: calibration.gb_contact_fraction)")
    p.add_argument("--set", dest="overrides", action="append", default=None, metavar="SECTION.KEY=VALUE",
                   help="override one config entry (repeatable)")

    p = sub.add_parser("weibull", help="shifted Weibull statistics of critical current densities (Lowack 2025)")
    p.add_argument("file", help="CSV with a header row; the column whose header names the unit (mA/cm^2 or A/m^2)")
    p.add_argument("--out", required=True, help="folder for weibull.json and weibull.png")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--column", default=None, help="the column's header when several name a unit")
    p.add_argument("--bootstrap", type=int, default=999, metavar="B",
                   help="parametric bootstrap samples for the CIs and the KS p-value (default 999)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (0.95)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The `fem-dendrite` argument parser (the command-line reference of the documentation is made from it)."""
    return _build_parser()


# -- handlers -----------------------------------------------------------------------------------------------
def _cmd_mesh(args) -> int:
    from mpi4py import MPI

    from fem_dendrite import mesh
    from fem_dendrite.errors import UserError

    try:
        spec = mesh.spec_from_cli(args)
        mesh.generate_polycrystal(spec, args.out, MPI.COMM_WORLD)
    except UserError:
        if MPI.COMM_WORLD.rank != 0:
            return 2  # every rank sees the error; rank 0 reports it (one line)
        raise
    return 0


def _cmd_mesh_info(args) -> int:
    from mpi4py import MPI

    from fem_dendrite import mesh
    from fem_dendrite.errors import UserError

    try:
        info = mesh.mesh_info(args.file, MPI.COMM_WORLD)
    except UserError:
        if MPI.COMM_WORLD.rank != 0:
            return 2  # every rank sees the error; rank 0 reports it (one line)
        raise
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps(info, sort_keys=True))
    return 0


def _cmd_run(args) -> int:
    from fem_dendrite import config, simulation

    cfg = config.load(args.config, args.overrides)
    summary = simulation.run(cfg, args.out, resume=args.resume, quiet=args.quiet)
    return 0 if summary["status"] == "completed" else 1


def _cmd_render(args) -> int:
    from fem_dendrite import render

    for path in render.render_run(args.run_dir):
        print(path)
    if args.mesh:
        from fem_dendrite.render_mesh import render_mesh

        print(render_mesh(render.load_snapshot(render.snapshot_files(args.run_dir)[-1]),
                          Path(args.run_dir) / "pictures" / "mesh.png", args.window))
    return 0


def _cmd_config(args) -> int:
    from fem_dendrite import config

    cfg = config.load(args.config, args.overrides)
    print(config.to_toml(cfg), end="")
    return 0


def _cmd_sweep(args) -> int:
    from fem_dendrite import hpc, studies

    code = hpc.sweep_cli(args)  # --member K / --report-only (batch array jobs)
    return studies.run_sweep_cli(args) if code is None else code


def _cmd_compile(args) -> int:
    from mpi4py import MPI

    from fem_dendrite import hpc

    result = hpc.compile_forms(args.config, args.overrides)
    if MPI.COMM_WORLD.rank == 0:
        print(f"fem-dendrite compile: {result['new_kernels']} new kernels in {result['cache_dir']} "
              f"(coarse run of {result['steps']} step(s))", flush=True)
    return 0


def _cmd_ccd(args) -> int:
    from fem_dendrite.studies import ccd

    return ccd.run_ccd_cli(args)


def _cmd_conductivity(args) -> int:
    from mpi4py import MPI

    from fem_dendrite.errors import UserError
    from fem_dendrite.lab import conductivity

    try:
        return conductivity.run_cli(args)
    except UserError:
        if MPI.COMM_WORLD.rank != 0:
            return 2  # every rank sees the error; rank 0 reports it (one line)
        raise


def _cmd_weibull(args) -> int:
    from fem_dendrite.lab import weibull

    return weibull.run_cli(args)


_HANDLERS = {
    "mesh": _cmd_mesh,
    "mesh-info": _cmd_mesh_info,
    "run": _cmd_run,
    "render": _cmd_render,
    "config": _cmd_config,
    "sweep": _cmd_sweep,
    "compile": _cmd_compile,
    "ccd": _cmd_ccd,
    "conductivity": _cmd_conductivity,
    "weibull": _cmd_weibull,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `fem-dendrite` console script."""
    from fem_dendrite.errors import ConvergenceError, UserError

    args = _build_parser().parse_args(argv)
    try:
        return _HANDLERS[args.command](args)
    except UserError as err:
        return _fail(str(err))
    except FileNotFoundError as err:
        return _fail(f"file not found: {err.filename or err}")
    except ConvergenceError as err:  # e.g. the initial mechanical equilibrium of an extreme input
        return _fail(f"the solver did not converge before the first step: {err}")
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    raise SystemExit(main())
