# shellcheck shell=bash disable=SC2154  # epbench_* variables are set by common.sh
# Scaling sweep for jobs/scaling*.sbatch (sourced after jobs/slurm/common.sh): weak and strong
# scaling over node counts inside one allocation of the largest size. Each (mode, nodes) point
# writes one results file, results/<cluster>/<sweep>/<mode>-n<nodes>x<ppn>-job<jobid>.json;
# a point whose file already exists (from this or an earlier job of the same sweep) is skipped,
# so a resubmitted sweep resumes where it stopped. epbench writes atomically (temp + rename), so
# a file that exists is complete; on SIGTERM (scancel, or --signal before the time limit) the
# current run is stopped by common.sh's trap and no further point is started.

# Prints 1 2 4 ... up to $1, and $1 itself when it is not a power of two.
epbench_powers_of_two() {
  local n=1 max=$1
  while ((n < max)); do echo "$n"; n=$((n * 2)); done
  echo "$max"
}

# True when FILE is a complete results file. epbench renames a fully written file into place,
# so existence is enough; parsing it as JSON (when python3 is there) also rejects a file that
# was damaged afterwards. Schema validity is not required here: `epbench validate` is for that.
epbench_results_complete() {
  local file=$1
  [[ -s "$file" ]] || return 1
  command -v python3 >/dev/null 2>&1 || return 0
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$file" 2>/dev/null
}

epbench_scaling_sweep() {
  local modes=${EPBENCH_SCALING_MODES:-weak strong}
  local sizes=${EPBENCH_SCALING_NODES:-$(epbench_powers_of_two "$epbench_nodes")}
  local weak_tpr=${EPBENCH_WEAK_TOKENS_PER_RANK:-}
  if [[ -z "$weak_tpr" ]]; then
    if [[ "$epbench_kind" == GPU ]]; then weak_tpr=4096; else weak_tpr=256; fi
  fi
  local strong_total=${EPBENCH_STRONG_TOKENS:-$((weak_tpr * epbench_nodes * epbench_ppn))}
  local sweep=${EPBENCH_SWEEP:-scaling-$epbench_preset-$epbench_backend-ppn$epbench_ppn}
  local outdir=$epbench_results_root/$epbench_cluster/$sweep
  mkdir -p "$outdir"
  epbench_log "sweep $sweep: modes [$modes], nodes [$(echo $sizes)], weak $weak_tpr tokens/rank, strong $strong_total tokens; results in $outdir"

  local mode nodes ranks tpr tag existing failed=0 ran=0 skipped=0
  for mode in $modes; do
    for nodes in $sizes; do
      ((nodes <= epbench_nodes)) || { epbench_log "skip $mode n=$nodes: the job has only $epbench_nodes nodes"; continue; }
      ranks=$((nodes * epbench_ppn))
      case "$mode" in
        weak) tpr=$weak_tpr ;;
        strong)
          if ((strong_total % ranks != 0)); then
            epbench_log "skip strong n=$nodes: $strong_total tokens do not split evenly over $ranks ranks"
            continue
          fi
          tpr=$((strong_total / ranks)) ;;
        *) epbench_die "unknown scaling mode '$mode' (weak, strong)" ;;
      esac
      tag=$mode-n${nodes}x$epbench_ppn
      existing=
      for f in "$outdir/$tag"-*.json; do
        [[ -e "$f" ]] && epbench_results_complete "$f" && { existing=$f; break; }
      done
      if [[ -n "$existing" ]]; then
        epbench_log "skip $tag: done in $(basename "$existing")"
        skipped=$((skipped + 1))
        continue
      fi
      epbench_log "run $tag: $ranks ranks, $tpr tokens per rank"
      if epbench_launch_run "$nodes" "$epbench_ppn" --tokens-per-rank "$tpr" --label "$tag" \
          --output "$outdir/$tag-job$SLURM_JOB_ID.json" "$@"; then
        ran=$((ran + 1))
      else
        epbench_log "$tag failed (exit status $?); going on with the next point"
        failed=$((failed + 1))
      fi
    done
  done
  epbench_log "sweep $sweep: $ran run, $skipped skipped (already done), $failed failed"
  ls -1 "$outdir"
  ((failed == 0))
}
