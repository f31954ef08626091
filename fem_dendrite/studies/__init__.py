"""Studies: parameter sweeps, `fem-dendrite sweep SPEC --out DIR [--jobs N] [--paper-scale]`.

Spec (TOML; SPEC is a file or the name of a bundled spec in fem_dendrite/sweeps/)::

    [sweep]
    name = "gb_conductivity"      # optional, default: the spec file name
    description = "..."           # optional
    base = ""                     # run config: "" = bundled default, a path relative to the spec, or a bundled name
    jobs = 2                      # members run at once (default 1; --jobs wins)
    ranks_per_member = 1          # > 1: each member runs under `mpiexec -n RANKS` (mpiexec next to python)
    set = { "time.end_s" = 1.0 }  # overrides of every member (optional)

    [paper_scale]                 # optional; used with --paper-scale: set, jobs, ranks_per_member
    set = { "mesh.cell_size_grain_m" = 3.0e-8 }

    [[member]]                    # list form: one table per member
    name = "E_GB_1GPa"            # optional, default derived from its values
    set = { "materials.grain_boundary.youngs_modulus" = 1.0e9 }

    [grid]                        # grid form: the cartesian product of the value lists
    "materials.grain_boundary.conductivity" = [0.0125, 0.025, 25.0, 2500.0]

    [sweep]                       # several formulations (optional): every member runs once per formulation
    formulations = ["faradaic", "gao2024"]      # accepted: the values of electrochemistry.formulation
    [formulation.gao2024]         # optional, per listed formulation: its base config and overrides
    base = "gao2024"              # default: [sweep] base
    set = { "electrode.control" = "galvanostatic" }

Both forms may be combined (list members first, then the grid). With formulations, each member X becomes
``X,formulation=NAME``, run from its formulation's base with ``electrochemistry.formulation = NAME`` and the
overrides sweep.set, paper_scale.set, formulation.NAME.set, member values; the members are listed formulation by
formulation (``--member K`` indexes that list) and the report puts the formulations side by side (``compare``).
Override keys are dotted config keys (``section.key``; nested tables are flattened into dotted keys) and values
are TOML values; they are passed to `fem-dendrite run` as ``--set key=<TOML literal>`` in the order sweep.set,
paper_scale.set, member values (later wins). Derived member names are ``key=value`` joined by ``,`` where key is the shortest dotted suffix that tells
the swept keys apart, e.g. ``conductivity=0.0125``; names are filesystem-safe and unique (case-insensitive).

Output: ``DIR/<member>/`` is each member's run folder (its ``run.log`` holds the run's stdout and stderr),
``DIR/sweep.json`` the spec and the member states, ``DIR/report.md`` the report (`make_report`: member table,
comparison with the paper's statements for the E_GB / sigma_GB / D_GB sweeps, resolution and wall time) with its
figures ``DIR/figures/fields.png`` and ``histories.png`` (per formulation ``fields_NAME.png``, ``histories_NAME.png``).
Running the same command again resumes: members whose summary.json says "completed" are skipped; the others run
again, with ``--resume`` when they left a checkpoint (``checkpoint/latest.json``). A failing member does not stop
the others; the exit code is 0 when every member completed, else 1. A member folder that was run with other
settings (e.g. with and without --paper-scale) is refused rather than mixed.

The command that runs a member (default ``python -m fem_dendrite``) can be replaced, for tests, by the
``runner_command`` argument or the environment variable FEM_DENDRITE_SWEEP_RUNNER (a shell-quoted command);
it receives ``run [BASE] --out MEMBER_DIR --set k=v ... [--resume]``.

Modules: ``spec`` (the spec format, member names), ``runner`` (running members: concurrency, lock, resume),
``results`` (what a member left: summary, final eta, tips), ``verdicts`` (comparison with the paper's statements),
``figures`` and ``report`` (the sections of DIR/report.md), ``compare`` (the sections of a multi-formulation
sweep), ``sweep`` (the command: run the members, then write the report), ``ccd`` (virtual CCD ensembles). Every public name is importable from ``fem_dendrite.studies``.
"""
from fem_dendrite.studies.compare import (FORMULATION_COLUMNS, FORMULATION_SECTIONS, control_text,
                                          formulation_figures, formulations, rows_of, section_header_formulations,
                                          section_members_formulations, section_paper_formulations)
from fem_dendrite.studies.figures import FIGURES_DIR, make_figures
from fem_dendrite.studies.report import (REPORT_COLUMNS, REPORT_SECTIONS, ReportContext, ReportSection, format_cell,
                                         markdown_table, resolution_text, section_figures,
                                         section_header, section_members, section_paper, section_problems,
                                         wall_time_text)
from fem_dendrite.studies.results import (EtaField, config_value, load_final_eta, member_config,
                                          member_gb_metal_fraction, member_rows, member_tip_count, read_summary)
from fem_dendrite.studies.runner import (Progress, checkpoint_path, member_command, member_completed, member_entry,
                                         member_settings, mpiexec_path, run_sweep, runner_prefix)
from fem_dendrite.studies.spec import (FORMULATION_KEY, FORMULATIONS, LOCK_FILE, MAX_NAME_LENGTH, MEMBER_FILE, REPORT_FILE, RESERVED_NAMES,
                                       RUNNER_ENV, SWEEP_FILE, Member, SweepSpec, bundled_spec_dir,
                                       bundled_spec_names, derive_name, format_value, key_labels, load_spec,
                                       parse_spec, resolve_spec_path, toml_literal, validate_members)
from fem_dendrite.studies.sweep import make_report, run_sweep_cli
from fem_dendrite.studies.verdicts import (FLAT_REL, METRIC_LABELS, MODERATE_REL, NEAR_FACTOR, NOT_COMPUTED,
                                           NOT_REPRODUCED, PAPER_SWEEPS, PARTLY, PARTLY_FACTOR, REPRODUCED,
                                           SIMILAR_REL, SLIGHT_REL, Judge, PaperStatement, PaperSweep, Verdict,
                                           all_of, at_least, level, member_swept_value, metric_value,
                                           paper_comparison, spread, trend, varied_keys)
