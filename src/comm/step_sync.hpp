// Synchronisation and clocks for timing a multi-rank step:
//  - StepSync: the barriers that separate a step's phases, each watched by a timeout. A rank
//    that does not reach a barrier within `timeout_s` (a stopped or hung process) is named on
//    stderr by the lowest rank that did arrive, and every rank exits with status 3
//    (kExitStepTimeout) through MPI_Abort. No extra messages are sent while ranks arrive on
//    time: arrivals are exchanged only after a timeout.
//    A rank stuck anywhere else for longer (inside a collective whose peer stopped, say) is
//    caught by a watchdog thread: after timeout_s + kWatchdogGraceSeconds without reaching a
//    barrier it prints where it is stuck and ends the process with status 3, which ends the job.
//  - ClockOffsets: each rank's monotonic_seconds() offset to rank 0's: 0 on rank 0's host,
//    else estimated by ping-pong (the exchange with the smallest round trip wins), so per-rank
//    phase start/end stamps can be compared on one clock (phase span = latest end - earliest start over ranks).
#pragma once

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace epbench::comm {

inline constexpr int kExitStepTimeout = 3;

// The clock of every stamp: CLOCK_MONOTONIC in seconds, one clock for all processes of a host
// (Open MPI's MPI_Wtime counts from each process's own MPI_Init, so it is not).
double monotonic_seconds();
inline constexpr double kWatchdogGraceSeconds = 5.0;

class StepSync {
 public:
  // Collective (duplicates MPI_COMM_WORLD for the timeout report). phase_barriers = false:
  // phase() does not synchronise (a pipelined step); step() always does.
  StepSync(bool phase_barriers, double timeout_s);
  ~StepSync();
  StepSync(const StepSync&) = delete;
  StepSync& operator=(const StepSync&) = delete;

  bool phase_barriers() const { return phase_barriers_; }
  double timeout_s() const { return timeout_s_; }
  // Start of a phase: a watched barrier when phase barriers are on, then monotonic_seconds().
  double phase(const char* name) const;
  // Start of a step (always a watched barrier), then monotonic_seconds().
  double step(const char* name) const;
  // A watched barrier; `where` names it in the timeout message.
  void barrier(const std::string& where) const;
  // Label for the timeout message ("policy eplb, step 3, layer 1"); kept until changed. Also
  // counts as progress for the watchdog thread (call it at least once per step).
  void set_context(std::string context) const;

 private:
  [[noreturn]] void report_timeout(const std::string& where) const;
  void progress(const std::string& where) const;
  void watch();  // the watchdog thread's loop
  bool phase_barriers_;
  double timeout_s_;
  MPI_Comm report_comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  mutable std::mutex mutex_;  // guards context_, where_, last_progress_s_
  mutable std::string context_, where_;
  mutable double last_progress_s_ = 0;
  bool stop_ = false;
  std::condition_variable stop_cv_;
  std::thread watchdog_;
};

// Collective. offsets[r] = rank r's monotonic_seconds() minus rank 0's at the same instant;
// a stamp t on rank r is t - offsets[r] on rank 0's clock. Every rank gets the whole vector.
std::vector<double> clock_offsets(int pings = 8);

}  // namespace epbench::comm
