"""Sweep report: the paper-comparison verdicts on synthetic member rows, the resolution / wall-time header, and the
sweep figures (fields.png, histories.png) on tiny synthetic run folders (with and without mechanics fields)."""
import json
from pathlib import Path

import numpy as np
from synthetic import square_triangles
import pytest

from fem_dendrite import config, render, studies

E_KEY = "materials.grain_boundary.youngs_modulus"
SIGMA_KEY = "materials.grain_boundary.conductivity"
D_KEY = "materials.grain_boundary.diffusivity"


def row(name, key, x, status="completed", tips=None, gb_fraction=None, **summary):
    return {"name": name, "status": status, "values": {key: x}, "summary": dict(summary), "tips": tips,
            "gb_metal_fraction": gb_fraction}


def verdicts(rows) -> dict:
    kind, found, note = studies.paper_comparison(rows)
    assert kind is not None, note
    return {st.paper: v for st, v in found}


def statement(kind_key: str, start: str) -> str:
    kind = next(k for k in studies.PAPER_SWEEPS if k.key == kind_key)
    return next(st.paper for st in kind.statements if st.paper.startswith(start))


# -- verdict logic ------------------------------------------------------------------------------------------------
def series(metric, xs, ys):
    return [(x, {"summary": {metric: y}}) for x, y in zip(xs, ys)]


@pytest.mark.parametrize("ys, outcome", [
    ([4.0, 3.9, 3.8, 3.7], studies.REPRODUCED),          # monotone decrease, within "slightly"
    ([4.0, 4.1, 3.8, 3.7], studies.PARTLY),              # right direction at the ends, not monotone
    ([4.0, 3.0, 2.0, 1.0], studies.PARTLY),              # monotone but -75 %: not "slight"
    ([3.7, 3.8, 3.9, 4.0], studies.NOT_REPRODUCED),      # the opposite trend
    ([4.0, 4.01, 3.99, 4.0], studies.NOT_REPRODUCED),    # flat (below FLAT_REL)
    ([None, None, None, None], studies.NOT_COMPUTED),
    ([None, 4.0, None, None], studies.NOT_COMPUTED),     # one value is no trend
])
def test_trend_judge(ys, outcome):
    judge = studies.trend(["dendrite_depth_m"], -1, slight=studies.SLIGHT_REL)
    verdict = judge(series("dendrite_depth_m", [1e9, 2e10, 5e10, 8e10], ys), "E_GB")
    assert verdict.outcome == outcome
    if outcome != studies.NOT_COMPUTED:
        assert "E_GB = 1e+09, 2e+10, 5e+10, 8e+10" in verdict.numbers


def test_trend_needs_every_metric_for_reproduced():
    rows = [(1.0, {"summary": {"a": 3.0, "b": None}}), (2.0, {"summary": {"a": 2.0, "b": None}})]
    assert studies.trend(["a"], -1)(rows, "x").outcome == studies.REPRODUCED
    assert studies.trend(["a", "b"], -1)(rows, "x").outcome == studies.PARTLY
    assert studies.trend(["a"], +1)(rows, "x").outcome == studies.NOT_REPRODUCED


@pytest.mark.parametrize("values, mode, select, outcome", [
    ([70e6, 90e6], "at_most", "each", studies.REPRODUCED),
    ([1e6, 2e6], "at_most", "each", studies.REPRODUCED),           # "stays low": lower still agrees
    ([70e6, 500e6], "at_most", "each", studies.PARTLY),
    ([2e9, 3e9], "at_most", "each", studies.NOT_REPRODUCED),
    ([1e6, 70e6], "near", "each", studies.PARTLY),                  # one member within a factor 2
    ([1e6, 2e6], "near", "each", studies.NOT_REPRODUCED),
    ([70e6, 1.0], "near", "lowest", studies.REPRODUCED),           # only the member with the lowest value counts
    ([70e6, 1.0], "near", "highest", studies.NOT_REPRODUCED),
    ([None, 70e6], "near", "lowest", studies.NOT_COMPUTED),
])
def test_level_judge(values, mode, select, outcome):
    judge = studies.level("max_von_mises_se_Pa", 70e6, select, mode)
    assert judge(series("max_von_mises_se_Pa", [1.0, 2.0], values), "E_GB").outcome == outcome


