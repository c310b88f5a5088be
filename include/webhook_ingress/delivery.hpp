#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wi {

/// Names of the headers the service sets on every delivery (see
/// `reserved_header_names`).
namespace delivery_header {
inline constexpr std::string_view content_type = "Content-Type";
inline constexpr std::string_view user_agent = "User-Agent";
inline constexpr std::string_view webhook_id = "webhook-id";
inline constexpr std::string_view webhook_timestamp = "webhook-timestamp";
inline constexpr std::string_view webhook_signature = "webhook-signature";
} // namespace delivery_header

/// The one list of header names (compared case-insensitively) that an
/// endpoint's custom headers must not use: every header the service sets on
/// a delivery (the tenant actor builds them from `delivery_header`, which
/// all appear here), the `svix-*` aliases that Svix libraries read in
/// preference to `webhook-*` (a tenant could otherwise make its own
/// deliveries unverifiable), and the framing headers HTTP owns.
inline constexpr std::array<std::string_view, 12> reserved_header_names{
  delivery_header::content_type,
  delivery_header::user_agent,
  delivery_header::webhook_id,
  delivery_header::webhook_timestamp,
  delivery_header::webhook_signature,
  "svix-id",
  "svix-timestamp",
  "svix-signature",
  "Content-Length",
  "Host",
  "Transfer-Encoding",
  "Connection",
};

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
