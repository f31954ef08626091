"""Running the members of a sweep: their commands, concurrency, the lock of the sweep folder, resuming and
stopping them (`fem-dendrite sweep`)."""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fem_dendrite.errors import UserError
from fem_dendrite.studies.results import read_summary
from fem_dendrite.studies.spec import _STOP_SIGNALS, LOCK_FILE, MEMBER_FILE, RUNNER_ENV, SWEEP_FILE, Member, SweepSpec


# -- running ------------------------------------------------------------------------------------------------------
def runner_prefix(runner_command: Sequence[str] | str | None = None) -> list[str]:
    """Command replacing `fem-dendrite`: the argument, else $FEM_DENDRITE_SWEEP_RUNNER, else python -m fem_dendrite."""
    if runner_command is None:
        runner_command = os.environ.get(RUNNER_ENV) or None
    if runner_command is None:
        return [sys.executable, "-m", "fem_dendrite"]
    if isinstance(runner_command, str):
        return shlex.split(runner_command)
    return list(runner_command)


def mpiexec_path() -> str:
    """mpiexec next to the Python interpreter (the venv's MPICH), else on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if not found:
        raise UserError("ranks_per_member > 1 needs mpiexec (next to python or on PATH); none found")
    return found


def checkpoint_path(member_dir: str | Path) -> Path:
    """The file that marks a complete checkpoint (fem_dendrite.io.CHECKPOINT_POINTER, written last)."""
    return Path(member_dir) / "checkpoint" / "latest.json"


def member_completed(member_dir: str | Path) -> bool:
    summary = read_summary(member_dir)
    return summary is not None and summary.get("status") == "completed"


def member_command(spec: SweepSpec, member: Member, member_dir: str | Path, *,
                   runner_command: Sequence[str] | str | None = None, resume: bool = False) -> list[str]:
    """argv that runs one member."""
    cmd = runner_prefix(runner_command) + ["run"]
    if member.base is not None:
        cmd.append(member.base)
    cmd += ["--out", str(member_dir)]
    for assignment in member.set_args():
        cmd += ["--set", assignment]
    if resume:
        cmd.append("--resume")
    if spec.ranks_per_member > 1:
        cmd = [mpiexec_path(), "-n", str(spec.ranks_per_member)] + cmd
    return cmd


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


class Progress:
    """Sweep progress on a stream (stderr): on a terminal one status line redrawn in place with event lines
    above it; otherwise one line per change."""

    def __init__(self, name: str, total: int, stream=None):
        self.name, self.total = name, total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self._last_draw = 0.0

    def status(self, states: Mapping[str, str]) -> str:
        count = {s: sum(1 for v in states.values() if v == s) for s in
                 ("completed", "running", "failed", "interrupted", "pending")}
        text = f"{count['completed']}/{self.total} done, {count['running']} running, {count['failed']} failed"
        if count["interrupted"]:
            text += f", {count['interrupted']} interrupted"
        return f"sweep {self.name}: {text}, {count['pending']} waiting"

    def event(self, message: str, states: Mapping[str, str]) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K{message}\n")
            self._draw(states)
        else:
            self.stream.write(f"[{self.status(states).split(': ', 1)[1]}] {message}\n")
        self.stream.flush()

    def tick(self, states: Mapping[str, str]) -> None:
        """Redraw the status line (elapsed time, running members' progress) about once a second on a terminal;
        otherwise a line with the running members' progress once a minute."""
        if self.tty and time.monotonic() - self._last_draw >= 1.0:
            self._draw(states)
            self.stream.flush()
        elif not self.tty and time.monotonic() - self._last_draw >= 60.0 and (text := self._members(states)):
            self.stream.write(f"[{self.status(states).split(': ', 1)[1]}] running: {text}\n")
            self.stream.flush()
            self._last_draw = time.monotonic()

    def _members(self, states) -> str:
        from fem_dendrite.progress import members_text  # each member's last progress line in its run.log

        sweep_dir = getattr(self, "sweep_dir", None)
        return members_text(sweep_dir, [n for n, s in states.items() if s == "running"]) if sweep_dir else ""

    def _draw(self, states) -> None:
        elapsed = int(time.monotonic() - self.start)
        members = self._members(states)
        self.stream.write(f"\r\x1b[K{self.status(states)} ({elapsed // 60}m{elapsed % 60:02d}s)"
                          + (f"; {members}" if members else ""))
        self._last_draw = time.monotonic()

    def close(self, states: Mapping[str, str]) -> None:
        if self.tty:
            self._draw(states)
            self.stream.write("\n")
        else:
            self.stream.write(self.status(states) + "\n")
        self.stream.flush()


@contextlib.contextmanager
def _sweep_lock(out_dir: Path):
    """Exclusive lock of the sweep folder; yields its fd, which member processes inherit so that members left
    running by a killed sweep keep the folder locked."""
    fd = os.open(out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{out_dir}: another sweep, or members it started, still runs there") from None
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt (in the main thread), so that the sweep stops its members cleanly."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class _Running:
    process: subprocess.Popen
    started: float


def member_settings(member: Member) -> dict:
    """What DIR/MEMBER/member.json records (a folder run with other settings is refused)."""
    return {"base": member.base, "set": member.set_args()}


def member_entry(member: Member) -> dict:
    """The member's fields in sweep.json (formulation and case only in a multi-formulation sweep)."""
    entry = {"name": member.name, "dir": member.name, "values": member.values, "set": member.set_args()}
    if member.formulation is not None:
        entry.update(formulation=member.formulation, case=member.case, base=member.base)
    return entry


def _check_member_dirs(spec: SweepSpec, out_dir: Path) -> None:
    """Refuse member folders that were run with other settings than this spec gives them."""
    for member in spec.members:
        path = out_dir / member.name / MEMBER_FILE
        if not path.exists():
            continue
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            continue
        if previous != member_settings(member):
            raise UserError(f"{out_dir / member.name}: was run with other settings ({previous}); "
                            "use another --out or delete that folder")


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, jobs: int | None = None,
              runner_command: Sequence[str] | str | None = None, stream=None, poll_s: float = 0.1,
              stop_grace_s: float = 30.0) -> dict:
    """Run the members not yet completed, `jobs` at once; returns the sweep record (also DIR/sweep.json).

    On KeyboardInterrupt or SIGTERM the running members get SIGTERM (SIGKILL after `stop_grace_s`), the record
    is written with them "interrupted", and KeyboardInterrupt is raised again.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = jobs or spec.jobs
    if jobs < 1:
        raise UserError(f"--jobs: expected an integer >= 1, got {jobs}")
    _check_member_dirs(spec, out_dir)
    env = dict(os.environ)
    if jobs * spec.ranks_per_member > 1:
        env.setdefault("OMP_NUM_THREADS", "1")  # members share the cores: no oversubscription by BLAS threads

    entries = {m.name: {**member_entry(m), "status": "pending", "returncode": None, "wall_time_s": None, "resumed": False,
                        "command": None} for m in spec.members}
    states = {}
    for name, entry in entries.items():
        if member_completed(out_dir / name):
            entry["status"] = "completed"
            entry["note"] = "completed by an earlier invocation"
        states[name] = entry["status"]
    record = {"format": 1, "name": spec.name, "description": spec.description, "spec_file": spec.source,
              "paper_scale": spec.paper_scale, "base": spec.base, "jobs": jobs,
              "ranks_per_member": spec.ranks_per_member, "spec": spec.raw, "state": "running",
              **({"formulations": list(spec.formulations)} if spec.formulations else {}),
              "started_at": _now(), "updated_at": _now(), "members": list(entries.values())}

    def save(state: str | None = None) -> None:
        if state:
            record["state"] = state
        record["updated_at"] = _now()
        _write_json(out_dir / SWEEP_FILE, record)

    progress = Progress(spec.name, len(entries), stream)
    progress.sweep_dir = out_dir  # member progress from their run.log
    skipped = sum(1 for s in states.values() if s == "completed")
    pending = [m for m in spec.members if states[m.name] == "pending"]
    running: dict[str, _Running] = {}

    with _sweep_lock(out_dir) as lock_fd, _sigterm_as_interrupt():
        save()
        if skipped:
            progress.event(f"{skipped} member(s) already completed, skipped", states)
        try:
            while pending or running:
                while pending and len(running) < jobs:
                    member = pending.pop(0)
                    running[member.name] = _start(spec, member, out_dir, entries[member.name], runner_command,
                                                  env, lock_fd)
                    states[member.name] = "running"
                    save()
                    resumed = " (resumed from its checkpoint)" if entries[member.name]["resumed"] else ""
                    progress.event(f"{member.name} started{resumed}", states)
                time.sleep(poll_s)
                for name, job in list(running.items()):
                    returncode = job.process.poll()
                    if returncode is None:
                        continue
                    del running[name]
                    entry = entries[name]
                    _finish(entry, out_dir / name, returncode, time.monotonic() - job.started)
                    states[name] = entry["status"]
                    save()
                    log = out_dir / name / "run.log"
                    detail = (f"in {entry['wall_time_s']:.1f} s" if entry["status"] == "completed"
                              else f"(exit code {returncode}; log: {log})")
                    progress.event(f"{name} {entry['status']} {detail}", states)
                progress.tick(states)
        except KeyboardInterrupt:
            _stop(running, stop_grace_s)
            for name, job in running.items():
                _finish(entries[name], out_dir / name, job.process.returncode, time.monotonic() - job.started)
                if entries[name]["status"] != "completed":
                    entries[name]["status"] = "interrupted"
                states[name] = entries[name]["status"]
            save("interrupted")
            progress.close(states)
            raise
        save("finished")
        progress.close(states)
    return record


def _start(spec, member, out_dir, entry, runner_command, env, lock_fd) -> _Running:
    member_dir = out_dir / member.name
    member_dir.mkdir(parents=True, exist_ok=True)
    _write_json(member_dir / MEMBER_FILE, member_settings(member))
    summary = member_dir / "summary.json"
    if summary.exists():  # an earlier failed/interrupted attempt: keep it aside, so a stale status is never read
        os.replace(summary, member_dir / "summary.previous.json")
    resume = checkpoint_path(member_dir).exists()
    cmd = member_command(spec, member, member_dir, runner_command=runner_command, resume=resume)
    entry.update(command=cmd, resumed=resume, status="running", returncode=None)
    with open(member_dir / "run.log", "a") as log:
        log.write(f"== {_now()} fem-dendrite sweep: {shlex.join(cmd)}\n")
        log.flush()
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, pass_fds=(lock_fd,))
    return _Running(process, time.monotonic())


def _finish(entry: dict, member_dir: Path, returncode, wall_s: float) -> None:
    """Member state from its summary.json and exit code: completed only with a "completed" summary."""
    summary = read_summary(member_dir)
    entry["returncode"] = returncode
    entry["wall_time_s"] = round(wall_s, 3)
    if summary is not None and summary.get("status") == "completed":
        entry["status"] = "completed"
    elif summary is not None and summary.get("status") == "interrupted":
        entry["status"] = "interrupted"
    elif summary is None and returncode is not None and -returncode in _STOP_SIGNALS:
        entry["status"] = "interrupted"   # stopped by a signal (a crash such as SIGSEGV counts as failed)
    else:
        entry["status"] = "failed"


def _stop(running: Mapping[str, _Running], grace_s: float) -> None:
    """SIGTERM every running member, SIGKILL those still there after grace_s."""
    for job in running.values():
        if job.process.poll() is None:
            job.process.terminate()
    deadline = time.monotonic() + grace_s
    for job in running.values():
        try:
            job.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()
