#!/usr/bin/env bash
# A local Slurm cluster of emulated nodes on this one machine, for testing the sbatch scripts
# (tests/slurm) and for trying them out: one slurmctld and one slurmd per emulated node, all on
# 127.0.0.1, auth/none, in a state folder of their own, on non-default ports so a system Slurm
# is never touched. Installs the Slurm packages when missing (cmake/install-deps.sh --with-slurm).
#
#   jobs/slurm/local-cluster.sh start  [--dir DIR] [--nodes N] [--cpus C] [--gpus G] [--ctld-port P] [--node-port P]
#   jobs/slurm/local-cluster.sh stop   [--dir DIR]
#   jobs/slurm/local-cluster.sh status [--dir DIR]
#   jobs/slurm/local-cluster.sh env    [--dir DIR]     # prints `export SLURM_CONF=…`
#
# `start` prints `export SLURM_CONF=DIR/slurm.conf` on stdout (use: eval "$(… start)") and also
# writes it to DIR/env.sh; all messages go to stderr. It waits (bounded, EPBENCH_SLURM_START_TIMEOUT
# seconds, default 30) until every node is idle, else it stops what it started and fails.
# `stop` cancels the cluster's jobs, then ends exactly the daemons it recorded in DIR/pids (and
# job step daemons those left behind), never anything else.
#
# Defaults (flags override the environment): DIR=$EPBENCH_SLURM_DIR or /tmp/epbench-slurm-$UID,
# N=$EPBENCH_SLURM_NODES or 4, C (CPUs each node claims; like an 8-GPU node, may exceed the
# machine's cores: jobs then need --overcommit) = $EPBENCH_SLURM_CPUS or max(nproc, 8), slurmctld port
# $EPBENCH_SLURM_CTLD_PORT or 16817, G emulated GPUs per node (GRES backed by placeholder files,
# so GPU job scripts can be scheduled; no real device) = $EPBENCH_SLURM_GPUS or 0, node ports from $EPBENCH_SLURM_NODE_PORT or 17001 on.
# When the default ports are taken (another local cluster), it moves both up by 100 until free;
# ports given explicitly must be free. Emulated nodes share one hostname: jobs must take node
# identity from SLURM_NODEID, and MPI across them needs OMPI_MCA_btl=self,tcp (the sbatch
# scripts detect this and set it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

die() { echo "local-cluster: $*" >&2; exit 1; }
say() { echo "local-cluster: $*" >&2; }

cmd=${1:-}
[[ -n "$cmd" ]] || die "usage: $0 start|stop|status|env [--dir DIR] [--nodes N] [--cpus C] [--ctld-port P] [--node-port P]"
shift

dir=${EPBENCH_SLURM_DIR:-/tmp/epbench-slurm-$(id -u)}
nodes=${EPBENCH_SLURM_NODES:-4}
ncores=$(nproc 2>/dev/null || echo 2)
cpus=${EPBENCH_SLURM_CPUS:-$((ncores > 8 ? ncores : 8))}
ctld_port=${EPBENCH_SLURM_CTLD_PORT:-}
node_port=${EPBENCH_SLURM_NODE_PORT:-}
start_timeout=${EPBENCH_SLURM_START_TIMEOUT:-30}
gpus=${EPBENCH_SLURM_GPUS:-0}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --gpus) gpus=$2; shift 2 ;;
    --ctld-port) ctld_port=$2; shift 2 ;;
    --node-port) node_port=$2; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "--nodes must be a positive integer, got '$nodes'"
[[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "--cpus must be a positive integer, got '$cpus'"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf=$dir/slurm.conf
pidfile=$dir/pids
export SLURM_CONF=$conf

# --- helpers -------------------------------------------------------------------------------

port_in_use() {  # port_in_use PORT: is something listening on it (any address)?
  if command -v ss >/dev/null 2>&1; then
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

ports_free() {  # ports_free CTLD FIRST_NODE
  local p
  port_in_use "$1" && return 1
  for ((p = $2; p < $2 + nodes; p++)); do port_in_use "$p" && return 1; done
  return 0
}

# Prints the live recorded pids (those still running the program they were recorded as).
live_pids() {
  [[ -f "$pidfile" ]] || return 0
  local name pid
  while read -r name pid; do
    [[ -n "$pid" && -r /proc/$pid/comm ]] || continue
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] && echo "$pid"
  done <"$pidfile"
}

# slurmstepd processes started by this cluster's slurmd (their environment names our SLURM_CONF).
our_stepds() {
  local pid
  for pid in $(pgrep -x slurmstepd 2>/dev/null || true); do
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$conf" && echo "$pid"
  done
  return 0
}

node_states() { sinfo -h -N -o '%N %T' 2>/dev/null | sort -u; }

all_idle() {
  local states
  states=$(node_states) || return 1
  [[ $(grep -c ' idle$' <<<"$states") -eq $nodes ]]
}

print_env() { echo "export SLURM_CONF=$conf"; }

stop_cluster() {
  if [[ -z "$(live_pids)" ]]; then
    rm -f "$pidfile"
    return 0
  fi
  # Cancel this cluster's jobs first so their steps end cleanly (bounded wait).
  if timeout 5 squeue -h -o %i >/dev/null 2>&1; then
    local jobs
    jobs=$(timeout 5 squeue -h -o %i 2>/dev/null || true)
    if [[ -n "$jobs" ]]; then
      say "cancelling jobs: $(echo $jobs)"
      timeout 5 scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 30); do
        [[ -z "$(timeout 5 squeue -h -t R,CG -o %i 2>/dev/null)" ]] && break
        sleep 0.5
      done
    fi
  fi
  local pids
  pids=$(live_pids)
  # shellcheck disable=SC2086
  [[ -n "$pids" ]] && kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 40); do
    [[ -z "$(live_pids)" ]] && break
    sleep 0.25
  done
  pids=$(live_pids)
  if [[ -n "$pids" ]]; then
    say "daemons still alive after SIGTERM, sending SIGKILL: $pids"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  local stepds
  stepds=$(our_stepds)
  if [[ -n "$stepds" ]]; then
    say "ending leftover job step daemons: $(echo $stepds)"
    # shellcheck disable=SC2086
    kill -KILL $stepds 2>/dev/null || true
  fi
  rm -f "$pidfile"
  say "stopped (state in $dir)"
}

