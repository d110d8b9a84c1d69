# shellcheck shell=bash
# Shared body of the jobs/*.sbatch scripts (sourced, not run): finds the repository and the
# epbench binary, loads modules, picks the results folder, sets per-rank environment, and
# launches `epbench run` with srun or mpirun so that a cancellation or time-limit signal stops
# the run cleanly. The sbatch files only set #SBATCH lines and defaults, then call
# epbench_single_run or epbench_scaling_sweep (jobs/slurm/sweep.sh).
#
# Environment (all optional; the sbatch headers document them for users):
#   EPBENCH_ROOT          repository root (default: the submit directory or its git top level)
#   EPBENCH_BIN           epbench binary (default: $EPBENCH_ROOT/build/src/app/epbench)
#   EPBENCH_LAUNCH        srun (default; srun --mpi=pmix) or mpirun (mpirun inside the allocation)
#   EPBENCH_PRESET        model preset (--preset)        EPBENCH_BACKEND  kokkos|cuda (--backend)
#   EPBENCH_COMM          mpi|nccl (--comm)             EPBENCH_ARGS     more `epbench run` options
#   EPBENCH_CLUSTER       results/<cluster>/… name (default: SLURM_CLUSTER_NAME, else "local")
#   EPBENCH_RESULTS_ROOT  results root (default: $EPBENCH_ROOT/results)
#   EPBENCH_MODULES       modules to `module load` first, e.g. "openmpi cuda nccl"
#   EPBENCH_GPU_BIND      srun --gpu-bind value (GPU jobs default: none = all node GPUs visible,
#                         the suite uses the GPU of its local rank; per_task:1 / closest isolate)
#   EPBENCH_MPI_BTL       OMPI_MCA_btl value (default: self,tcp only on emulated nodes)
#   EPBENCH_SRUN_ARGS, EPBENCH_MPIRUN_ARGS   extra launcher options (word-split)

epbench_log() { echo "[epbench-job $(date -u +%H:%M:%S)] $*"; }
epbench_die() { echo "[epbench-job] error: $*" >&2; exit 2; }

# epbench_setup GPU|CPU: resolves everything; sets the epbench_* variables used below.
epbench_setup() {
  epbench_kind=$1
  [[ -n "${SLURM_JOB_ID:-}" ]] || epbench_die "not inside a Slurm job (submit with sbatch)"
  epbench_root=${EPBENCH_ROOT:?}
  epbench_bin=${EPBENCH_BIN:-$epbench_root/build/src/app/epbench}
  epbench_launch=${EPBENCH_LAUNCH:-srun}
  case "$epbench_launch" in srun | mpirun) ;; *) epbench_die "EPBENCH_LAUNCH must be srun or mpirun, got '$epbench_launch'" ;; esac

  if [[ -n "${EPBENCH_MODULES:-}" ]]; then
    if type module >/dev/null 2>&1; then
      # shellcheck disable=SC2086
      module load $EPBENCH_MODULES || epbench_die "module load $EPBENCH_MODULES failed"
    else
      epbench_die "EPBENCH_MODULES is set but the 'module' command is not available"
    fi
  fi
  [[ -x "$epbench_bin" ]] || epbench_die "epbench binary not found at $epbench_bin (build it, or set EPBENCH_BIN)"

  if [[ "$epbench_kind" == GPU ]]; then
    epbench_preset=${EPBENCH_PRESET:-deepseek-v3}
    epbench_backend=${EPBENCH_BACKEND:-cuda}
    epbench_comm=${EPBENCH_COMM:-nccl}
  else
    epbench_preset=${EPBENCH_PRESET:-small}
    epbench_backend=${EPBENCH_BACKEND:-kokkos}
    epbench_comm=${EPBENCH_COMM:-mpi}
  fi
  epbench_cluster=${EPBENCH_CLUSTER:-${SLURM_CLUSTER_NAME:-local}}
  epbench_results_root=${EPBENCH_RESULTS_ROOT:-$epbench_root/results}
  epbench_nodes=${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}
  epbench_ppn=${SLURM_NTASKS_PER_NODE:-}
  if [[ -z "$epbench_ppn" ]]; then
    [[ -n "${SLURM_NTASKS:-}" ]] || epbench_die "set --ntasks-per-node (or --ntasks) in the job"
    epbench_ppn=$((SLURM_NTASKS / epbench_nodes))
  fi

  # One BLAS / OpenMP thread per rank unless the job says otherwise (Kokkos OpenMP: cpus-per-task).
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
  export OMP_PROC_BIND=${OMP_PROC_BIND:-spread} OMP_PLACES=${OMP_PLACES:-threads}

  # Emulated nodes (several Slurm nodes on one host, e.g. jobs/slurm/local-cluster.sh): Open MPI's
  # shared-memory transport must not be used between them.
  if [[ -n "${EPBENCH_MPI_BTL:-}" ]]; then
    export OMPI_MCA_btl=$EPBENCH_MPI_BTL
  elif ((epbench_nodes > 1)) && epbench_nodes_share_host; then
    epbench_log "nodes of this job share one host (emulated nodes): OMPI_MCA_btl=self,tcp over lo"
    export OMPI_MCA_btl=self,tcp
  fi
  # Emulated nodes live on one host: keep Open MPI's TCP traffic on the loopback interface.
  if ((epbench_nodes > 1)) && epbench_nodes_share_host; then
    export OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
    export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
  fi

  epbench_log "job ${SLURM_JOB_ID} (${SLURM_JOB_NAME:-}) on cluster ${epbench_cluster}: ${epbench_nodes} node(s) x ${epbench_ppn} task(s), nodes ${SLURM_JOB_NODELIST:-?}"
  epbench_log "binary ${epbench_bin}, launch ${epbench_launch}, default preset ${epbench_preset}, backend ${epbench_backend}, comm ${epbench_comm}"
}

