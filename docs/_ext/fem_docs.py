"""Build-time pieces of the fem-dendrite documentation.

At `config-inited` (before Sphinx looks for source files) this writes, under docs/ (all git-ignored):
- `demos/<name>.ipynb`: the executed notebooks of `make notebooks` (one per demos/*.py; a missing one fails the
  build with the command that makes it), rendered by myst-nb without running them again;
- `api/generated/<module>.md`: one autodoc page per module of the package, found by walking fem_dendrite/;
- `_generated/*.png`: figures drawn from the JSON records under docs/ (size scaling, strong scaling, CCD ensembles);
- `_generated/dataflow.dot`, `_generated/imports.dot`: the layer diagrams, from tests/test_architecture.py's LAYERS and
  the import graph it checks.

Directives that turn the JSON records into tables (numbers are never retyped into the pages):
`scaling-table`, `strong-scaling-table`, `peer-table`, `ccd-table`, the fracture pages' (fem_fracture_tables.py; the
helpers in fem_tables.py), and two that read the code: `layer-table`
(which module owns what, from LAYERS and each module's docstring) and `test-catalogue` (what every test file checks,
from its docstrings).

`autodoc-process-docstring` shows every docstring as preformatted text: the package's docstrings are plain text
with equations (`d eta/dt = ...`, `|grad eta|`, `*`), not reStructuredText.
"""
from __future__ import annotations

import ast
import importlib.util
import math
import os
import shutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.errors import ExtensionError

from fem_fracture_tables import DIRECTIVES as FRACTURE_DIRECTIVES
from fem_tables import _records, _source_note, _table

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
PACKAGE = ROOT / "fem_dendrite"
GENERATED = DOCS / "_generated"


