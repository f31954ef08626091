#!/bin/bash
# Real SLURM check of hpc/*.sbatch on this one machine (root; Debian's slurm-wlm + munge): starts munged, a
# one-node slurmctld + slurmd from a generated slurm.conf, then
#   1. hpc/run.sbatch on a tiny coupled case (mechanics on, 2 tasks), TERM mid-run (a) to the batch shell alone,
#      as --signal=B:TERM@120 sends it before the wall time, (b) by `scancel --signal=TERM`: the run checkpoints,
#      the job requeues itself, resumes and completes; its summary and probes must equal an uninterrupted
#      `mpiexec -n 2` run's to 1e-6 relative;
#   2. optional (stage 2): the same through the wall time itself (--time=3 min, --signal=B:TERM@120);
#   3. hpc/sweep-array.sbatch as a 2-task array + hpc/sweep-report.sbatch after it: both members completed and
#      the report written.
# Usage (repository root, after `make venv`): make hpc-check   or   bash hpc/selftest.sh
# Env: HPC_SELFTEST_DIR (work folder, default a new /tmp dir), FEM_DENDRITE_LAUNCHER (srun | mpiexec),
#      HPC_SELFTEST_STAGES (default "1a 1b 3"; "2" is the wall-time check, also added by HPC_SELFTEST_WALLTIME=1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
WORK=${HPC_SELFTEST_DIR:-$(mktemp -d /tmp/fem-dendrite-hpc.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
say() { echo "hpc-selftest: $*"; }
fail() { echo "hpc-selftest: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (munged, slurmd)"
command -v slurmctld >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge; }

# -- munge and a one-node cluster ------------------------------------------------------------------------------
mkdir -p /run/munge
[ -S /run/munge/munge.socket.2 ] && munge -n >/dev/null 2>&1 || munged --force
NODE=$(hostname -s)
NODELINE=$(slurmd -C | head -1)
mkdir -p "$WORK/state" "$WORK/spool"
cat > "$WORK/slurm.conf" <<CONF
ClusterName=selftest
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=${SLURM_MPI_DEFAULT:-pmi2}
ReturnToService=2
JobRequeue=1
MinJobAge=600
$NODELINE State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$WORK/slurm.conf
cleanup() {
    for d in slurmd slurmctld; do
        [ -f "$WORK/$d.pid" ] && kill "$(cat "$WORK/$d.pid")" 2>/dev/null || true
    done
}
trap cleanup EXIT
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %T | grep -q idle || fail "the node did not come up (see $WORK/slurm*.log)"
say "cluster up: $(sinfo -h -o '%P %D %c %T')  (work folder $WORK)"
# The first MPI step after slurmd started failed here twice (MPICH/UCX: "failed to unpack address, invalid
# bandwidth 0.00" on rank 1 in MPI_Init); every later one ran. A 2-rank hello first, tried up to 3 times:
hello() { timeout 120 srun --kill-on-bad-exit=1 -n 2 "$BIN/python" -c 'from mpi4py import MPI; c = MPI.COMM_WORLD; print(f"rank {c.rank} of {c.size}")'; }
for try in 1 2 3; do
    if out=$(hello 2>&1) && [ "$(grep -c ' of 2$' <<<"$out")" = 2 ]; then say "srun MPI hello (try $try): ok"; break; fi
    say "srun MPI hello (try $try) failed: $(grep -m1 -i 'error' <<<"$out")"
    [ "$try" = 3 ] && fail "srun cannot start a 2-rank MPI job (try FEM_DENDRITE_LAUNCHER=mpiexec)"
done

job_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2 || true; }
wait_done() {  # job id, timeout s: until it has ended for good (a requeued job goes back to PENDING)
    local t=0
    until [[ "$(job_state "$1")" =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|BOOT_FAIL|DEADLINE)$ ]]; do
        sleep 2; t=$((t + 2)); [ $t -lt "$2" ] || fail "job $1 not finished after $2 s (state $(job_state "$1"))"
    done
}
rows() { [ -f "$1" ] && grep -vc '^#' "$1" || echo 0; }

