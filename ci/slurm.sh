#!/usr/bin/env bash
# A throw-away single-node SLURM for the dask-jobqueue tests.
#
# Usage: bash ci/slurm.sh {start|stop|status}
#
#   start   write /etc/slurm/slurm.conf and gres.conf, start munged, slurmctld
#           and slurmd in the background and wait until the node is idle.
#           Calling it while the cluster is up is a no-op.
#   stop    stop the daemons this script started (by recorded PID only).
#   status  print daemon PIDs and `sinfo`; exit 0 only if the node is usable.
#
# Environment:
#   DASKTUNE_SLURM_RUN      run dir for PIDs, logs, state (default /tmp/dasktune-slurm)
#   DASKTUNE_SLURM_TIMEOUT  seconds to wait for the node to become idle (default 60)
#
# The node has two fake GPUs (GRES gpu:2 backed by /dev/null-like device files
# under the run dir), so `--gres=gpu:1` jobs see CUDA_VISIBLE_DEVICES=0 or 1.
# SLURM's ports (6817/6818) and /etc/slurm are machine-wide: one such cluster
# per machine. Needs root and the packages from ci/install-system.sh.
set -euo pipefail

RUN="${DASKTUNE_SLURM_RUN:-/tmp/dasktune-slurm}"
TIMEOUT="${DASKTUNE_SLURM_TIMEOUT:-60}"
CONF_DIR=/etc/slurm
HOST="$(hostname -s)"
PARTITION=debug
MUNGE_SOCKET=/run/munge/munge.socket.2

log() { echo "slurm.sh: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# The PID in RUN/<name>.pid, if that process is alive and still runs <name>
# (guards against a recycled PID after a reboot or a crash).
live_pid() {
    local name="$1" pidfile="$RUN/$1.pid" pid comm
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    # Debian installs the daemons as <name>-wlm behind alternatives symlinks.
    [[ "$comm" == "$name" || "$comm" == "$name-wlm" ]] || return 1
    echo "$pid"
}

node_state() {
    sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -n1
}

node_usable() {
    # Jobs from a previous run may hold the node; it is still up.
    case "$(node_state)" in
        idle | mixed | allocated | completing) return 0 ;;
        *) return 1 ;;
    esac
}