# -- helpers ---------------------------------------------------------------------------------------------------------
def _load(path: Path):
    """A Python file as a module, without it being on sys.path (benchmarks/, tests/)."""
    spec = importlib.util.spec_from_file_location(f"_fem_docs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fit_exponent(pairs) -> float | None:
    """Least-squares slope b of log(cost) against log(N)."""
    pts = [(math.log(n), math.log(t)) for n, t in pairs if n > 0 and t > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


# -- generated sources -----------------------------------------------------------------------------------------------
def _copy_notebooks() -> None:
    """docs/demos/<name>.ipynb for every demos/<name>.py, from the executed notebooks of `make notebooks`."""
    source = Path(os.environ.get("FEM_DENDRITE_NOTEBOOKS", ROOT / "notebooks"))
    target = DOCS / "demos"
    demos = sorted(p.stem for p in (ROOT / "demos").glob("*.py"))
    missing = [d for d in demos if not (source / f"{d}.ipynb").exists()]
    if missing:
        raise ExtensionError(f"fem_docs: no executed notebook for demos {', '.join(missing)} in {source}: "
                             "run `make notebooks` first (`make docs` does it when they are missing)")
    for old in target.glob("*.ipynb"):
        if old.stem not in demos:
            old.unlink()
    for name in demos:
        src, dst = source / f"{name}.ipynb", target / f"{name}.ipynb"
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(set(names))


def _write_api_pages() -> None:
    """One page per module: api/generated/<module>.md with an automodule directive."""
    target = DOCS / "api" / "generated"
    target.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for name in _modules():
        wanted[f"{name}.md"] = (f"# {name}\n\n```{{eval-rst}}\n.. automodule:: {name}\n```\n")
    for old in target.glob("*.md"):
        if old.name not in wanted:
            old.unlink()
    for filename, text in wanted.items():
        path = target / filename
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _architecture():
    return _load(ROOT / "tests" / "test_architecture.py")


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _write_architecture_dot() -> None:
    """Two Graphviz sources from tests/test_architecture.py (LAYERS, and the import graph it reads with ast):
    `dataflow.dot`, the layers in data-flow order with the modules each owns, and `imports.dot`, the imports between
    the layers' units (top-level modules and subpackages), one rank per layer."""
    arch = _architecture()
    layers = arch.LAYERS
    graph = arch.graph()
    mods = sorted(arch.modules())

    def unit(module: str) -> str:
        for _, prefixes in layers:
            for prefix in prefixes:
                if prefix != "fem_dendrite" and (module == prefix or module.startswith(prefix + ".")):
                    return prefix
        return "fem_dendrite"

    def short(name: str) -> str:
        return "fem_dendrite" if name == "fem_dendrite" else name.removeprefix("fem_dendrite.")

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    head = ['  node [shape=plaintext, fontname="Helvetica", fontsize=10];',
            '  edge [color="#556688", arrowsize=0.7];']
    # -- the data flow: one box per layer, its units and their submodules
    lines = ["digraph dataflow {", "  rankdir=TB; nodesep=0.3; ranksep=0.25;", *head]
    for index, (title, prefixes) in enumerate(layers):
        rows = []
        for prefix in prefixes:
            subs = [short(m).split(".", 1)[1] for m in mods if m.startswith(prefix + ".") and prefix != "fem_dendrite"]
            chunks, line = [], ""
            for sub in subs:  # wrap a long module list, so that one layer does not make the diagram wide
                if line and len(line) + len(sub) > 44:
                    chunks.append(line.rstrip())
                    line = ""
                line += sub + ", "
            if line:
                chunks.append(line.rstrip(", "))
            text = f"<b>{esc(short(prefix))}</b>" + (f": {'<br align=\"left\"/>'.join(esc(c) for c in chunks)}"
                                                     if chunks else "")
            rows.append(f'<tr><td align="left" balign="left">{text}</td></tr>')
        label = ('<<table border="1" cellborder="0" cellspacing="0" cellpadding="3" style="rounded" '
                 'bgcolor="#eef3fb" color="#8899bb">'
                 f'<tr><td align="left"><font point-size="11"><b>{index + 1}. {esc(title)}</b></font></td></tr>'
                 + "".join(rows) + "</table>>")
        lines.append(f"  L{index} [label={label}];")
    lines += [f"  L{i} -> L{i + 1};" for i in range(len(layers) - 1)]
    lines.append("}")
    _write_if_changed(GENERATED / "dataflow.dot", "\n".join(lines) + "\n")

    # -- the imports between units, one rank per layer (an arrow from A to B: B imports A)
    edges = sorted({(unit(a), unit(b)) for a, targets in graph.items() for b in targets if unit(a) != unit(b)})
    present = {unit(m) for m in graph}
    lines = ["digraph imports {", "  rankdir=TB; newrank=true; nodesep=0.25; ranksep=0.35;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#8899bb", fontname="Helvetica",'
             ' fontsize=10];', '  edge [color="#556688", arrowsize=0.6];']
    firsts = []
    for index, (title, prefixes) in enumerate(layers):
        units = [p for p in prefixes if p in present]
        if not units:
            continue
        lines.append(f'  layer{index} [shape=plaintext, style="", label="{index + 1}. {title}", fontsize=9, '
                     'fontcolor="#667799"];')
        lines.append("  { rank=same; " + f"layer{index}; " + " ".join(f'"{u}";' for u in units) + " }")
        for u in units:
            lines.append(f'  "{u}" [label="{short(u)}"];')
        firsts.append(f"layer{index}")
    lines += [f"  {a} -> {b} [style=invis];" for a, b in zip(firsts, firsts[1:])]
    foundations = set(layers[0][1])  # imported by nearly everything: their arrows are left out (said in the caption)
    lines += [f'  "{b}" -> "{a}";' for a, b in edges if b not in foundations]
    lines.append("}")
    _write_if_changed(GENERATED / "imports.dot", "\n".join(lines) + "\n")


def _plots() -> None:
    """Figures drawn from the JSON records (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    GENERATED.mkdir(exist_ok=True)
    scaling = _load(ROOT / "benchmarks" / "scaling.py")
    for name in ("scaling_2d_faradaic", "scaling_3d_faradaic"):
        scaling.plot(_records(f"{name}.json"), GENERATED / f"{name}.png")
        plt.close("all")

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    for rel, label, marker in STRONG_SCALING:
        recs = sorted(_records(rel), key=lambda r: r["ranks"])
        base = recs[0]
        ranks = [r["ranks"] for r in recs]
        ax0.loglog(ranks, [r["step_s"] for r in recs], marker=marker, label=label)
        ax1.plot(ranks, [base["step_s"] * base["ranks"] / (r["step_s"] * r["ranks"]) for r in recs], marker=marker,
                 label=label)
    allranks = sorted({r["ranks"] for rel, _, _ in STRONG_SCALING for r in _records(rel)})
    ax0.set(xlabel="MPI ranks", ylabel="time per step (s)", title="strong scaling (fixed problem)")
    ax0.set_xticks(allranks, [str(r) for r in allranks])
    ax0.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax0.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax0.set_yticks([2, 3, 5, 10, 20, 30], ["2", "3", "5", "10", "20", "30"])
    ax1.axhline(1.0, color="k", lw=0.8, ls=":")
    ax1.set(xlabel="MPI ranks", ylabel="parallel efficiency", title="efficiency against the fewest ranks",
            xscale="log")
    ax1.set_xticks(allranks, [str(r) for r in allranks])
    for ax in (ax0, ax1):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(GENERATED / "strong_scaling.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for rel, marker in (("ccd/ccd.json", "o"), ("ccd/fast_ramp/ccd.json", "s")):
        record = _records(rel)
        label = f"docs/{rel}: ramp {record['ramp_A_m2_s']:.3g} A m^-2 s^-1"
        members = [m for m in record["members"] if m.get("j_c_A_m2") is not None]
        jc = [m["j_c_A_m2"] / 10.0 for m in members]     # A/m^2 -> mA/cm^2
        mean = sum(jc) / len(jc)
        ax.plot([m["seed"] for m in members], [j / mean for j in jc], marker=marker, ls="none",
                label=f"{label}, mean {mean:.3g} mA/cm^2")
    ax.set(xlabel="member (mesh.seed)", ylabel="j_c / ensemble mean", title="virtual CCD ensembles")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
    fig.tight_layout()
    fig.savefig(GENERATED / "ccd_members.png", dpi=110)
    plt.close(fig)
    _verification_plots(plt)


def _verification_plots(plt) -> None:
    """Convergence and conservation figures from docs/verification/records.json and docs/fracture/verification.json
    (benchmarks/verification_records.py, benchmarks/fracture_verification.py)."""
    rec = _records("verification/records.json")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (name, rows) in zip(axes, rec["mms"].items()):
        h = [r["h"] for r in rows]
        for key, order, marker in (("l2", 2, "o"), ("h1", 1, "s")):
            err = [r[key] for r in rows]
            ax.loglog(h, err, marker=marker, label=f"{key.upper()} error")
            ax.loglog(h, [err[-1] * (x / h[-1]) ** order for x in h], "k:", lw=0.8)
            ax.annotate(f"slope {order}", (h[1], err[-1] * (h[1] / h[-1]) ** order), fontsize=8)
        ax.set(xlabel="h (unit square, n x n x 2 triangles)", ylabel="error", title=f"manufactured solution: {name}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(GENERATED / "mms.png", dpi=110)
    plt.close(fig)

    rows = rec["eshelby_2d"]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    h = [r["h"] for r in rows]
    err = [r["relative_l2_stress_error"] for r in rows]
    ax.loglog(h, err, "o-", label="relative L2 stress error, P2")
    ax.loglog(h, [err[-1] * (x / h[-1]) ** 1.5 for x in h], "k:", lw=0.8, label="slope 3/2")
    ax.set(xlabel="cell size h (inclusion radius 1)", ylabel="error", title="Eshelby's inclusion, plane strain")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(GENERATED / "eshelby.png", dpi=110)
    plt.close(fig)

    rows = rec["conservation"]["rows"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.semilogy([r["time_s"] for r in rows], [max(r["mismatch"], 1e-17) for r in rows], ".-")
    ax.set(xlabel="t (s)", ylabel="|metal formed - V_m Q / F| / metal formed",
           title="charge passed = metal formed, the default run")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(GENERATED / "conservation.png", dpi=110)
    plt.close(fig)

    frac = _records("fracture/verification.json")["sneddon_opening"]
    fig, ax = plt.subplots(figsize=(6, 4))
    lengths = sorted(frac, key=float, reverse=True)
    centres = None
    for length in lengths:
        ratios = frac[length]["profile_ratio"]
        centres = [(k + 0.5) / len(ratios) for k in range(len(ratios))]
        ax.plot(centres, ratios, "o-", label=f"l/a = {float(length) / 1e-6:g}")
    if len(lengths) == 2:
        coarse, fine = (frac[k]["profile_ratio"] for k in lengths)
        ax.plot(centres, [2 * f - c for f, c in zip(fine, coarse)], "k^--", label="Richardson, l -> 0")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(xlabel="y / a (strip centres)", ylabel="opening / Sneddon's",
           title="Sneddon's pressurised crack: the opening along the crack")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(GENERATED / "sneddon_opening.png", dpi=110)
    plt.close(fig)


def generate(app, config) -> None:
    _copy_notebooks()
    _write_api_pages()
    _write_architecture_dot()
    _plots()


# -- directives --------------------------------------------------------------------------------------------------------
STRONG_SCALING = (
    ("strong_scaling/fieldsplit.json", "2D fieldsplit, 26 Nov (406b9a7)", "o"),
    ("strong_scaling/lu.json", "2D LU, 26 Nov (406b9a7)", "s"),
    ("strong_scaling/fieldsplit_2d_interleaved.json", "2D fieldsplit, interleaved, 27 Nov (b730f68)", "^"),
    ("strong_scaling/fieldsplit_3d.json", "3D fieldsplit, mechanics off, 27 Nov (b730f68)", "d"),
)


class ScalingTable(Directive):
    """The size-scaling table of benchmarks/scaling.py from its JSON records (same columns and rounding)."""

    required_arguments = 1

    def run(self):
        rel = self.arguments[0]
        recs = _records(rel)
        rows = []
        for r in sorted(recs, key=lambda r: (r["dim"], r["preset"], r["dofs"])):
            s = max(r["steps"], 1)
            rows.append([f"{r['dim']}D", r["preset"], str(r["dofs"]), f"{r['steps']} ({r['rejected']})",
                         f"{r['newton'] / s:.1f}", f"{r['linear'] / max(r['newton'], 1):.1f}",
                         f"{r['solve_per_step_s']:.2f} s",
                         f"{r['jacobian_s'] / s:.2f} / {r['residual_s'] / s:.2f} / {r['pc_setup_s'] / s:.2f} / "
                         f"{r['ksp_s'] / s:.2f}", f"{r['peak_rss_gib']:.2f} GiB"
                         + ("" if r["status"] == "completed" else f" ({r['status']})")])
        header = ["dim", "preset", "dofs", "steps (rejected)", "Newton / step", "linear / Newton", "solve per step",
                  "Jacobian / residual / PC setup / KSP (s per step)", "peak RSS per rank"]
        fits = []
        for dim, preset in sorted({(r["dim"], r["preset"]) for r in recs}):
            good = [(r["dofs"], r["solve_per_step_s"]) for r in recs
                    if (r["dim"], r["preset"]) == (dim, preset) and r["status"] == "completed" and r["steps"] > 0]
            b = _fit_exponent(good)
            if b is not None:
                fits.append(f"{dim}D {preset}: N^{b:.2f}")
        para = nodes.paragraph(text="Fitted cost per step (solve time): " + ", ".join(fits))
        return [_table(header, rows), para, _source_note([rel])]


class StrongScalingTable(Directive):
    """Time per step, speed-up and efficiency against the fewest ranks, one column group per record."""

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"labels": directives.unchanged}

    def run(self):
        rels = self.arguments[0].split()
        labels = [s.strip() for s in self.options.get("labels", "").split(";")] if "labels" in self.options \
            else rels
        data = [{r["ranks"]: r for r in _records(rel)} for rel in rels]
        ranks = sorted(set().union(*data))
        header = ["ranks"]
        rss = []
        for label, recs in zip(labels, data):
            header += [f"{label}: time per step", "speed-up", "efficiency"]
            rss.append(all("peak_rss_gib" in r for r in recs.values()))
            if rss[-1]:
                header.append(f"{label}: peak RSS per rank")
        rows = []
        for n in ranks:
            row = [str(n)]
            for recs, with_rss in zip(data, rss):
                base = recs[min(recs)]
                r = recs.get(n)
                if r is None:
                    row += ["", "", ""] + ([""] if with_rss else [])
                    continue
                speedup = base["step_s"] / r["step_s"] * 1.0
                eff = speedup * base["ranks"] / r["ranks"]
                t = r["step_s"]
                row += [f"{t:#.3g} s" if t < 100 else f"{t:.0f} s", f"{speedup:.2f}", f"{100 * eff:.0f} %"]
                if with_rss:
                    row.append(f"{r['peak_rss_gib']:.2f} GiB")
            rows.append(row)
        per_step = []
        for label, recs in zip(labels, data):
            newton = sorted({r["newton_per_step"] for r in recs.values()})
            linear = sorted({r["linear_per_step"] for r in recs.values()})
            mech = sorted({r["mechanics_newton_per_step"] for r in recs.values()})
            first = next(iter(recs.values()))
            text = (f"{label}: {first['dofs']:,} coupled unknowns"
                    + (f" + {first['mechanics_dofs']:,} displacement" if first["mechanics_dofs"] else "")
                    + f"; Newton per step {', '.join(f'{v:g}' for v in newton)}"
                    + (f", displacement Newton per step {', '.join(f'{v:g}' for v in mech)}" if any(mech) else "")
                    + f", linear per step {', '.join(f'{v:g}' for v in linear)} (over the rank counts)")
            per_step.append(nodes.list_item("", nodes.paragraph(text=text)))
        return [_table(header, rows), nodes.bullet_list("", *per_step), _source_note(rels)]


class PeerTable(Directive):
    """The mean eta = 0.5 front (+- its std along y) of every run in docs/peer_lithium.json, and their costs."""

    required_arguments = 1

    def run(self):
        rel = self.arguments[0]
        report = _records(rel)
        runs = [(f"peer {Path(p['dir']).name} (dt = {p['dt']:g} s)", p["fronts"], p["wall_s"], p["cpu_s"])
                for p in report["peers"]]
        fem = report.get("fem")
        if fem:
            s = fem["stats"]
            runs.append((f"fem-dendrite ({s.get('ranks', 2)} ranks)", fem["fronts"], s["wall_s"], s["cpu_s"]))
        times = sorted({float(t) for _, fronts, _, _ in runs for t in fronts if float(t) >= 0.1 - 1e-12})
        header = ["run", "wall to 0.5 s", "CPU (all ranks)"] + [f"mean front at {t:g} s (um)" for t in times]
        rows = []
        for label, fronts, wall, cpu in runs:
            by_t = {float(t): v for t, v in fronts.items()}
            rows.append([label, f"{wall:.1f} s", f"{cpu:.1f} s"]
                        + [f"{by_t[t]['mean_um']:.2f} +- {by_t[t]['spread_um']:.2f}" if t in by_t else ""
                           for t in times])
        out = [_table(header, rows)]
        if fem:
            s = fem["stats"]
            out.append(nodes.paragraph(text=(
                f"fem-dendrite: {s['steps']} steps ({s['rejected']} rejected), {s['newton']} Newton and "
                f"{s['linear']} linear iterations, {s.get('one_iteration_steps', '?')} steps with one linear solve, "
                f"{s.get('potential_solves', '?')} potential solves, {s['dofs']} dofs; c in [{s['c_min']:.3g}, "
                f"{s['c_max']:.3g}], eta in [{s['eta_min']:.3g}, {s['eta_max']:.3g}]; overrides: "
                + ", ".join(fem.get("overrides", [])))))
        out.append(_source_note([rel]))
        return out


class CcdTable(Directive):
    """One row per CCD ensemble record (docs/ccd/**/ccd.json): members, j_c, spread, Weibull fit."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self):
        rels = self.arguments[0].split()
        header = ["record", "ramp (A m^-2 s^-1)", "members (censored)", "j_c mean (mA/cm^2)", "j_c range",
                  "spread (max - min) / mean", "plated (um)", "Wagner number", "Weibull j_u / j_0 / m", "KS p",
                  "member wall (s)"]
        rows = []
        for rel in rels:
            rec = _records(rel)
            members = rec["members"]
            done = [m for m in members if not m.get("censored") and m.get("j_c_A_m2") is not None]
            jc = [m["j_c_A_m2"] / 10.0 for m in done]   # A/m^2 -> mA/cm^2
            mean = sum(jc) / len(jc)
            plated = [m["plated_thickness_m"] * 1e6 for m in done if m.get("plated_thickness_m")]
            wa = sorted({round(m["wagner_number"]) for m in done if m.get("wagner_number")})
            walls = [m["wall_time_s"] for m in members if m.get("wall_time_s")]
            w = rec.get("weibull") or {}
            rows.append([
                f"docs/{rel}", f"{rec['ramp_A_m2_s']:.3g}", f"{len(members)} ({len(members) - len(done)})",
                f"{mean:.4g}", f"{min(jc):.4g}-{max(jc):.4g}", f"{100 * (max(jc) - min(jc)) / mean:.2f} %",
                f"{min(plated):.3f}-{max(plated):.3f}" if plated else "",
                ", ".join(str(v) for v in wa),
                f"{w['threshold']:.4g} / {w['scale']:.4g} / {w['shape']:.3g}" if w else "",
                f"{w['ks_pvalue']:.3g}" if w else "", f"{min(walls):.0f}-{max(walls):.0f}" if walls else ""])
        return [_table(header, rows), _source_note(rels)]


def _first_paragraph(text: str | None) -> str:
    if not text:
        return ""
    return " ".join(text.strip().split("\n\n")[0].split())


class LayerTable(Directive):
    """tests/test_architecture.py's LAYERS with every module of each layer and the first paragraph of its
    docstring."""

    def run(self):
        arch = _architecture()
        mods = arch.modules()
        rows = []
        for index, (title, _) in enumerate(arch.LAYERS):
            for name in sorted(n for n in mods if arch.layer_of(n) == index):
                doc = ast.get_docstring(ast.parse(mods[name].read_text()))
                rows.append([f"{index + 1}. {title}", name, _first_paragraph(doc)])
        return [_table(["layer", "module", "what it owns (its docstring's first paragraph)"], rows),
                nodes.paragraph(text="Made at build time from tests/test_architecture.py (LAYERS) and the modules' "
                                     "docstrings.")]


class TestCatalogue(Directive):
    """Every tests/test_*.py: its docstring's first paragraph and its test functions (first docstring line)."""

    def run(self):
        out = []
        for path in sorted((ROOT / "tests").glob("test_*.py")):
            tree = ast.parse(path.read_text())
            section = nodes.container(ids=[nodes.make_id(f"tests-{path.stem}")], classes=["fem-test-file"])
            section += nodes.rubric(text=f"tests/{path.name}")
            section += nodes.paragraph(text=_first_paragraph(ast.get_docstring(tree)) or "(no module docstring)")
            items = []
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                    marks = [ast.unparse(d).removeprefix("pytest.mark.") for d in node.decorator_list
                             if ast.unparse(d).startswith("pytest.mark.") and "parametrize" not in ast.unparse(d)]
                    doc = _first_paragraph(ast.get_docstring(node))
                    para = nodes.paragraph()
                    para += nodes.literal(text=node.name)
                    if marks:
                        para += nodes.Text(f" [{', '.join(marks)}]")
                    if doc:
                        para += nodes.Text(f": {doc}")
                    items.append(nodes.list_item("", para))
            if items:
                section += nodes.bullet_list("", *items)
            out.append(section)
        return out


# -- autodoc -------------------------------------------------------------------------------------------------------------
def literal_docstring(app, what, name, obj, options, lines) -> None:
    """Show a plain-text docstring as it is written (a literal block), so that autodoc never parses it as RST."""
    text = [line.rstrip() for line in lines]
    while text and not text[-1]:
        text.pop()
    if not any(text):
        lines[:] = []
        return
    lines[:] = [".. code-block:: text", "   :class: fem-docstring", ""] + [("   " + line) if line else ""
                                                                          for line in text] + [""]


DIRECTIVES = {"scaling-table": ScalingTable, "strong-scaling-table": StrongScalingTable, "peer-table": PeerTable,
              "ccd-table": CcdTable, "layer-table": LayerTable, "test-catalogue": TestCatalogue,
              **FRACTURE_DIRECTIVES}


def setup(app):
    app.connect("config-inited", generate)
    app.connect("autodoc-process-docstring", literal_docstring)
    for name, directive in DIRECTIVES.items():
        app.add_directive(name, directive)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
