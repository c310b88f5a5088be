#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "webhook_ingress/delivery.hpp"

namespace wi {

/// Limits and policy of a `delivery_engine`.
struct delivery_engine_config {
  /// Jobs in flight at once over all keys. Default: 256 (at least 1).
  size_t max_in_flight = 256;
  /// Jobs in flight at once per `delivery_job::endpoint_key`. Default: 8
  /// (at least 1).
  size_t max_per_key = 8;
  /// Jobs accepted but not yet started; a `submit` beyond it completes at
  /// once with error `overloaded`. Default: 65536.
  size_t max_queued = 65536;
  /// Allow loopback, private and other internal targets (the
  /// `--allow-private-targets` flag; see `actors/delivery/address_guard.hpp`).
  /// Default: false, only public unicast addresses are reached.
  bool allow_private_targets = false;
};

/// Runs webhook POSTs on ONE dedicated thread that drives libcurl's multi
/// interface (never on a CAF scheduler thread, no thread per request).
/// Connections to the same host are reused across jobs.
///
/// Jobs beyond the global or per-key cap wait, in FIFO order per key; keys
/// with waiting jobs take turns for free global slots. Redirects are never
/// followed (a 3xx is an answer like any other: not a success, status
/// kept). Every address is checked by the SSRF guard at connect time; a
/// refused one fails the job with error `blocked_address`. Of the response
/// the engine keeps the status, the `Retry-After` header and the first 1 KiB
/// of the body; it reads at most 64 KiB of a body and then drops the
/// connection.
class delivery_engine {
 public:
  /// Called exactly once per submitted job with its outcome. Runs on the
  /// engine thread (except the immediate `overloaded` and `shutdown`
  /// completions of `submit`, see there); it must not block, must not call
  /// `stop()` expecting a join, and must not destroy the engine. Exceptions
  /// thrown from it are swallowed.
  using completion = std::function<void(delivery_outcome)>;

  /// Starts the engine thread. Throws `std::runtime_error` if libcurl or the
  /// thread cannot be initialized (a start-up failure, not a runtime one).
  explicit delivery_engine(delivery_engine_config cfg = {});

  /// Calls `stop()`.
  virtual ~delivery_engine();

  delivery_engine(const delivery_engine&) = delete;
  delivery_engine& operator=(const delivery_engine&) = delete;

  /// Queues `job`; `done` receives its outcome. Thread-safe and non-blocking
  /// (one short mutex section). When `max_queued` jobs already wait, or after
  /// `stop()`, calls `done` at once on the calling thread with error
  /// `overloaded` or `shutdown`: callers must not hold a lock that `done`
  /// takes. Virtual for tests only: a test engine may keep the jobs and
  /// answer them itself, when the test says (tenant actor tests on CAF's
  /// deterministic coordinator).
  virtual void submit(delivery_job job, completion done);

  /// Ends the engine thread promptly: jobs in flight are aborted and, like
  /// the waiting ones, completed with error `shutdown` on the engine thread
  /// before it ends. Blocks until then, except when called from the engine
  /// thread itself (then it only requests the stop). Idempotent and
  /// thread-safe.
  void stop();

  /// Returns the number of jobs in flight (a snapshot; thread-safe).
  [[nodiscard]] size_t in_flight() const noexcept;

  /// Returns the number of accepted jobs not yet started (a snapshot;
  /// thread-safe).
  [[nodiscard]] size_t queued() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace wi
