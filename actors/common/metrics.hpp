#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "webhook_ingress/records.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// The outcomes of a forwarded request (label `outcome` of
/// `webhook_ingress_forwarded_requests_total`): `answered` (the owner's
/// answer, whatever its status), `timeout` (no answer in time), `unreachable`
/// (no connection to the owner), `peer_down` (the connection went down while
/// waiting), `no_owner` (the placement names a node that is not a member),
/// and `not_owner` (this node received a forwarded request for a tenant it
/// does not own).
inline constexpr std::string_view forward_outcomes[] = {
  "answered", "timeout", "unreachable", "peer_down", "no_owner", "not_owner"};

/// The node's Prometheus metrics (prometheus-cpp core; `GET /metrics`
/// serves `serialize()`). One instance per process, like the default
/// registry of Prometheus clients: every component reports to
/// `node_metrics()` without it being threaded through every constructor.
/// Every member is thread-safe and cheap (atomics, and a short lock in
/// prometheus-cpp when a label set is seen for the first time).
///
/// Gauges of state (endpoints by status, pending deliveries) are exact:
/// whoever holds a decoded tenant state counts it (`count_tenant` with +1
/// when it takes the state, -1 when it drops it), and tenant actors report
/// each applied record (`on_applied`).
class metrics {
 public:
  metrics();
  ~metrics();

  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  /// The text exposition format 0.0.4 of every metric; `in_flight` and
  /// `queued` are the delivery engine's gauges at the time of the scrape.
  [[nodiscard]] std::string serialize(size_t in_flight, size_t queued);

  /// One answered HTTP request: method, route template (never a raw path),
  /// status and latency.
  void on_request(std::string_view method, std::string_view route, int status,
                  double seconds);

  /// Cluster mode: one forwarded request ended with `outcome` (one of
  /// `forward_outcomes`; others are ignored) after `seconds`.
  void on_forward(std::string_view outcome, double seconds);

  /// Open HTTP connections (set, not counted).
  void set_http_connections(uint64_t n);

  /// `n` connections closed at once after accept; `reason` is "limit" (over
  /// the connection cap) or "descriptors" (the process ran out of them).
  void on_connections_refused(std::string_view reason, uint64_t n);

  /// Adds `delta` (negative: removes) to the bytes of the body memory
  /// budget held by request bodies being received.
  void add_receiving_body_bytes(int64_t delta);

  /// One synced WAL batch of `records` records that took `seconds`.
  void on_wal_batch(size_t records, double seconds);

  /// Tenants registered, by state (from the registry; set, not counted).
  void set_tenants(uint64_t active, uint64_t inactive);

  /// Adds (`sign` = +1) or removes (-1) the endpoints and pending
  /// deliveries of a tenant state to or from the gauges.
  void count_tenant(const tenant_state& st, int sign);

  /// A tenant actor applied `rec`: `before` is the status of the record's
  /// endpoint before (nullopt if it had none), `pending_delta` the change of
  /// the tenant's pending deliveries. Updates the endpoint and pending
  /// gauges and the delivery, attempt and breaker counters.
  void on_applied(const record& rec, const tenant_state& after,
                  std::optional<endpoint_status> before, int64_t pending_delta);

  /// The node's delivery figures for the admin dashboard (issue 18).
  struct delivery_figures {
    /// Attempts since the process started, by outcome (2xx or not).
    uint64_t attempts_success = 0;
    uint64_t attempts_failure = 0;
    /// Deliveries neither delivered nor given up.
    uint64_t pending = 0;
    /// Endpoints by status.
    uint64_t endpoints_active = 0;
    uint64_t endpoints_disabled = 0;
    uint64_t endpoints_inactive = 0;
  };

  /// Reads the counters and gauges behind `delivery_figures`.
  [[nodiscard]] delivery_figures figures() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The process's metrics.
[[nodiscard]] metrics& node_metrics();

/// Returns the endpoint a record changes the status of (endpoint created,
/// status changed, breaker changed, deleted), or nullopt.
[[nodiscard]] std::optional<endpoint_id> status_endpoint_of(const record& rec);

} // namespace wi
