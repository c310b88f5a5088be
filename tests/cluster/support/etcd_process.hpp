#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "support/child_process.hpp"

namespace wi_cluster_test {

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (bound to
/// port 0 and closed again).
uint16_t free_port();

/// A real single-member etcd (`/usr/bin/etcd`, Debian `etcd-server`) on free
/// loopback ports with its data in a fresh temp directory, removed on
/// destruction. `stop()` and `start()` again keep the ports and the data, so
/// a test can take etcd away and bring it back. Use from one thread.
class etcd_process {
 public:
  /// Starts etcd and waits (15 s at most) until `GET /health` says healthy.
  /// Throws `std::runtime_error` with etcd's output on failure.
  etcd_process();

  /// Kills etcd and removes its data directory.
  ~etcd_process();

  etcd_process(const etcd_process&) = delete;
  etcd_process& operator=(const etcd_process&) = delete;

  /// `http://127.0.0.1:<client port>`.
  std::string client_url() const;

  /// Starts etcd again after `stop()` or `kill9()` (same ports and data).
  void start();

  /// SIGTERM, then SIGKILL after 5 s.
  void stop();

  /// SIGKILL.
  void kill9();

  /// Whether etcd runs.
  bool running() const;

 private:
  std::filesystem::path dir_;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  uint16_t metrics_port_ = 0;
  std::unique_ptr<wi_e2e::child_process> child_;
};

} // namespace wi_cluster_test