# -- the tiny case: coupled with mechanics, 2 ranks, ~60 steps ----------------------------------------------------
"$BIN/python" - "$WORK/tiny.toml" <<'PY'
import sys
from fem_dendrite import config
sets = ["mesh.size_m=[5.0e-7, 5.0e-7]", "mesh.grains=2", "mesh.lloyd_iterations=0", "mesh.cell_size_grain_m=8.0e-8",
        "mesh.cell_size_gb_m=8.0e-8", "mesh.cell_size_fine_m=8.0e-8", "mesh.fine_band_m=0.0", "initial.nuclei=[]",
        "initial.layer_thickness=1.5e-7", "initial.perturbation_amplitude=3.0e-8",
        "initial.perturbation_wavelength=5.0e-7", "output.probe_points_m=[[1.5e-7, 2.5e-7]]", "output.vtx=false",
        "time.end_s=0.06", "time.initial_step_s=1.0e-3", "time.max_step_s=1.0e-3", "electrode.voltage=0.1",
        "output.checkpoint_every=5"]
open(sys.argv[1], "w").write(config.to_toml(config.load(None, sets)))
PY
compare() {  # run folder, reference folder: summaries and probes equal to 1e-6 relative
    "$BIN/python" - "$1" "$2" <<'PY'
import json, sys
import numpy as np
from fem_dendrite import io
a, b = (json.load(open(f"{d}/summary.json")) for d in sys.argv[1:3])
assert a["status"] == b["status"] == "completed", (a["status"], b["status"])
assert a["steps"] == b["steps"], (a["steps"], b["steps"])
assert a["ranks"] == b["ranks"] == 2, (a["ranks"], b["ranks"])  # srun started one 2-rank MPI job
# 1e-6: the solution went through a parallel MUMPS factorisation whose round-off differs from run to run;
# Newton stops at its own tolerance, so two 2-rank runs agree to about that, not bit for bit
for key in ("metal_measure", "na_ion_amount_mol", "dendrite_depth_m", "max_von_mises_se_Pa",
            "max_equivalent_plastic_strain", "t_end_s"):
    assert np.isclose(a[key], b[key], rtol=1e-6, atol=0), (key, a[key], b[key])
p, q = io.read_probes(f"{sys.argv[1]}/probes.csv"), io.read_probes(f"{sys.argv[2]}/probes.csv")
assert len(p["time_s"]) == len(q["time_s"]) == a["steps"] + 1
for name in q:
    assert np.allclose(p[name], q[name], rtol=1e-6, atol=1e-12 * np.abs(q[name]).max()), name
print(f"  equal to the uninterrupted run (1e-6): {a['steps']} steps, metal {a['metal_measure']:.6e}, "
      f"Na+ {a['na_ion_amount_mol']:.9e} mol, depth {a['dendrite_depth_m']:.4e} m")
PY
}

