#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "crash/history.hpp"
#include "support/server_process.hpp"

namespace wi_crash {

/// One load phase.
struct load_config {
  /// The running server, `http://127.0.0.1:<port>`.
  std::string base_url;
  std::string admin_token;
  /// Concurrent client threads.
  int threads = 6;
  /// Seeds the threads' choices (each thread derives its own generator).
  uint64_t seed = 0;
  /// When to SIGKILL the server, counted from the start of the load; later
  /// if nothing was acknowledged by then (see `first_ack_timeout`).
  std::chrono::milliseconds kill_after{200};
  /// The longest wait past `kill_after` for the round's first
  /// acknowledgement.
  std::chrono::milliseconds first_ack_timeout{10'000};
  /// Per-request timeout of the clients (bounds a hung server).
  std::chrono::milliseconds request_timeout{5000};
};

/// Sends mutations planned by `h` from `cfg.threads` client threads, each
/// waiting for one answer before its next request, and records each answer
/// in `h`. After `cfg.kill_after`, once at least one mutation of this load
/// was acknowledged (or `cfg.first_ack_timeout` later, or when every thread
/// has ended), it SIGKILLs (and reaps) `server`: requests
/// in flight get no answer (unknown), later ones are refused (never sent),
/// and each thread ends at its first failure. Returns when every thread has
/// finished. A transport error before the kill or an answer other than
/// 201/204 is reported to `h` as a violation.
void load_then_kill(history& h, wi_e2e::server_process& server,
                    const load_config& cfg);

} // namespace wi_crash