def test_spread_at_least_and_all_of():
    same = [(1.0, {"tips": 2, "summary": {"d": 1.0}}), (2.0, {"tips": 2, "summary": {"d": 1.1}})]
    other = [(1.0, {"tips": 1, "summary": {"d": 1.0}}), (2.0, {"tips": 3, "summary": {"d": 3.0}})]
    assert studies.spread(["tips"], tol=0.0)(same, "x").outcome == studies.REPRODUCED
    assert studies.spread(["tips"], tol=0.0)(other, "x").outcome == studies.NOT_REPRODUCED
    assert studies.spread(["d"])(same, "x").outcome == studies.REPRODUCED
    assert studies.spread(["missing"])(same, "x").outcome == studies.NOT_COMPUTED
    assert studies.at_least("tips", 2, "highest")(other, "x").outcome == studies.REPRODUCED
    assert studies.at_least("tips", 2, "lowest")(other, "x").outcome == studies.NOT_REPRODUCED
    both = studies.all_of(studies.spread(["d"]), studies.spread(["tips"], tol=0.0))
    assert both(same, "x").outcome == studies.REPRODUCED
    assert both(other, "x").outcome == studies.NOT_REPRODUCED
    half = studies.all_of(studies.spread(["d"]), studies.spread(["missing"]))
    assert half(same, "x").outcome == studies.PARTLY
    assert studies.all_of(studies.spread(["missing"]))(same, "x").outcome == studies.NOT_COMPUTED


# -- paper comparison per sweep kind ----------------------------------------------------------------------------
def e_rows(depths, metals, se=None, metal_vm=None, strain=None, tips=(1, 1, 1, 1), gb=(None,) * 4):
    es = [1e9, 2e10, 5e10, 8e10]
    return [row(f"E{i}", E_KEY, e, tips=tips[i], gb_fraction=gb[i], dendrite_depth_m=depths[i],
                metal_measure=metals[i], max_von_mises_se_Pa=se and se[i], max_von_mises_metal_Pa=metal_vm
                and metal_vm[i], max_equivalent_plastic_strain=strain and strain[i],
                max_current_density_A_m2=5000.0) for i, e in enumerate(es)]


def test_e_gb_statements():
    slow = statement(E_KEY, "Stiffer GBs slow growth")
    low = statement(E_KEY, "Stress in the SE stays low")
    soft = statement(E_KEY, "Dendrites prefer soft GBs")
    current = statement(E_KEY, "Interface current density")
    got = verdicts(e_rows([4.0, 3.9, 3.8, 3.7], [2.0, 1.98, 1.95, 1.9], se=[60e6, 65e6, 70e6, 72e6],
                          metal_vm=[0.6e6] * 4, strain=[0.1] * 4, gb=(0.6, 0.5, 0.4, 0.3)))
    assert got[slow].outcome == studies.REPRODUCED
    assert got[low].outcome == studies.REPRODUCED and "7.2e+07" in got[low].numbers
    assert got[soft].outcome == studies.REPRODUCED
    assert got[current].outcome == studies.REPRODUCED          # 5000 A/m^2 vs 4000
    assert got[statement(E_KEY, "Dendrite patterns")].outcome == studies.REPRODUCED

    got = verdicts(e_rows([3.7, 3.8, 3.9, 4.0], [1.9, 1.95, 1.98, 2.0], gb=(0.3, 0.4, 0.5, 0.6)))
    assert got[slow].outcome == studies.NOT_REPRODUCED
    assert got[soft].outcome == studies.NOT_REPRODUCED
    assert got[low].outcome == studies.NOT_COMPUTED            # no mechanics: no stress in the summary
    assert got[statement(E_KEY, "Plastic strain")].outcome == studies.NOT_COMPUTED


def test_sigma_gb_statements():
    sigmas = [0.0125, 0.025, 25.0, 2500.0]
    spans, tips = [2.4, 1.0, 1e-3, 5e-5], [4, 3, 2, 2]
    rows = [row(f"s{i}", SIGMA_KEY, s, tips=tips[i], potential_span_V=spans[i]) for i, s in enumerate(sigmas)]
    got = verdicts(rows[::-1])  # order of the members does not matter: they are sorted by the swept value
    assert got[statement(SIGMA_KEY, "High GB conductivity gives an almost")].outcome == studies.REPRODUCED
    assert got[statement(SIGMA_KEY, "Low GB conductivity gives a potential")].outcome == studies.REPRODUCED
    assert got[statement(SIGMA_KEY, "Low GB conductivity gives more")].outcome == studies.REPRODUCED
    assert got[statement(SIGMA_KEY, "High GB conductivity gives tip")].outcome == studies.REPRODUCED

    flat = [row(f"s{i}", SIGMA_KEY, s, tips=1, potential_span_V=0.5) for i, s in enumerate(sigmas)]
    got = verdicts(flat)
    assert got[statement(SIGMA_KEY, "High GB conductivity gives an almost")].outcome == studies.NOT_REPRODUCED
    assert got[statement(SIGMA_KEY, "Low GB conductivity gives a potential")].outcome == studies.PARTLY  # 0.5 V
    assert got[statement(SIGMA_KEY, "Low GB conductivity gives more")].outcome == studies.NOT_REPRODUCED
    assert got[statement(SIGMA_KEY, "High GB conductivity gives tip")].outcome == studies.NOT_REPRODUCED