start_daemon() {  # start_daemon NAME LOG ARGS...: starts in its own session, records its pid
  local name=$1 log=$2
  shift 2
  setsid "$@" </dev/null >"$log" 2>&1 &
  echo "$name $!" >>"$pidfile"
}

# --- commands ------------------------------------------------------------------------------

case "$cmd" in
  env)
    print_env
    ;;

  status)
    pids=$(live_pids)
    if [[ -z "$pids" ]]; then
      echo "local-cluster: not running (state dir $dir)"
      exit 3
    fi
    echo "local-cluster: running in $dir, daemons: $(echo $pids)"
    echo "SLURM_CONF=$conf"
    timeout 5 sinfo -N -o '%N %T %c' || true
    timeout 5 squeue || true
    ;;

  stop)
    stop_cluster
    ;;

  start)
    if [[ -n "$(live_pids)" ]]; then
      say "already running in $dir"
      print_env
      exit 0
    fi
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
      say "Slurm not found; installing it"
      "$root/cmake/install-deps.sh" --with-slurm
    fi
    command -v slurmctld >/dev/null || die "slurmctld not found after install (is /usr/sbin on PATH?)"

    # Port choice and start-up under one lock, so two clusters starting at once do not pick the
    # same free ports.
    exec 9>"/tmp/epbench-slurm-ports.lock"
    flock -w 60 9 || die "could not take /tmp/epbench-slurm-ports.lock within 60 s"
    if [[ -n "$ctld_port" || -n "$node_port" ]]; then
      ctld_port=${ctld_port:-16817}
      node_port=${node_port:-17001}
      ports_free "$ctld_port" "$node_port" ||
        die "ports $ctld_port / $node_port..$((node_port + nodes - 1)) are in use"
    else
      ctld_port=16817 node_port=17001
      for ((try = 0; ; try++)); do
        ports_free "$ctld_port" "$node_port" && break
        ((try < 50)) || die "no free ports found from 16817 / 17001 upwards"
        ctld_port=$((ctld_port + 100)) node_port=$((node_port + 100))
      done
    fi

    # A fresh cluster each time: no job state carried over from a previous run.
    rm -rf "$dir/state" "$dir"/spool-* "$dir"/tmp-* "$dir/log" "$pidfile"
    mkdir -p "$dir/state" "$dir/log"
    for ((i = 1; i <= nodes; i++)); do mkdir -p "$dir/spool-n$i" "$dir/tmp-n$i"; done
    gres_types='' node_gres=''
    if ((gpus > 0)); then
      mkdir -p "$dir/dev"
      for ((g = 0; g < gpus; g++)); do : >"$dir/dev/gpu$g"; done
      echo "Name=gpu File=$dir/dev/gpu[0-$((gpus - 1))]" >"$dir/gres.conf"
      gres_types=GresTypes=gpu node_gres=Gres=gpu:$gpus
    fi
    sed -e "s|@CLUSTER@|${EPBENCH_SLURM_CLUSTER:-epbench}|g" \
        -e "s|@CTLD_PORT@|$ctld_port|g" \
        -e "s|@USER@|$(id -un)|g" \
        -e "s|@STATE@|$dir|g" \
        -e "s|@NODE_PREFIX@|n|g" \
        -e "s|@NODES@|$nodes|g" \
        -e "s|@NODE_PORT_FIRST@|$node_port|g" \
        -e "s|@NODE_PORT_LAST@|$((node_port + nodes - 1))|g" \
        -e "s|@CPUS@|$cpus|g" \
        -e "s|@GRES_TYPES@|$gres_types|g" \
        -e "s|@NODE_GRES@|$node_gres|g" \
        -e "s|@PARTITION@|debug|g" \
        "$here/slurm.conf.in" >"$conf"
    print_env >"$dir/env.sh"

    trap 'say "start failed; stopping what was started"; stop_cluster' ERR
    start_daemon slurmctld "$dir/log/slurmctld.out" slurmctld -D -c
    for ((i = 1; i <= nodes; i++)); do
      start_daemon slurmd "$dir/log/slurmd-n$i.out" slurmd -D -N "n$i"
    done

    deadline=$((SECONDS + start_timeout))
    until all_idle; do
      if ((SECONDS >= deadline)) || [[ $(live_pids | wc -l) -ne $((nodes + 1)) ]]; then
        say "nodes not idle within ${start_timeout} s (or a daemon died). Node states:"
        node_states | sed 's/^/  /' >&2 || true
        for f in "$dir"/log/*.out "$dir/log/slurmctld.log"; do
          [[ -s "$f" ]] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
        done
        stop_cluster
        exit 1
      fi
      sleep 0.3
    done
    trap - ERR
    say "$nodes nodes idle (slurmctld port $ctld_port, slurmd ports $node_port..$((node_port + nodes - 1)), state $dir)"
    print_env
    ;;

  *)
    die "unknown command '$cmd' (start|stop|status|env)"
    ;;
esac