# True when all nodes of the job have the same NodeHostname (emulated nodes on one machine).
epbench_nodes_share_host() {
  local hosts
  hosts=$(scontrol show node -o "${SLURM_JOB_NODELIST:-}" 2>/dev/null |
    grep -o 'NodeHostName=[^ ]*' | sort -u | wc -l)
  [[ "$hosts" == 1 ]]
}

# epbench_has_option NAME ARGS...: is NAME (or NAME=value) among ARGS?
epbench_has_option() {
  local name=$1 a
  shift
  for a in "$@"; do [[ "$a" == "$name" || "$a" == "$name="* ]] && return 0; done
  return 1
}

# The current launcher (srun/mpirun) pid, and what a signal to the batch shell does with it:
# forward SIGTERM, wait for it to exit, and leave with 143 (no further sizes are started).
epbench_child=
epbench_on_signal() {
  epbench_log "received $1: stopping the current run and exiting"
  trap - TERM INT USR1
  if [[ -n "$epbench_child" ]]; then
    kill -TERM "$epbench_child" 2>/dev/null || true
    wait "$epbench_child" 2>/dev/null || true
  fi
  exit 143
}
trap 'epbench_on_signal SIGTERM' TERM
trap 'epbench_on_signal SIGINT' INT
trap 'epbench_on_signal SIGUSR1' USR1

# epbench_launch_run NODES TASKS_PER_NODE [epbench run options...]: one launch; returns its status.
epbench_launch_run() {
  local nodes=$1 ppn=$2
  shift 2
  local -a cmd
  if [[ "$epbench_launch" == srun ]]; then
    cmd=(srun --mpi=pmix --kill-on-bad-exit=1 --nodes="$nodes" --ntasks=$((nodes * ppn))
         --ntasks-per-node="$ppn")
    # GPU jobs: by default every task sees all GPUs of its node and the suite takes the GPU of
    # its local rank (Slurm's per-task default would show each task one GPU, numbered 0).
    local bind=${EPBENCH_GPU_BIND:-}
    [[ -z "$bind" && "$epbench_kind" == GPU ]] && bind=none
    [[ -n "$bind" ]] && cmd+=(--gpu-bind="$bind")
    # shellcheck disable=SC2206
    cmd+=(${EPBENCH_SRUN_ARGS:-})
  else
    cmd=(mpirun -np $((nodes * ppn)) --map-by "ppr:$ppn:node" -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
    [[ $(id -u) -eq 0 ]] && cmd+=(--allow-run-as-root)
    # shellcheck disable=SC2206
    cmd+=(${EPBENCH_MPIRUN_ARGS:-})
  fi
  # shellcheck disable=SC2206
  local -a user=(${EPBENCH_ARGS:-} "$@")
  cmd+=("$epbench_bin" run)
  # The defaults, unless the user's options already name them.
  epbench_has_option --preset "${user[@]}" || cmd+=(--preset "$epbench_preset")
  epbench_has_option --backend "${user[@]}" || cmd+=(--backend "$epbench_backend")
  epbench_has_option --comm "${user[@]}" || cmd+=(--comm "$epbench_comm")
  cmd+=("${user[@]}")
  epbench_log "+ ${cmd[*]}"
  # In the background, so that a signal to the batch shell is handled at once (see above).
  "${cmd[@]}" &
  epbench_child=$!
  local rc=0
  wait "$epbench_child" || rc=$?
  epbench_child=
  return "$rc"
}

# One run on the whole allocation; results in results/<cluster>/<jobid>/.
epbench_single_run() {
  local outdir=$epbench_results_root/$epbench_cluster/$SLURM_JOB_ID
  mkdir -p "$outdir"
  local rc=0
  epbench_launch_run "$epbench_nodes" "$epbench_ppn" --output-dir "$outdir" "$@" || rc=$?
  if ((rc == 0)); then
    epbench_log "done; results in $outdir:"
    ls -1 "$outdir"
  else
    epbench_log "epbench run failed with exit status $rc"
  fi
  return "$rc"
}
