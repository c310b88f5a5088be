#include "actors/common/metrics.hpp"

#include <array>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace wi {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

/// Latency buckets in seconds: 0.5 ms to 10 s.
Histogram::BucketBoundaries latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
}

size_t index_of(endpoint_status x) {
  return static_cast<size_t>(x);
}

} // namespace

struct metrics::impl {
  prometheus::Registry registry;

  prometheus::Family<Counter>& requests =
    BuildCounter()
      .Name("webhook_ingress_http_requests_total")
      .Help("HTTP requests answered, by method, route template and status")
      .Register(registry);
  prometheus::Family<Histogram>& request_seconds =
    BuildHistogram()
      .Name("webhook_ingress_http_request_duration_seconds")
      .Help("Time from receiving a request to writing its answer, by route "
            "template")
      .Register(registry);
  Histogram& wal_batch_records =
    BuildHistogram()
      .Name("webhook_ingress_wal_batch_records")
      .Help("Records per synced WAL batch (group commit)")
      .Register(registry)
      .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256,
                                           512, 1024});
  Histogram& wal_sync_seconds = BuildHistogram()
                                  .Name("webhook_ingress_wal_sync_seconds")
                                  .Help("Time to write and sync one WAL batch")
                                  .Register(registry)
                                  .Add({}, latency_buckets());
  prometheus::Family<Gauge>& tenants =
    BuildGauge()
      .Name("webhook_ingress_tenants")
      .Help("Registered tenants by state (purged ones are not counted)")
      .Register(registry);
  Gauge& tenants_active = tenants.Add({{"state", "active"}});
  Gauge& tenants_inactive = tenants.Add({{"state", "inactive"}});
  prometheus::Family<Gauge>& endpoints_family =
    BuildGauge()
      .Name("webhook_ingress_endpoints")
      .Help("Endpoints by status")
      .Register(registry);
  std::array<Gauge*, 3> endpoints{
    &endpoints_family.Add({{"status", "active"}}),
    &endpoints_family.Add({{"status", "disabled"}}),
    &endpoints_family.Add({{"status", "inactive"}})};
  prometheus::Family<Gauge>& deliveries_family =
    BuildGauge()
      .Name("webhook_ingress_deliveries")
      .Help("Deliveries not yet delivered nor given up (pending), attempts "
            "under way (in_flight) and attempts waiting for a free slot in "
            "the delivery engine (queued)")
      .Register(registry);
  Gauge& pending = deliveries_family.Add({{"state", "pending"}});
  Gauge& in_flight = deliveries_family.Add({{"state", "in_flight"}});
  Gauge& queued = deliveries_family.Add({{"state", "queued"}});
  prometheus::Family<Counter>& attempts_family =
    BuildCounter()
      .Name("webhook_ingress_delivery_attempts_total")
      .Help("Delivery attempts by outcome (success: a 2xx answer)")
      .Register(registry);
  Counter& attempts_success = attempts_family.Add({{"outcome", "success"}});
  Counter& attempts_failure = attempts_family.Add({{"outcome", "failure"}});
  prometheus::Family<Counter>& ended_family =
    BuildCounter()
      .Name("webhook_ingress_deliveries_total")
      .Help("Deliveries that ended, by outcome: delivered, exhausted (every "
            "attempt failed) or expired (older than the retention)")
      .Register(registry);
  Counter& delivered = ended_family.Add({{"outcome", "delivered"}});
  Counter& exhausted = ended_family.Add({{"outcome", "exhausted"}});
  Counter& expired = ended_family.Add({{"outcome", "expired"}});
  Histogram& attempt_seconds =
    BuildHistogram()
      .Name("webhook_ingress_delivery_duration_seconds")
      .Help("Wall time of delivery attempts")
      .Register(registry)
      .Add({}, latency_buckets());
  prometheus::Family<Counter>& breaker_family =
    BuildCounter()
      .Name("webhook_ingress_breaker_transitions_total")
      .Help("Circuit-breaker transitions, by the status entered")
      .Register(registry);
  Counter& breaker_disabled = breaker_family.Add({{"to", "disabled"}});
  Counter& breaker_active = breaker_family.Add({{"to", "active"}});
  prometheus::Family<Counter>& forwards_family =
    BuildCounter()
      .Name("webhook_ingress_forwarded_requests_total")
      .Help("Cluster mode: requests forwarded to the tenant's owner node, by "
            "outcome (see docs/operations.md)")
      .Register(registry);
  /// One series per outcome, made up front: look-ups never take a lock.
  std::vector<std::pair<std::string_view, Counter*>> forwards = [this] {
    std::vector<std::pair<std::string_view, Counter*>> result;
    for (std::string_view outcome : forward_outcomes)
      result.emplace_back(
        outcome, &forwards_family.Add({{"outcome", std::string{outcome}}}));
    return result;
  }();
  Histogram& forward_seconds =
    BuildHistogram()
      .Name("webhook_ingress_forward_duration_seconds")
      .Help("Cluster mode: time from forwarding a request to the owner's "
            "answer (answered forwards only)")
      .Register(registry)
      .Add({}, latency_buckets());
  Gauge& http_connections = BuildGauge()
                              .Name("webhook_ingress_http_connections")
                              .Help("Open HTTP connections")
                              .Register(registry)
                              .Add({});
  prometheus::Family<Counter>& refused_family =
    BuildCounter()
      .Name("webhook_ingress_http_connections_refused_total")
      .Help("Connections closed at once after accept: reason \"limit\" "
            "(over --max-connections) or \"descriptors\" (the process ran "
            "out of file descriptors)")
      .Register(registry);
  Counter& refused_limit = refused_family.Add({{"reason", "limit"}});
  Counter& refused_descriptors =
    refused_family.Add({{"reason", "descriptors"}});
  Gauge& receiving_body_bytes =
    BuildGauge()
      .Name("webhook_ingress_http_receiving_body_bytes")
      .Help("Bytes of the body memory budget held by request bodies being "
            "received (--max-body-memory-bytes)")
      .Register(registry)
      .Add({});
};

