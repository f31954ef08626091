"""Figures of a sweep report (DIR/figures/)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path



# -- figures --------------------------------------------------------------------------------------------------------
FIGURES_DIR = "figures"


def make_figures(sweep_dir: str | Path, rows: Sequence[Mapping], tag: str = "") -> dict:
    """DIR/figures/fields.png (render.render_sweep_fields), fronts.png (render.render_sweep_fronts) and
    histories.png (render.render_sweep_histories);
    returns {name: (path or None, caption or why it was not made)}. A figure that fails is reported, not raised.
    With `tag` (a formulation) the files are fields_TAG.png, fronts_TAG.png, histories_TAG.png and the names
    "fields (TAG)" etc."""
    out = Path(sweep_dir) / FIGURES_DIR
    fields, histories = (f"fields ({tag})", f"histories ({tag})") if tag else ("fields", "histories")
    suffix = f"_{tag}.png" if tag else ".png"
    dirs, names = [row["dir"] for row in rows], [row["name"] for row in rows]
    figures: dict = {}
    if not any((Path(d) / "snapshots").is_dir() and any((Path(d) / "snapshots").glob("snap_*.npz")) for d in dirs):
        figures[fields] = (None, "not made: no member has a snapshot yet")
    else:
        try:
            from fem_dendrite import render

            path = render.render_sweep_fields(dirs, names, out / f"fields{suffix}")
            figures[fields] = (path, "Last snapshot of each member (columns); rows: eta with the grain boundaries "
                                 "(white), c, phi, |i|, equivalent plastic strain, von Mises stress; one colour range "
                                 "per row (Gao 2024 Figs. 5 and 7). Blank panels: field not computed.")
        except Exception as err:  # noqa: BLE001 - a figure must not stop the report
            figures[fields] = (None, f"not made: {type(err).__name__}: {err}")
    fronts = f"fronts ({tag})" if tag else "fronts"
    try:
        from fem_dendrite import render

        path = render.render_sweep_fronts(dirs, names, out / f"fronts{suffix}")
        figures[fronts] = ((path, "The eta = 0.5 front of each member's last snapshot, overlaid (2D; grain "
                                  "boundaries grey; GB lead from each summary).") if path is not None
                           else (None, "not made: no member has a 2D snapshot"))
    except Exception as err:  # noqa: BLE001 - a figure must not stop the report
        figures[fronts] = (None, f"not made: {type(err).__name__}: {err}")
    if not any((Path(d) / "probes.csv").exists() for d in dirs):
        figures[histories] = (None, "not made: no member has probes.csv yet")
    else:
        try:
            from fem_dendrite import render

            probe = render.interface_probe(dirs)
            where = next((render.probe_description(d, probe) for d in dirs if (Path(d) / "probes.csv").exists()),
                         None) if probe is not None else None
            path = render.render_sweep_histories(dirs, names, out / f"histories{suffix}", probe=probe)
            figures[histories] = (path, f"History at the probe closest to the metal/electrolyte interface "
                                    f"({where or 'none'}; chosen as the probe whose eta came closest to 0.5): "
                                    "|i| there (snapshot times), mean plating current density, potential and eta "
                                    "(Gao 2024 Figs. 6 and 8).")
        except Exception as err:  # noqa: BLE001
            figures[histories] = (None, f"not made: {type(err).__name__}: {err}")
    return figures


