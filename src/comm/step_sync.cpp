// Watched barriers and clock offsets; see step_sync.hpp.
#include "comm/step_sync.hpp"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>

#include "comm/mpi_comm.hpp"

namespace epbench::comm {

namespace {
constexpr int kArrivedTag = 7301;

std::string host_name_of_this_process() {
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  return std::string(name, len);
}
constexpr double kReportGraceSeconds = 1.0;
}  // namespace

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

StepSync::StepSync(bool phase_barriers, double timeout_s)
    : phase_barriers_(phase_barriers), timeout_s_(timeout_s) {
  CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &report_comm_));
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  last_progress_s_ = MPI_Wtime();
  watchdog_ = std::thread([this] { watch(); });
}

StepSync::~StepSync() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  watchdog_.join();
  if (report_comm_ != MPI_COMM_NULL) MPI_Comm_free(&report_comm_);
}

void StepSync::set_context(std::string context) const {
  std::lock_guard<std::mutex> lock(mutex_);
  context_ = std::move(context);
  last_progress_s_ = MPI_Wtime();
}

void StepSync::progress(const std::string& where) const {
  std::lock_guard<std::mutex> lock(mutex_);
  where_ = where;
  last_progress_s_ = MPI_Wtime();
}

void StepSync::watch() {
  // Calls no MPI function (MPI_Wtime aside): the process may hold only MPI_THREAD_SINGLE.
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stop_) return;
    const double idle = MPI_Wtime() - last_progress_s_;
    if (idle > timeout_s_ + kWatchdogGraceSeconds) {
      std::cerr << "epbench: error: step timeout: rank " << rank_ << " has been stuck for "
                << std::lround(idle) << " s " << where_
                << (context_.empty() ? "" : " (" + context_ + ")")
                << " (--step-timeout " << timeout_s_
                << " s): a peer stopped or hung inside a collective; aborting" << std::endl;
      std::_Exit(kExitStepTimeout);
    }
  }
}

double StepSync::phase(const char* name) const {
  if (phase_barriers_) barrier(name);
  progress(std::string("in the ") + name + " phase");
  return monotonic_seconds();
}

double StepSync::step(const char* name) const {
  barrier(name);
  progress(std::string("in the ") + name);
  return monotonic_seconds();
}

void StepSync::barrier(const std::string& where) const {
  progress("at the " + where + " barrier");  // waiting here is watched below, not by the thread
  MPI_Request request;
  CHECK_MPI(MPI_Ibarrier(MPI_COMM_WORLD, &request));
  const double deadline = MPI_Wtime() + timeout_s_;
  for (long polls = 0;; ++polls) {
    int done = 0;
    CHECK_MPI(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if (MPI_Wtime() > deadline) report_timeout(where);
    if (polls % 1024 == 0) progress("at the " + where + " barrier");
    if (polls > 1000) sched_yield();  // oversubscribed ranks: let the late one run
  }
}

void StepSync::report_timeout(const std::string& where) const {
  // Every rank that reached the barrier tells every other rank, waits a grace period for the
  // others' notes, and the lowest rank that arrived names the ones that did not.
  int me = 0, n = 1;
  MPI_Comm_rank(report_comm_, &me);
  MPI_Comm_size(report_comm_, &n);
  std::vector<MPI_Request> sends(n, MPI_REQUEST_NULL);
  const int note = 1;
  for (int r = 0; r < n; ++r)
    if (r != me) MPI_Isend(&note, 1, MPI_INT, r, kArrivedTag, report_comm_, &sends[r]);
  std::vector<char> arrived(n, 0);
  arrived[me] = 1;
  const double until = MPI_Wtime() + kReportGraceSeconds;
  while (MPI_Wtime() < until) {
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kArrivedTag, report_comm_, &flag, &status);
    if (!flag) {
      sched_yield();
      continue;
    }
    int value = 0;
    MPI_Recv(&value, 1, MPI_INT, status.MPI_SOURCE, kArrivedTag, report_comm_, MPI_STATUS_IGNORE);
    arrived[status.MPI_SOURCE] = 1;
  }
  const int lowest_arrived = int(std::find(arrived.begin(), arrived.end(), 1) - arrived.begin());
  if (me == lowest_arrived) {
    std::ostringstream missing;
    int count = 0;
    for (int r = 0; r < n; ++r)
      if (!arrived[r]) missing << (count++ ? ", " : "") << r;
    std::cerr << "epbench: error: step timeout: rank" << (count == 1 ? " " : "s ")
              << missing.str() << " did not reach the " << where << " barrier"
              << (context_.empty() ? "" : " (" + context_ + ")") << " within " << timeout_s_
              << " s (--step-timeout); aborting" << std::endl;
  }
  MPI_Abort(MPI_COMM_WORLD, kExitStepTimeout);
  std::abort();  // MPI_Abort does not return
}

std::vector<double> clock_offsets(int pings) {
  int me = 0, n = 1;
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &me));
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &n));
  std::vector<double> offsets(n, 0.0);
  // Ranks on rank 0's host read the same clock: their offset is 0 by construction, and a
  // ping-pong estimate would only add the scheduling noise of oversubscribed cores.
  const std::vector<std::string> hosts = allgather_strings(host_name_of_this_process());
  constexpr int kTag = 7302;
  for (int r = 1; r < n; ++r) {
    if (hosts[r] == hosts[0]) continue;  // the same decision on every rank
    CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
    if (me == 0) {
      double best_rtt = std::numeric_limits<double>::infinity(), best = 0;
      for (int i = 0; i < pings; ++i) {
        const double t0 = monotonic_seconds();
        double remote = 0;
        CHECK_MPI(MPI_Send(&t0, 1, MPI_DOUBLE, r, kTag, MPI_COMM_WORLD));
        CHECK_MPI(MPI_Recv(&remote, 1, MPI_DOUBLE, r, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        const double t1 = monotonic_seconds();
        if (t1 - t0 < best_rtt) {
          best_rtt = t1 - t0;
          best = remote - 0.5 * (t0 + t1);
        }
      }
      offsets[r] = best;
    } else if (me == r) {
      for (int i = 0; i < pings; ++i) {
        double t0 = 0;
        CHECK_MPI(MPI_Recv(&t0, 1, MPI_DOUBLE, 0, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        const double now = monotonic_seconds();
        CHECK_MPI(MPI_Send(&now, 1, MPI_DOUBLE, 0, kTag, MPI_COMM_WORLD));
      }
    }
  }
  CHECK_MPI(MPI_Bcast(offsets.data(), n, MPI_DOUBLE, 0, MPI_COMM_WORLD));
  return offsets;
}

}  // namespace epbench::comm
