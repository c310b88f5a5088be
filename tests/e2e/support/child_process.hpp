#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace wi_e2e {

/// A child process with piped stdout and stderr, drained by a background
/// thread so the child never blocks on a full pipe. Every wait has a timeout.
/// Not thread-safe except for the output accessors; use from one test thread
/// (the child gets `PR_SET_PDEATHSIG`, bound to the spawning thread).
class child_process {
 public:
  /// Spawns `argv[0]` with `argv` and the test's environment, minus every
  /// `WEBHOOK_INGRESS_*` variable, plus `extra_env` (name -> value).
  /// Throws `std::runtime_error` if the process cannot be created.
  child_process(const std::vector<std::string>& argv,
                const std::map<std::string, std::string>& extra_env = {});

  /// Kills the child with SIGKILL if it still runs, reaps it and joins the
  /// reader thread.
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The child's process id.
  pid_t pid() const noexcept { return pid_; }

  /// Sends `sig` to the child unless it was already reaped.
  void send_signal(int sig);

  /// Waits until `pred(stdout so far)` holds, stdout reaches EOF or the
  /// timeout passes. Returns whether `pred` held.
  bool wait_for_stdout(const std::function<bool(const std::string&)>& pred,
                       std::chrono::milliseconds timeout);

  /// Waits for the child to exit. Returns the raw `waitpid` status, or
  /// `std::nullopt` on timeout (the child keeps running).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  /// SIGKILLs the child (if running) and reaps it. Returns the wait status.
  int kill_and_reap();

  /// Whether the child was reaped.
  bool reaped() const noexcept { return status_.has_value(); }

  /// Everything the child wrote to stdout so far.
  std::string stdout_text() const;

  /// Everything the child wrote to stderr so far.
  std::string stderr_text() const;

  /// Joins the reader thread once both pipes reached EOF (at most `timeout`).
  void drain(std::chrono::milliseconds timeout);

 private:
  void read_loop(int out_fd, int err_fd);

  pid_t pid_ = -1;
  std::optional<int> status_;
  std::thread reader_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::string out_;
  std::string err_;
  bool out_eof_ = false;
  bool err_eof_ = false;
  bool stop_reader_ = false;
};

/// Describes a raw wait status, e.g. "exited with 1" or "killed by signal 9".
std::string describe_wait_status(int status);

/// The result of running a process to completion.
struct run_result {
  /// Raw wait status; meaningful only if `!timed_out`.
  int status = 0;
  bool timed_out = false;
  std::string out;
  std::string err;

  /// Whether the process exited normally (not by a signal).
  bool exited() const;
  /// The exit code; -1 unless `exited()`.
  int exit_code() const;
};

/// Runs `argv` to completion, killing it after `timeout`.
run_result
run_to_exit(const std::vector<std::string>& argv,
            std::chrono::milliseconds timeout,
            const std::map<std::string, std::string>& extra_env = {});

} // namespace wi_e2e
