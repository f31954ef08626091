"""Residual stress from sintering (Liu 2024): each grain's crystal orientation, the NASICON lattice's anisotropic
thermal expansion, and the quasi-static cool-down from the sintering temperature to room temperature.

    alpha(c) = alpha_a I + (alpha_c - alpha_a) c (x) c           (1/K; c: the grain's unit c axis)
    eps_th   = (1 - h(eta)) [alpha(c) - <alpha>] (T - T_sinter)   (3x3, stress-free at the sintering temperature)

<alpha> is alpha averaged over the orientations the grains can take (2D: c in the plane, <c c> = diag(1/2, 1/2, 0);
3D: <c c> = I/3): a free pellet shrinks by it without stress, so only the grains' mismatch loads the window of a
pellet the mesh cuts out (its roller sides would otherwise carry the whole pellet's shrinkage). The metal (eta = 1)
was added after sintering and takes no thermal strain. Orientations are drawn from fracture.orientation_seed in the
order of the grain tags, so every rank and every rank count draws the same ones (2D: the c axis at an angle
uniform in [0, pi) from x; 3D: uniform on the sphere); cells outside a tagged grain (GB strips) take <alpha>.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from dolfinx import fem
from petsc4py import PETSc

from fem_dendrite import materials
from fem_dendrite.mesh import GB_STRIP_TAG

ORIENTATIONS_FILE = "grain_orientations.json"


def grain_tags(domain, comm) -> list[int]:
    """The grain tags of the mesh on every rank (sorted; [0] for a single crystal without cell tags)."""
    local = set() if domain.cell_tags is None else set(int(v) for v in np.unique(domain.cell_tags.values))
    tags = sorted(set().union(*comm.allgather(local)) - {GB_STRIP_TAG})
    return tags or [0]


def draw_orientations(tags: list[int], dim: int, seed: int) -> dict[int, np.ndarray]:
    """{grain tag: unit c axis (3,)}, seeded, in tag order."""
    rng = np.random.default_rng(seed)
    out = {}
    for tag in tags:
        if dim == 2:
            angle = rng.uniform(0.0, np.pi)
            out[tag] = np.array([np.cos(angle), np.sin(angle), 0.0])
        else:
            v = rng.normal(size=3)
            out[tag] = v / np.linalg.norm(v)
    return out


def expansion_tensor(axis: np.ndarray, alpha_a: float, alpha_c: float) -> np.ndarray:
    """alpha(c) = alpha_a I + (alpha_c - alpha_a) c (x) c (3x3, 1/K)."""
    return alpha_a * np.eye(3) + (alpha_c - alpha_a) * np.outer(axis, axis)


def mean_expansion(dim: int, alpha_a: float, alpha_c: float) -> np.ndarray:
    """alpha averaged over the orientations: 2D in-plane c axes, 3D all directions (3x3, 1/K)."""
    cc = np.diag([0.5, 0.5, 0.0]) if dim == 2 else np.eye(3) / 3.0
    return alpha_a * np.eye(3) + (alpha_c - alpha_a) * cc


class Sintering:
    """The grains' expansion mismatch field and the temperature change of the cool-down (a Constant, K)."""

    def __init__(self, cfg):
        self.cfg = cfg
        f, e = cfg.fracture, cfg.materials.electrolyte
        self.alpha_a, self.alpha_c = float(e.thermal_expansion_a), float(e.thermal_expansion_c)
        self.final_change_K = float(cfg.electrochemistry.temperature) - float(f.sintering_temperature)

    def attach(self, msh, domain) -> None:
        """Orientations of the grains and the DG0 field alpha(c) - <alpha> (1/K)."""
        comm, dim = msh.comm, msh.geometry.dim
        self.orientations = draw_orientations(grain_tags(domain, comm), dim, self.cfg.fracture.orientation_seed)
        mean = mean_expansion(dim, self.alpha_a, self.alpha_c)
        W = fem.functionspace(msh, ("DG", 0, (3, 3)))
        self.mismatch = fem.Function(W, name="thermal_expansion_mismatch")
        n_cells = msh.topology.index_map(msh.topology.dim).size_local + msh.topology.index_map(msh.topology.dim).num_ghosts
        values = np.zeros((n_cells, 9))
        if domain.cell_tags is None:
            values[:] = (expansion_tensor(self.orientations[0], self.alpha_a, self.alpha_c) - mean).ravel()
        else:
            for tag, axis in self.orientations.items():
                cells = domain.cell_tags.find(tag)
                values[cells] = (expansion_tensor(axis, self.alpha_a, self.alpha_c) - mean).ravel()
        dofs = W.dofmap.list[:, 0]
        self.mismatch.x.array.reshape(-1, 9)[dofs] = values
        self.mismatch.x.scatter_forward()
        self.temperature_change = fem.Constant(msh, PETSc.ScalarType(0.0))

    def thermal_strain(self, eta):
        """(1 - h(eta)) [alpha(c) - <alpha>] (T - T_sinter): the electrolyte's thermal eigenstrain (3x3 UFL)."""
        return (1.0 - materials.interpolation(eta)) * self.temperature_change * self.mismatch

    def write_orientations(self, out: Path, comm) -> None:
        """grain_orientations.json (rank 0): {tag: c axis} and the expansion coefficients, with the mesh."""
        if comm.rank == 0:
            data = {"seed": self.cfg.fracture.orientation_seed, "alpha_a_per_K": self.alpha_a,
                    "alpha_c_per_K": self.alpha_c, "c_axis": {str(k): v.tolist() for k, v in self.orientations.items()}}
            Path(out, ORIENTATIONS_FILE).write_text(json.dumps(data, indent=1))
        comm.barrier()

    def cooldown(self, load_step, accept, reject) -> dict:
        """Ramp T - T_sinter from 0 to its final value in fracture.cooldown_steps equal decrements (halved where a
        load step raises ConvergenceError, down to 1/64 of one); load_step() solves the state at the current
        temperature change (returning its iteration counts), accept() accepts it, reject() restores the last accepted
        one. Returns {steps, halvings, load_steps: [{temperature_change_K, wall_s, counts...}]}."""
        from fem_dendrite.errors import ConvergenceError

        n = self.cfg.fracture.cooldown_steps
        done, increment, steps, halvings = 0.0, 1.0 / n, 0, 0
        load_steps = []
        while done < 1.0 - 1e-12:
            target = min(done + increment, 1.0)
            self.temperature_change.value = target * self.final_change_K
            start = time.perf_counter()
            try:
                counts = load_step()
            except ConvergenceError as err:
                reject()
                halvings += 1
                increment *= 0.5
                if increment < 1.0 / (64 * n):
                    raise ConvergenceError(f"sintering cool-down: no converged state at T - T_sinter = "
                                           f"{target * self.final_change_K:.4g} K ({err})") from None
                self.temperature_change.value = done * self.final_change_K
                continue
            accept()
            done, steps = target, steps + 1
            load_steps.append({"temperature_change_K": target * self.final_change_K,
                               "wall_s": time.perf_counter() - start, **(counts or {})})
        self.temperature_change.value = self.final_change_K
        return {"steps": steps, "halvings": halvings, "load_steps": load_steps}

    def restore(self) -> None:
        """A resumed run continues after the cool-down: the final temperature change."""
        self.temperature_change.value = self.final_change_K
