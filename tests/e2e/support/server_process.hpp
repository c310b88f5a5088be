#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.hpp"

namespace wi_e2e {

/// Path of the server binary under test: `$WI_SERVER_BINARY`, else
/// `<dir of this test binary>/../webhook-ingress`. Throws if it is missing.
std::filesystem::path server_binary();

/// The repository's root: `$WI_SOURCE_DIR`, which ctest sets. Throws when it
/// is unset, so a test that reads a source file never skips silently.
std::filesystem::path source_dir();

/// A fresh directory from `mkdtemp` under /tmp, removed with its content on
/// destruction (kept when `$WI_E2E_KEEP_DIRS` is set, for debugging).
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

/// How to start the server.
struct server_config {
  /// The `--data-dir`.
  std::filesystem::path data_dir;
  /// The `--admin-token`; none passes no flag (the server generates one or
  /// takes it from the environment).
  std::optional<std::string> admin_token;
  /// Further command-line arguments (after `--listen` and `--data-dir`).
  std::vector<std::string> extra_args;
  /// Extra environment variables for the child.
  std::map<std::string, std::string> env;
  /// Set: the child's soft and hard limit of open descriptors
  /// (RLIMIT_NOFILE), applied by `prlimit` before the binary starts.
  std::optional<unsigned> max_descriptors;
};

/// The real `webhook-ingress` binary on `127.0.0.1:0`.
///
/// `start()` waits (20 s at most) for the line
/// `webhook-ingress listening on http://127.0.0.1:<port>`, then polls
/// `GET /readyz` until it answers 200 (20 s at most). Restarting on the same
/// data directory is `kill9()` or `stop()` followed by `start()`.
class server_process {
 public:
  explicit server_process(server_config cfg);

  /// SIGTERM, then SIGKILL after 5 s, if still running.
  ~server_process();

  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  /// Starts the binary and waits until it listens and is ready. Throws
  /// `std::runtime_error` (with the captured output) on failure or timeout.
  void start();

  /// SIGTERM, wait up to `timeout`, then SIGKILL. Returns the wait status.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds{10});

  /// SIGKILL and reap: a crash at an arbitrary moment.
  void kill9();

  /// Whether a started process was not reaped yet.
  bool running();

  /// The process id of the current (or last) run.
  pid_t pid() const noexcept;

  /// The port of the current (or last) run.
  uint16_t port() const noexcept { return port_; }

  /// `http://127.0.0.1:<port>`.
  std::string base_url() const;

  /// The admin token: the configured one, or the one the server printed on
  /// some run (`admin token: <token>`).
  std::string admin_token() const;

  /// The token printed on the current run's stdout, if any. Waits up to
  /// `wait` for it to appear.
  std::optional<std::string> printed_admin_token(
    std::chrono::milliseconds wait = std::chrono::milliseconds{0});

  /// Output of the current run.
  std::string stdout_text() const;
  std::string stderr_text() const;

  /// The last `max_chars` of stderr of the current run, for failure reports.
  std::string stderr_tail(size_t max_chars = 4000) const;

  const server_config& config() const noexcept { return cfg_; }

 private:
  server_config cfg_;
  std::unique_ptr<child_process> child_;
  uint16_t port_ = 0;
  std::optional<std::string> generated_admin_token_;
};

} // namespace wi_e2e