def test_d_gb_statement_uses_completed_members_only():
    key = statement(D_KEY, "Lower GB diffusivity")
    rows = [row("lo", D_KEY, 1.5e-15, dendrite_depth_m=5.0, metal_measure=3.0),
            row("mid", D_KEY, 1.5e-14, dendrite_depth_m=4.0, metal_measure=2.5),
            row("hi", D_KEY, 1.5e-13, status="failed", dendrite_depth_m=9.0, metal_measure=9.0)]
    kind, found, note = studies.paper_comparison(rows)
    assert kind.symbol == "D_GB" and "2 of 3 members" in note
    assert dict((st.paper, v) for st, v in found)[key].outcome == studies.REPRODUCED
    rows[1]["summary"] = {}
    assert verdicts(rows)[key].outcome == studies.NOT_COMPUTED


def test_unknown_or_mixed_sweeps_are_not_compared():
    kind, found, note = studies.paper_comparison([row("a", "time.end_s", 1.0), row("b", "time.end_s", 2.0)])
    assert kind is None and not found and "time.end_s" in note
    mixed = [{**row("a", E_KEY, 1e9), "values": {E_KEY: 1e9, "mesh.seed": 1}},
             {**row("b", E_KEY, 2e10), "values": {E_KEY: 2e10, "mesh.seed": 2}}]
    kind, found, note = studies.paper_comparison(mixed)
    assert kind.key == E_KEY and not found and "mesh.seed" in note


def test_every_bundled_spec_is_compared_and_paper_scale_parses():
    keys = {kind.key for kind in studies.PAPER_SWEEPS}
    for name in ("gb_youngs_modulus", "gb_conductivity", "gb_diffusivity"):
        spec = studies.load_spec(name)
        rows = [{"name": m.name, "status": "completed", "values": m.values, "summary": {}} for m in spec.members]
        assert studies.varied_keys(rows)[0] in keys
        paper = studies.load_spec(name, paper_scale=True)
        assert paper.paper_scale and [m.name for m in paper.members] == [m.name for m in spec.members]
        paper_set = paper.raw["paper_scale"]["set"]
        assert paper_set and all(k.startswith("mesh.cell_size") for k in paper_set)
        for member, plain in zip(paper.members, spec.members):
            assert {k: member.overrides[k] for k in paper_set} == paper_set
            assert not set(paper_set) & set(plain.overrides)
        studies.validate_members(paper)                                  # the run config accepts the keys
        mesh = config.load(None, paper.members[0].set_args()).mesh
        assert mesh.cell_size_fine_m < config.load(None).mesh.cell_size_fine_m   # finer than the default


# -- report text --------------------------------------------------------------------------------------------------
def write_sweep(tmp_path, members, paper_scale=False) -> Path:
    out = tmp_path / "sweep"
    out.mkdir()
    entries = []
    for name, key, x, status, summary in members:
        (out / name).mkdir()
        if summary is not None:
            (out / name / "summary.json").write_text(json.dumps({"status": status, **summary}))
        entries.append({"name": name, "dir": name, "values": {key: x}, "status": status, "wall_time_s": 1.0})
    record = {"format": 1, "name": "test", "description": "", "spec_file": "spec.toml", "paper_scale": paper_scale,
              "base": None, "state": "finished", "updated_at": "now", "members": entries,
              "spec": {"paper_scale": {"set": {"mesh": {"cell_size_fine_m": 1.5e-8}}}}}
    (out / "sweep.json").write_text(json.dumps(record))
    return out