# -- 1. TERM mid-run: checkpoint, requeue, resume, complete -----------------------------------------------------
batch_shell() {  # pid of the job's batch script (the process --signal=B: signals)
    local pid
    for pid in $(scontrol listpids "$1" 2>/dev/null | awk '$3 == "batch" {print $1}'); do
        tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q slurm_script && { echo "$pid"; return; }
    done
}
interrupted_job() {  # name, how: "batch-shell" (TERM to the batch script alone, as --signal=B:TERM@120 sends it
                     # at the wall time) or "scancel" (scancel --signal=TERM: the job's steps, i.e. the ranks)
    local out=$WORK/$1 jid log
    jid=$(sbatch --parsable --ntasks=2 -o "$WORK/$1-%j.log" hpc/run.sbatch "$WORK/tiny.toml" "$out")
    say "submitted hpc/run.sbatch as job $jid"
    for _ in $(seq 600); do [ "$(rows "$out/probes.csv")" -ge 16 ] && break; sleep 0.5; done
    [ "$(job_state "$jid")" = RUNNING ] || fail "job $jid not running before the signal: $(cat "$WORK/$1-$jid.log")"
    if [ "$2" = batch-shell ]; then
        local shell_pid; shell_pid=$(batch_shell "$jid")
        [ -n "$shell_pid" ] || fail "no batch shell of job $jid"
        say "   $(($(rows "$out/probes.csv") - 2)) steps done: kill -TERM $shell_pid (the batch shell alone)"
        kill -TERM "$shell_pid"
    else
        say "   $(($(rows "$out/probes.csv") - 2)) steps done: scancel --signal=TERM $jid"
        scancel --signal=TERM "$jid"
    fi
    wait_done "$jid" 900
    log=$WORK/$1-$jid.log
    [ "$2" = scancel ] || grep -q "TERM: the run checkpoints" "$log" || fail "the batch shell got no TERM: $log"
    grep -q "run status: interrupted" "$log" || fail "the run did not stop as interrupted: $log"
    grep -q "requeue $jid" "$log" || fail "no requeue in $log"
    grep -q "start 1 on" "$log" || fail "the job did not start again: $log"
    grep -q "run status: completed" "$log" || fail "the resumed run did not complete: $log"
    say "   job $jid: final state $(job_state "$jid"); $log:"
    grep '^==\|fem-dendrite: \(interrupted\|completed\)\|srun: \|slurmstepd' "$log" | sed 's/^/     /'
    "$BIN/mpiexec" -n 2 "$BIN/fem-dendrite" run "$WORK/tiny.toml" --out "$WORK/$1_reference" --quiet \
        --set "mesh.file=\"$out/mesh.msh\""
    compare "$out" "$WORK/$1_reference"
}
STAGES=" ${HPC_SELFTEST_STAGES:-1a 1b 3} "
[ "${HPC_SELFTEST_WALLTIME:-0}" = 1 ] && STAGES="$STAGES 2 "
stage() { [[ "$STAGES" == *" $1 "* ]]; }
if stage 1a; then
    say "1a. TERM to the batch shell (what --signal=B:TERM@120 does)"
    interrupted_job run_b batch-shell
fi
if stage 1b; then
    say "1b. scancel --signal=TERM"
    interrupted_job run_scancel scancel
fi

# -- 2. optional: the wall time itself sends TERM 120 s before the limit ------------------------------------------
if stage 2; then
    OUT2=$WORK/run_walltime
    JID=$(sbatch --parsable --ntasks=2 --time=00:03:00 -o "$WORK/run_walltime-%j.log" hpc/run.sbatch \
          "$WORK/tiny.toml" "$OUT2" --set time.end_s=0.12)
    say "2. submitted job $JID with --time=3 min (TERM 120 s before) and a run of 120 steps"
    wait_done "$JID" 1800
    LOG=$WORK/run_walltime-$JID.log
    grep -q "TERM: the run checkpoints" "$LOG" || fail "no TERM from the wall time in $LOG"
    grep -q "run status: completed" "$LOG" || fail "not completed: $LOG"
    grep '^==\|fem-dendrite: \(interrupted\|completed\)' "$LOG" | sed 's/^/     /'
    "$BIN/mpiexec" -n 2 "$BIN/fem-dendrite" run "$WORK/tiny.toml" --out "$WORK/reference_walltime" --quiet \
        --set "mesh.file=\"$OUT2/mesh.msh\"" --set time.end_s=0.12
    compare "$OUT2" "$WORK/reference_walltime"
fi

# -- 3. a sweep as an array job, then its report -------------------------------------------------------------------
if stage 3; then
cat > "$WORK/spec.toml" <<SPEC
[sweep]
name = "selftest"
base = "$WORK/tiny.toml"
set = { "mechanics.enabled" = false, "time.end_s" = 0.01 }
[grid]
"electrode.current_density" = [50.0, 150.0]
SPEC
AJ=$(sbatch --parsable --array=0-1 -o "$WORK/sweep-%A_%a.log" hpc/sweep-array.sbatch "$WORK/spec.toml" "$WORK/sweep")
RJ=$(sbatch --parsable --dependency=afterany:"$AJ" -o "$WORK/report-%j.log" hpc/sweep-report.sbatch \
     "$WORK/spec.toml" "$WORK/sweep")
say "3. array job $AJ (2 members), report job $RJ after it"
wait_done "$RJ" 900
grep -q "2/2 members completed" "$WORK/report-$RJ.log" || fail "report: $(cat "$WORK/report-$RJ.log")"
[ -s "$WORK/sweep/report.md" ] || fail "no report.md"
say "   $(tail -1 "$WORK/report-$RJ.log")"
fi
say "all checks passed (work folder $WORK)"