metrics::metrics() : impl_(std::make_unique<impl>()) {
  // nop
}

metrics::~metrics() = default;

std::string metrics::serialize(size_t in_flight, size_t queued) {
  impl_->in_flight.Set(static_cast<double>(in_flight));
  impl_->queued.Set(static_cast<double>(queued));
  prometheus::TextSerializer serializer;
  return serializer.Serialize(impl_->registry.Collect());
}

void metrics::on_request(std::string_view method, std::string_view route,
                         int status, double seconds) {
  // The hot path of every request: each I/O thread keeps the series it has
  // seen, so a request costs one look-up in a thread-local map (its key
  // built in a reused buffer) instead of building label maps and taking
  // prometheus-cpp's family locks. Series live as long as the registry.
  struct series {
    Counter* requests;
    Histogram* seconds;
  };
  thread_local std::unordered_map<std::string, series> cache;
  thread_local std::string key;
  key.assign(method);
  key += ' ';
  key.append(route);
  key += ' ';
  key += std::to_string(status);
  auto i = cache.find(key);
  if (i == cache.end()) {
    std::string route_label{route};
    auto& counter = impl_->requests.Add({{"method", std::string{method}},
                                         {"route", route_label},
                                         {"status", std::to_string(status)}});
    auto& histogram = impl_->request_seconds.Add(
      {{"route", std::move(route_label)}}, latency_buckets());
    i = cache.emplace(key, series{&counter, &histogram}).first;
  }
  i->second.requests->Increment();
  i->second.seconds->Observe(seconds);
}

void metrics::on_forward(std::string_view outcome, double seconds) {
  for (auto& [name, counter] : impl_->forwards)
    if (name == outcome)
      counter->Increment();
  if (outcome == "answered")
    impl_->forward_seconds.Observe(seconds);
}