def test_report_has_comparison_resolution_and_wall_time(tmp_path):
    members = [(f"D{i}", D_KEY, d, "completed", {"dendrite_depth_m": depth, "metal_measure": depth / 2,
                                                  "wall_time_s": wall, "dofs": 1000, "ranks": 1})
               for i, (d, depth, wall) in enumerate([(1e-15, 3.0, 10.0), (1e-14, 2.0, 30.0), (1e-13, 1.0, 20.0)])]
    members.append(("D3", D_KEY, 1e-12, "failed", None))
    out = write_sweep(tmp_path, members, paper_scale=True)
    (out / "D0" / "config.toml").write_text('[mesh]\nsize_m = [2.0e-6, 2.0e-6]\ncell_size_grain_m = 6.0e-8\n'
                                            'cell_size_gb_m = 4.0e-8\ncell_size_fine_m = 1.5e-8\n')
    text = studies.make_report(out, figures=False).read_text()
    assert "- wall time: sum 60.0 s, max 30.0 s (D1) over 3 member(s)" in text
    assert "- resolution: paper scale (`--paper-scale`: mesh.cell_size_fine_m=1.5e-08)" in text
    assert "cell size grain/GB/fine 60 nm / 40 nm / 15 nm, domain 2 x 2 um; 1000 dofs on 1 rank(s)" in text
    assert "## Comparison with the paper" in text and "3 of 4 members completed and used" in text
    line = next(ln for ln in text.splitlines() if "Lower GB diffusivity" in ln)
    assert "| reproduced |" in line and "3, 2, 1" in line
    assert "Criteria:" in text and "monotone over the members" in text
    assert "## Figures" not in text


def write_two_formulation_sweep(tmp_path, key, xs, summaries) -> Path:
    """A sweep folder with members CASE,formulation=F for F in summaries ({F: [summary per x]})."""
    out = tmp_path / "two"
    out.mkdir()
    entries = []
    for label, per_x in summaries.items():
        for i, (x, summary) in enumerate(zip(xs, per_x)):
            name = f"x{i},formulation={label}"
            (out / name).mkdir()
            (out / name / "summary.json").write_text(json.dumps({"status": "completed", **summary}))
            entries.append({"name": name, "dir": name, "values": {key: x}, "status": "completed",
                            "formulation": label, "case": f"x{i}", "base": "gao2024" if label == "gao2024" else None})
    record = {"format": 1, "name": "two", "description": "", "spec_file": "spec.toml", "paper_scale": False,
              "base": None, "state": "finished", "updated_at": "now", "members": entries,
              "formulations": list(summaries), "spec": {}}
    (out / "sweep.json").write_text(json.dumps(record))
    return out


def table_cells(text: str, first: str) -> dict:
    """{header: cell} of the Markdown table row whose first cell is `first` (headers of the table above it)."""
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first} |"))
    header = next(lines[j] for j in range(i, -1, -1) if lines[j + 1].startswith("|---"))
    return dict(zip([h.strip() for h in header.split("|")], [c.strip() for c in lines[i].split("|")]))


def test_two_formulation_report_has_a_verdict_column_per_formulation(tmp_path):
    sigmas = [0.0125, 0.025, 25.0, 2500.0]
    faradaic = [{"potential_span_V": v, "dendrite_depth_m": 7e-7, "gb_lead_m": 4.8e-8, "wagner_number": 25.0,
                 "interface_overpotential_span_V": 0.03, "faradaic_balance": 2e-15, "wall_time_s": 60.0}
                for v in (2.4, 1.0, 1e-3, 5e-5)]                    # the paper's spans: both span statements hold
    gao = [{"potential_span_V": 0.15, "dendrite_depth_m": 3.5e-7, "gb_lead_m": -3.8e-8, "wall_time_s": 20.0}
           for _ in sigmas]                                           # the applied 0.15 V everywhere: neither holds
    out = write_two_formulation_sweep(tmp_path, SIGMA_KEY, sigmas, {"faradaic": faradaic, "gao2024": gao})
    text = studies.make_report(out, figures=False).read_text()
    high = table_cells(text, "1")
    assert high["paper"].startswith("High GB conductivity gives an almost uniform")
    assert high["faradaic"] == studies.REPRODUCED and high["gao2024"] == studies.NOT_REPRODUCED
    assert "5e-05" in high["faradaic: the numbers that decide it"] and "0.15" in high["gao2024: the numbers that decide it"]
    low = table_cells(text, "2")
    assert low["faradaic"] == studies.REPRODUCED and low["gao2024"] == studies.NOT_REPRODUCED
    tips = table_cells(text, "3")                                     # no eta field: tips not computed in either
    assert tips["faradaic"] == tips["gao2024"] == studies.NOT_COMPUTED
    assert "Summary, faradaic: 2 reproduced, 2 not computed." in text
    assert "Summary, gao2024: 2 not reproduced, 2 not computed." in text
    case = table_cells(text, "x3")                                    # side by side: one row per swept value
    assert case["faradaic: depth (m)"] == "7e-07" and case["gao2024: depth (m)"] == "3.5e-07"
    assert case["faradaic: GB lead (m)"] == "4.8e-08" and case["gao2024: GB lead (m)"] == "-3.8e-08"
    assert case["faradaic: Wa"] == "25" and case["gao2024: Wa"] == "n/a"
    assert "- formulation faradaic: base config `bundled default`" in text and "sum 240.0 s" in text
    assert "- formulation gao2024: base config `gao2024`" in text and "sum 80.0 s" in text
    assert "Note (" not in text                                       # sigma_GB acts in both formulations


