#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wi {

/// One HTTP POST to a customer endpoint, as the delivery engine runs it
/// (`actors/delivery/delivery_engine.hpp`). The caller builds every header,
/// including `Content-Type`, `User-Agent` and the `webhook-*` signature
/// headers; the engine adds none of its own and never follows redirects.
struct delivery_job {
  /// Caller-chosen id, echoed in the outcome.
  uint64_t job_id = 0;
  /// Absolute `http://` or `https://` URL.
  std::string url;
  /// Request headers in the order sent. Names and values must not contain
  /// CR, LF or NUL (such a job fails with error `invalid_request`).
  std::vector<std::pair<std::string, std::string>> headers;
  /// Request body, sent as is.
  std::string body;
  /// Concurrency key, e.g. `<tenant id>/<endpoint id>`: the engine caps the
  /// number of in-flight jobs per key and runs the jobs of one key in FIFO
  /// order.
  std::string endpoint_key;
  /// Time allowed for the TCP (and TLS) connect. Default: 5 s.
  std::chrono::milliseconds connect_timeout{5000};
  /// Time allowed for the whole exchange, connect included. Default: 15 s.
  std::chrono::milliseconds total_timeout{15000};
};

/// The result of one `delivery_job`.
struct delivery_outcome {
  /// The `job_id` of the job.
  uint64_t job_id = 0;
  /// The HTTP status of the answer; 0 when no HTTP answer arrived.
  int status = 0;
  /// Wall-clock time from handing the request to libcurl until the exchange
  /// ended (time spent waiting behind concurrency caps is not included);
  /// 0 for jobs that never started.
  std::chrono::milliseconds latency{0};
  /// Empty when the exchange completed (whatever the status), else a stable
  /// code: `timeout`, `connect_failed`, `blocked_address`, `dns`, `tls`,
  /// `connection_error`, `invalid_request`, `overloaded`, `shutdown` or
  /// `transfer_failed`.
  std::string error;
  /// At most the first 1 KiB of the response body.
  std::string response_excerpt;
  /// The raw `Retry-After` header of the answer, if it had one.
  std::optional<std::string> retry_after;

  /// Returns whether the endpoint answered with a 2xx status and the
  /// exchange completed without error.
  [[nodiscard]] bool success() const noexcept {
    return status >= 200 && status < 300 && error.empty();
  }
};

} // namespace wi