void metrics::set_http_connections(uint64_t n) {
  impl_->http_connections.Set(static_cast<double>(n));
}

void metrics::on_connections_refused(std::string_view reason, uint64_t n) {
  auto& counter =
    reason == "limit" ? impl_->refused_limit : impl_->refused_descriptors;
  counter.Increment(static_cast<double>(n));
}

void metrics::add_receiving_body_bytes(int64_t delta) {
  impl_->receiving_body_bytes.Increment(static_cast<double>(delta));
}

void metrics::on_wal_batch(size_t records, double seconds) {
  impl_->wal_batch_records.Observe(static_cast<double>(records));
  impl_->wal_sync_seconds.Observe(seconds);
}

metrics::delivery_figures metrics::figures() const {
  auto count = [](double x) { return x > 0 ? static_cast<uint64_t>(x) : 0u; };
  const auto& m = *impl_;
  return {count(m.attempts_success.Value()), count(m.attempts_failure.Value()),
          count(m.pending.Value()),          count(m.endpoints[0]->Value()),
          count(m.endpoints[1]->Value()),    count(m.endpoints[2]->Value())};
}

void metrics::set_tenants(uint64_t active, uint64_t inactive) {
  impl_->tenants_active.Set(static_cast<double>(active));
  impl_->tenants_inactive.Set(static_cast<double>(inactive));
}

void metrics::count_tenant(const tenant_state& st, int sign) {
  std::array<int64_t, 3> counts{0, 0, 0};
  for (const auto& [id, ep] : st.endpoints)
    ++counts[index_of(ep.status)];
  for (size_t i = 0; i < counts.size(); ++i)
    if (counts[i] != 0)
      impl_->endpoints[i]->Increment(static_cast<double>(sign * counts[i]));
  impl_->pending.Increment(static_cast<double>(sign) *
                           static_cast<double>(st.pending));
}

void metrics::on_applied(const record& rec, const tenant_state& after,
                         std::optional<endpoint_status> before,
                         int64_t pending_delta) {
  auto& m = *impl_;
  if (auto id = status_endpoint_of(rec)) {
    // No status after: the endpoint was deleted (issue 17).
    std::optional<endpoint_status> now;
    if (auto i = after.endpoints.find(*id); i != after.endpoints.end())
      now = i->second.status;
    if (before != now) {
      if (before)
        m.endpoints[index_of(*before)]->Decrement();
      if (now)
        m.endpoints[index_of(*now)]->Increment();
    }
  }
  if (pending_delta != 0)
    m.pending.Increment(static_cast<double>(pending_delta));
  if (const auto* a = std::get_if<attempt_recorded>(&rec)) {
    m.attempt_seconds.Observe(a->attempt.latency_ms / 1000.0);
    if (a->outcome == delivery_status::delivered) {
      m.attempts_success.Increment();
      m.delivered.Increment();
    } else {
      m.attempts_failure.Increment();
      if (a->outcome == delivery_status::failed)
        m.exhausted.Increment();
    }
  } else if (std::holds_alternative<delivery_expired>(rec)) {
    m.expired.Increment();
  } else if (const auto* b = std::get_if<breaker_changed>(&rec)) {
    (b->status == endpoint_status::active ? m.breaker_active
                                          : m.breaker_disabled)
      .Increment();
  }
}

metrics& node_metrics() {
  static metrics instance;
  return instance;
}

std::optional<endpoint_id> status_endpoint_of(const record& rec) {
  if (const auto* x = std::get_if<endpoint_created>(&rec))
    return x->ep.id;
  if (const auto* x = std::get_if<endpoint_status_changed>(&rec))
    return x->id;
  if (const auto* x = std::get_if<breaker_changed>(&rec))
    return x->endpoint;
  if (const auto* x = std::get_if<endpoint_deleted>(&rec))
    return x->id;
  return std::nullopt;
}

} // namespace wi