def test_two_formulation_report_says_where_the_swept_key_is_inactive(tmp_path):
    ds = [2.66e-13, 2.66e-12, 2.66e-11]
    faradaic = [{"dendrite_depth_m": 7e-7, "metal_measure": 1e-12} for _ in ds]
    gao = [{"dendrite_depth_m": d, "metal_measure": d / 2} for d in (3e-7, 2e-7, 1e-7)]
    out = write_two_formulation_sweep(tmp_path, D_KEY, ds, {"faradaic": faradaic, "gao2024": gao})
    text = studies.make_report(out, figures=False).read_text()
    row = table_cells(text, "1")
    assert row["faradaic"] == f"{studies.NOT_REPRODUCED} (D_GB inactive, see note)"
    assert row["gao2024"] == studies.REPRODUCED
    assert "Note (faradaic): D_GB enters no equation of the Faradaic formulation" in text


# -- figures --------------------------------------------------------------------------------------------------------
L = 1.0e-6


def synthetic_snapshot(n=8, mechanics=True, tip=0.5, t=1.0) -> dict:
    """A square of n x n x 2 triangles with a metal finger along y = L/2 up to x = tip * L."""
    coords = square_triangles(n, L)
    x, y = coords[..., 0], coords[..., 1]
    eta = ((x <= tip * L) & (np.abs(y - L / 2) <= 0.15 * L)).astype(float)
    centroid = coords.mean(axis=1)
    snap = {"time_s": np.float64(t), "coords": coords, "point_eta": eta, "point_c": 1e4 * (1 - eta),
            "point_phi": -0.1 * (1 - x / L), "cell_current_density_magnitude": 1e3 + 1e5 * centroid[:, :1] / L,
            "gb_segments": np.array([[[0.0, L / 2], [L, L / 2]]])}
    if mechanics:
        snap["cell_equivalent_plastic_strain"] = 0.01 * centroid[:, :1] / L
        snap["cell_von_mises_stress"] = 5e7 * centroid[:, 1:2] / L
    return snap


