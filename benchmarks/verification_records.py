"""Records of the verification cases for the documentation's plots (docs/verification/records.json): the errors the
tests assert, over a wider range of meshes. The cases are the tests' own functions (loaded from tests/):

- manufactured solutions (tests/test_electrochemistry.py): the charge equation and one Nernst-Planck step, P1 on
  n x n unit squares, L2 and H1 errors;
- Eshelby's dilatational inclusion (tests/test_mechanics.py): the relative L2 stress error, P2, plane strain;
- conservation on the default run: charge passed against metal formed at every step, from a run folder's probes.csv
  (`make run` writes results/default).

    .venv/bin/python benchmarks/verification_records.py [--run results/default]
"""
import argparse
import csv
import importlib.util
import json
import time
from pathlib import Path

from mpi4py import MPI

import fem_dendrite  # noqa: F401

from fem_dendrite.scaling import FARADAY

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "verification" / "records.json"


def load_test(name: str):
    spec = importlib.util.spec_from_file_location(f"_records_{name}", ROOT / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mms() -> dict:
    ec = load_test("test_electrochemistry")
    out = {}
    for name, case in (("charge equation", ec.potential_mms), ("Nernst-Planck step", ec.transport_mms)):
        rows = []
        for n in (8, 16, 32, 64):
            l2, h1 = case(MPI.COMM_SELF, n)
            rows.append({"n": n, "h": 1.0 / n, "l2": l2, "h1": h1})
        out[name] = rows
    return out


def eshelby() -> list:
    import ufl

    from fem_dendrite.physics import mechanics as mech

    tm = load_test("test_mechanics")
    rows = []
    for h in (0.4, 0.2, 0.1):
        mesh, tags = tm.inclusion_mesh(2, 1.0, 3.0, h=h)
        eta = tm.indicator(mesh, tags, tm.INCLUSION)
        coeffs = mech.MechanicsCoefficients(1.0, tm.NU, volume_expansion=tm.OMEGA, plasticity=False)
        u, _ = tm.solve_inclusion(2, mesh, eta, coeffs, None, 1.0, 3.0)
        sigma = mech.stress(u, eta, coeffs)
        _, _, inside, outside = tm.eshelby_reference(2, 1.0, 1.0)
        exact = ufl.conditional(ufl.gt(eta, 0.5), ufl.as_tensor(inside), outside(ufl.SpatialCoordinate(mesh)))
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=tags, metadata={"quadrature_degree": 4})
        rows.append({"h": h, "cells": mesh.topology.index_map(2).size_global,
                     "relative_l2_stress_error": tm.relative_l2(sigma, exact, dx)})
    return rows


def conservation(run: Path) -> dict:
    """|metal formed - V_m / F x charge passed| / metal formed at every accepted step of a finished run."""
    cfg = (run / "config.toml").read_text()
    import tomllib

    molar_volume = tomllib.loads(cfg)["electrochemistry"]["metal_molar_volume"]["value"]
    with open(run / "probes.csv", newline="") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    metal0, charge, out = float(rows[0]["metal_measure"]), 0.0, []
    for row in rows[1:]:
        charge += float(row["faradaic_current_A"]) * float(row["dt_s"])
        formed = float(row["metal_measure"]) - metal0
        expected = charge * molar_volume / FARADAY
        out.append({"time_s": float(row["time_s"]), "metal_formed": formed,
                    "mismatch": abs(formed - expected) / max(abs(formed), 1e-300)})
    return {"run": str(run), "rows": out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="results/default", help="a finished default run (make run)")
    args = parser.parse_args()
    start = time.perf_counter()
    record = {"command": "python benchmarks/verification_records.py --run RUN (RUN: `make run`'s folder)",
              "mms": mms(), "eshelby_2d": eshelby(), "conservation": conservation(Path(args.run))}
    record["wall_s"] = time.perf_counter() - start
    OUT.write_text(json.dumps(record, indent=1))
    print(json.dumps({k: v for k, v in record.items() if k != "conservation"}, indent=1))


if __name__ == "__main__":
    main()
