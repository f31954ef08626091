"""Progress of a run: one flushed line per accepted step from rank 0, or a tqdm bar when stderr is a terminal.

A line (stdout, ``key=value`` fields separated by spaces, parsed back by `parse_line`)::

    fem-dendrite: step=12 t_s=1.2e-02 end_s=0.5 dt_s=1e-03 newton=4 linear=4 rejected=0 front_m=2.31e-07 wall_s=3.2 eta_s=41

``end_s`` is time.end_s, ``newton`` and ``linear`` count the iterations of that step (rejected tries included), ``front_m`` is the depth
of the eta = 0.5 front from the plating electrode (m), ``wall_s`` the wall time since this process started the
run (set-up included), ``eta_s`` the estimated wall time to ``time.end_s`` (simulated time left x wall time per
simulated second of the steps so far in this process; ``-`` before any simulated time has passed). `fem-dendrite run --quiet` prints neither.
"""
from __future__ import annotations

import sys
import time

PREFIX = "fem-dendrite: step="
_FIELDS = (("step", int), ("t_s", float), ("end_s", float), ("dt_s", float), ("newton", int), ("linear", int), ("rejected", int),
           ("front_m", float), ("wall_s", float), ("eta_s", float))


def parse_line(line: str) -> dict | None:
    """The fields of a progress line as numbers (``eta_s`` None when unknown), or None for any other line."""
    line = line.strip()
    if not line.startswith(PREFIX):
        return None
    values = dict(item.split("=", 1) for item in line[len("fem-dendrite: "):].split())
    out = {}
    for key, kind in _FIELDS:
        text = values.get(key)
        out[key] = None if text in (None, "-") else kind(text)
    return out


def format_eta(seconds: float | None) -> str:
    """ETA as the line shows it: whole seconds, or ``-`` when unknown."""
    return "-" if seconds is None else f"{seconds:.0f}"


class StepProgress:
    """Reports accepted steps of a run on rank 0 of `comm`; every other rank, and `quiet`, print nothing.

    `bar`: None chooses a tqdm bar when `bar_stream` (stderr) is a terminal and plain lines on `stream` (stdout)
    otherwise; True / False force it. `wall_start`: time.perf_counter() when the run started (default: now).
    Nothing here is collective: callers pass values every rank already has.
    """

    def __init__(self, comm, t_end_s: float, t_start_s: float = 0.0, *, quiet: bool = False, stream=None,
                 bar_stream=None, bar: bool | None = None, wall_start: float | None = None):
        self.active = comm.rank == 0 and not quiet
        self.t_end_s, self.t_start_s = float(t_end_s), float(t_start_s)
        self.stream = stream if stream is not None else sys.stdout
        self.bar_stream = bar_stream if bar_stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.wall_start = self.start if wall_start is None else wall_start
        self._bar = None
        if self.active:
            tty = bool(getattr(self.bar_stream, "isatty", lambda: False)())
            if bar if bar is not None else tty:
                from tqdm import tqdm

                self._bar = tqdm(total=self.t_end_s, initial=self.t_start_s, file=self.bar_stream, unit="s(sim)",
                                 bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} s [{elapsed}<{remaining}{postfix}]",
                                 dynamic_ncols=True)

    def eta_s(self, t_s: float) -> float | None:
        """Wall seconds left to t_end at this process's mean rate so far; None before any simulated time."""
        done = t_s - self.t_start_s
        if done <= 0:
            return None
        return max(self.t_end_s - t_s, 0.0) * (time.perf_counter() - self.start) / done

    def step(self, step: int, t_s: float, dt_s: float, newton: int, linear: int, rejected: int,
             front_m: float) -> None:
        """Report one accepted step (values of that step; t_s is the time after it)."""
        if not self.active:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(f"step {step}, dt {dt_s:.2g} s, Newton {newton}, front {front_m * 1e6:.3g} um",
                                      refresh=False)
            self._bar.update(t_s - self._bar.n)
            return
        wall = time.perf_counter() - self.wall_start
        self.stream.write(f"{PREFIX}{step} t_s={t_s:.6e} end_s={self.t_end_s:.6g} dt_s={dt_s:.3e} newton={newton} linear={linear} "
                          f"rejected={rejected} front_m={front_m:.4e} wall_s={wall:.2f} "
                          f"eta_s={format_eta(self.eta_s(t_s))}\n")
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def last_record(log_path, tail_bytes: int = 8192) -> dict | None:
    """The last progress line of a run's log (e.g. a sweep member's run.log), parsed; None when there is none."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(f.tell() - tail_bytes, 0))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        record = parse_line(line)
        if record is not None and record["end_s"]:
            return record
    return None


def members_text(sweep_dir, names) -> str:
    """``name 42% (ETA 1m05s)`` for each named member folder of a sweep whose run.log has a progress line."""
    from pathlib import Path

    parts = []
    for name in names:
        record = last_record(Path(sweep_dir) / name / "run.log")
        if record is None:
            continue
        text = f"{name} {100.0 * min(record['t_s'] / record['end_s'], 1.0):.0f}%"
        if record["eta_s"] is not None:
            eta = int(record["eta_s"])
            text += f" (ETA {eta // 60}m{eta % 60:02d}s)"
        parts.append(text)
    return ", ".join(parts)