def write_member(folder: Path, mechanics=True, tip=0.5, probes=True) -> Path:
    (folder / "snapshots").mkdir(parents=True)
    for k, t in enumerate([0.0, 0.5, 1.0]):
        np.savez(folder / "snapshots" / f"snap_{k:05d}.npz", **synthetic_snapshot(mechanics=mechanics,
                                                                                   tip=tip * t, t=t))
    (folder / "config.toml").write_text(
        "[mesh]\ngb_width_m = 2.0e-7\n[initial]\nlayer_thickness = { value = 1.0e-7, unit = \"m\", source = \"x\" }\n"
        f"[output]\nprobe_points_m = [[{0.9 * L}, {0.9 * L}], [{0.3 * L}, {0.5 * L}]]\n")
    if probes:
        times = np.linspace(0.0, 1.0, 6)
        lines = ["# fem-dendrite probes", "time_s,dt_s,mean_current_density_A_m2,cell_voltage_V,"
                 "eta_p0,c_p0,phi_p0,eta_p1,c_p1,phi_p1"]
        for k, t in enumerate(times):
            lines.append(f"{t},{0.0 if k == 0 else 0.2},{100 + 10 * t},0.1,0.0,1e4,-0.01,{min(t, 1.0)},"
                         f"{1e4 * (1 - t)},{-0.05 * t}")
        (folder / "probes.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_sweep_figures_with_and_without_mechanics_and_a_missing_member(tmp_path):
    dirs = [write_member(tmp_path / "mech", mechanics=True), write_member(tmp_path / "plain", mechanics=False,
                                                                          tip=0.8),
            tmp_path / "missing"]
    dirs[2].mkdir()
    names = ["mech", "plain", "missing"]
    fields = render.render_sweep_fields(dirs, names, tmp_path / "figs" / "fields.png")
    assert fields.is_file() and fields.stat().st_size > 1000
    assert render.interface_probe(dirs) == 1          # p1's eta passes 0.5; p0 stays at 0
    assert render.probe_description(dirs[0], 1).startswith("p1 at (0.3, 0.5) um, 0 nm from the nearest")
    times, values = render.probe_current_density(dirs[0], [0.3 * L, 0.5 * L])
    assert list(times) == [0.0, 0.5, 1.0] and np.all(values > 1e3)
    histories = render.render_sweep_histories(dirs, names, tmp_path / "figs" / "histories.png")
    assert histories.is_file() and histories.stat().st_size > 1000


def test_front_segments_follow_the_synthetic_finger_and_the_fronts_figure_is_made(tmp_path):
    # eta is 1 at the nodes x <= tip L, |y - L/2| <= 0.15 L (8 x 8 squares of 1/8 um): the 0.5 contour lies half-way
    # to the next node, at x = 0.5625 um (tip 0.5) and 0.8125 um (tip 0.8), y = 0.3125 and 0.6875 um
    for tip, x_front in ((0.5, 0.5625), (0.8, 0.8125)):
        segments = render.front_segments(synthetic_snapshot(tip=tip))
        assert segments.shape[1:] == (2, 2)
        assert segments[:, :, 0].max() == pytest.approx(x_front)
        assert segments[:, :, 1].min() == pytest.approx(0.3125) and segments[:, :, 1].max() == pytest.approx(0.6875)
    dirs = [write_member(tmp_path / "a", probes=False), write_member(tmp_path / "b", tip=0.8, probes=False)]
    (dirs[0] / "summary.json").write_text('{"gb_lead_m": 1.5e-8}')
    path = render.render_sweep_fronts(dirs, ["a", "b"], tmp_path / "fronts.png")
    assert path.is_file() and path.stat().st_size > 1000
    assert render.render_sweep_fronts([tmp_path / "missing"], ["m"], tmp_path / "none.png") is None


def test_gb_metal_fraction(tmp_path):
    along = write_member(tmp_path / "along", probes=False)   # the finger lies within gb_width of the GB y = L/2
    assert studies.member_gb_metal_fraction(along) == pytest.approx(1.0)
    off = tmp_path / "off"
    write_member(off, probes=False)
    snap = synthetic_snapshot()
    snap["gb_segments"] = np.array([[[0.0, 0.05 * L], [L, 0.05 * L]]])
    np.savez(off / "snapshots" / "snap_00002.npz", **snap)
    assert studies.member_gb_metal_fraction(off) == pytest.approx(0.0)
    assert studies.member_gb_metal_fraction(tmp_path) is None


def test_make_report_writes_figures_and_survives_broken_members(tmp_path):
    out = write_sweep(tmp_path, [("E1", E_KEY, 1e9, "completed", {"dendrite_depth_m": 5e-7, "metal_measure": 1.0}),
                                 ("E2", E_KEY, 8e10, "completed", {"dendrite_depth_m": 4.8e-7, "metal_measure": 0.98}),
                                 ("E3", E_KEY, 5e10, "failed", None)])
    write_member(out / "E1", mechanics=True)
    write_member(out / "E2", mechanics=False)
    (out / "E3" / "snapshots").mkdir()
    (out / "E3" / "snapshots" / "snap_00000.npz").write_bytes(b"not a zip file")   # a broken member
    text = studies.make_report(out).read_text()
    assert (out / "figures" / "fields.png").stat().st_size > 1000
    assert (out / "figures" / "histories.png").stat().st_size > 1000
    assert "![fields](figures/fields.png)" in text and "![histories](figures/histories.png)" in text
    assert "![fronts](figures/fronts.png)" in text
    assert "p1 at (0.3, 0.5) um" in text
    line = next(ln for ln in text.splitlines() if "Stiffer GBs slow growth" in ln)
    assert "| reproduced |" in line   # depth -4 %, metal -2 % from 1 to 80 GPa (E3 failed: left out)
    assert "E3: failed" in text