show_logs() {
    local f
    for f in "$RUN"/log/*.log; do
        [[ -f "$f" ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 25 "$f" >&2
    done
}

# Memory slurmd may promise: what the kernel reports minus a margin, because a
# RealMemory above what slurmd measures puts the node in state INVAL.
real_memory_mb() {
    local total_kb total_mb margin
    total_kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    total_mb=$((total_kb / 1024))
    margin=$((total_mb / 20))
    ((margin < 512)) && margin=512
    echo $((total_mb - margin))
}

write_config() {
    local cpus mem
    cpus="$(nproc)"
    mem="$(real_memory_mb)"
    install -d -m 755 "$RUN" "$RUN/log" "$RUN/state" "$RUN/spool" "$RUN/fakedev" "$CONF_DIR"
    # A GPU GRES without File= is dropped silently and the node goes INVAL, so
    # back each fake GPU by a character device (same numbers as /dev/null).
    local i
    for i in 0 1; do
        [[ -c "$RUN/fakedev/gpu$i" ]] || mknod -m 666 "$RUN/fakedev/gpu$i" c 1 3 ||
            die "mknod $RUN/fakedev/gpu$i failed (needs root / CAP_MKNOD)"
    done

    cat >"$CONF_DIR/slurm.conf" <<EOF
# Written by dasktune ci/slurm.sh; overwritten on every start.
ClusterName=dasktune
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default a job that gives no --mem takes the whole node.
DefMemPerCPU=1024
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
ReturnToService=2
MailProg=/bin/true
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=${RUN}/state
SlurmdSpoolDir=${RUN}/spool
SlurmctldPidFile=${RUN}/slurmctld.daemon.pid
SlurmdPidFile=${RUN}/slurmd.daemon.pid
SlurmctldLogFile=${RUN}/log/slurmctld.log
SlurmdLogFile=${RUN}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=30
KillWait=5
Waittime=0
GresTypes=gpu
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} Gres=gpu:2 State=UNKNOWN
PartitionName=${PARTITION} Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF

    cat >"$CONF_DIR/gres.conf" <<EOF
# Written by dasktune ci/slurm.sh: two fake GPUs.
NodeName=${HOST} Name=gpu File=${RUN}/fakedev/gpu[0-1]
EOF
}

wait_for() {
    # wait_for <description> <seconds> <daemon name or ""> <command...>
    # Fails at once, instead of at the deadline, if the named daemon exits.
    local what="$1" limit="$2" daemon="$3" deadline
    shift 3
    deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if [[ -n "$daemon" ]] && ! live_pid "$daemon" >/dev/null; then
            log "error: $daemon exited while waiting for $what"
            show_logs
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "error: timed out after ${limit}s waiting for $what"
            show_logs
            exit 1
        fi
        sleep 0.2
    done
}

munge_ok() { munge -n | unmunge >/dev/null; }

start_munge() {
    if munge_ok 2>/dev/null; then
        # A munged we did not start (or started earlier) is fine to share.
        return 0
    fi
    [[ -f /etc/munge/munge.key ]] || {
        log "creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 600 /etc/munge/munge.key
    }
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 "$RUN/log/munge"
    # Once (of many starts) munged exited at start-up without a word in its log; a second
    # try is cheap, so try up to three times before giving up.
    local attempt
    for attempt in 1 2 3; do
        # setpriv execs munged directly, so $! is munged's own PID.
        setpriv --reuid=munge --regid=munge --init-groups \
            /usr/sbin/munged --foreground --force --socket="$MUNGE_SOCKET" \
            --log-file="$RUN/log/munge/munged.log" >>"$RUN/log/munged.out" 2>&1 &
        echo $! >"$RUN/munged.pid"
        # wait_for exits on failure: run it in a subshell so a failed try can be retried.
        if (wait_for "munged to answer" 10 munged munge_ok); then
            return 0
        fi
        log "munged did not come up (try $attempt of 3)"
        sleep 1
    done
    exit 1
}

start() {
    [[ "$(id -u)" -eq 0 ]] || die "must run as root"
    command -v slurmctld >/dev/null || die "slurmctld not installed; run ci/install-system.sh"

    if live_pid slurmctld >/dev/null && live_pid slurmd >/dev/null && node_usable; then
        log "already running (node $HOST: $(node_state))"
        return 0
    fi
    # Half-up from an earlier run: start clean rather than guess.
    stop_daemons quiet
    # Ports and /etc/slurm are machine-wide: rewriting the config under a
    # controller we did not start would break it, and ours could not bind.
    if [[ -f "$CONF_DIR/slurm.conf" ]] && scontrol ping >/dev/null 2>&1; then
        die "a SLURM controller not started from $RUN is answering (another run dir or a system slurmctld); stop it first"
    fi

    install -d -m 755 "$RUN" "$RUN/log"
    # One set of logs per start, so a failure report shows only this attempt.
    local f
    for f in "$RUN"/log/*.log "$RUN"/log/*.out; do
        [[ -f "$f" ]] && mv -f "$f" "$f.prev"
    done
    # A failed start leaves nothing running (the logs stay for diagnosis).
    trap 'stop_daemons quiet' EXIT
    write_config
    start_munge

    local t0=$SECONDS
    # -D: stay in the foreground so $! is the daemon; -c: drop jobs and node
    # state left by an earlier run, tests want a fresh cluster.
    slurmctld -D -c -i >>"$RUN/log/slurmctld.out" 2>&1 &
    echo $! >"$RUN/slurmctld.pid"
    wait_for "slurmctld to answer (scontrol ping)" "$TIMEOUT" slurmctld scontrol ping

    slurmd -D -N "$HOST" >>"$RUN/log/slurmd.out" 2>&1 &
    echo $! >"$RUN/slurmd.pid"

    local deadline=$((SECONDS + TIMEOUT)) state=""
    while :; do
        state="$(node_state)"
        [[ "$state" == idle ]] && break
        if ! live_pid slurmctld >/dev/null || ! live_pid slurmd >/dev/null; then
            log "error: a SLURM daemon exited during startup (node state: '${state}')"
            show_logs
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "error: node $HOST not idle after ${TIMEOUT}s (state: '${state}')"
            show_logs
            exit 1
        fi
        sleep 0.2
    done
    trap - EXIT
    log "started in $((SECONDS - t0))s: node $HOST idle, run dir $RUN"
}

# SIGTERM the named daemons by recorded PID, all at once (each takes ~2 s to
# exit), then SIGKILL whatever outlives a grace period.
stop_group() {
    local quiet="$1" name pid i
    shift
    local -a pids=()
    for name in "$@"; do
        if pid="$(live_pid "$name")"; then
            [[ -n "$quiet" ]] || log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for ((i = 0; i < 100 && ${#pids[@]} > 0; i++)); do
        local -a alive=()
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive+=("$pid")
        done
        pids=("${alive[@]+"${alive[@]}"}")
        ((${#pids[@]} == 0)) && break
        sleep 0.1
    done
    for pid in "${pids[@]+"${pids[@]}"}"; do
        log "pid $pid ignored SIGTERM for 10s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    done
    for name in "$@"; do
        rm -f "$RUN/$name.pid"
    done
}

stop_daemons() {
    local quiet="${1:-}"
    # The SLURM daemons may still use munge while shutting down.
    stop_group "$quiet" slurmd slurmctld
    stop_group "$quiet" munged
}

stop() {
    if ! live_pid slurmd >/dev/null && ! live_pid slurmctld >/dev/null && ! live_pid munged >/dev/null; then
        log "nothing running (run dir $RUN)"
        return 0
    fi
    stop_daemons
    log "stopped"
}

status() {
    local name pid rc=0
    echo "run dir: $RUN"
    for name in munged slurmctld slurmd; do
        if pid="$(live_pid "$name")"; then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running (from this run dir)"
        fi
    done
    # `scontrol ping` fails at once; sinfo retries a dead controller for ~9 s.
    if scontrol ping >/dev/null 2>&1; then
        sinfo -N -o "%N %P %T %c %m %G"
        node_usable || rc=1
    else
        echo "slurmctld: not reachable (scontrol ping failed)"
        rc=1
    fi
    return $rc
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 {start|stop|status}" >&2
        exit 2
        ;;
esac
