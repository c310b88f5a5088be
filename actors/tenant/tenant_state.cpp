#include "actors/tenant/tenant_state.hpp"

#include <algorithm>
#include <string>
#include <type_traits>

#include "actors/tenant/latency_histogram.hpp"
#include "actors/tenant/tenant_limits.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

caf::error corrupt(std::string text) {
  return make_error(errc::corrupt_data, "wal", std::move(text));
}

/// Sets the status of `ep`, keeping `st.subscribers` right (an `inactive`
/// endpoint is not listed).
void set_status(tenant_state& st, endpoint& ep, endpoint_status status) {
  auto before = endpoint_index::listed(ep);
  auto after = status != endpoint_status::inactive;
  if (before && !after)
    st.subscribers.remove(ep);
  ep.status = status;
  if (!before && after)
    st.subscribers.add(ep);
}

/// Whether `id` names an endpoint that existed and was deleted: ids are
/// never reused, so a record about it that was written after its
/// `endpoint_deleted` (it raced with the delete) changes nothing.
bool was_deleted(const tenant_state& st, endpoint_id id) {
  return id != 0 && id <= st.last_id && st.endpoints.count(id) == 0;
}

template <class Endpoint>
caf::error apply_created(tenant_state& st, Endpoint&& ep) {
  if (ep.id <= st.last_id)
    return corrupt("endpoint " + std::to_string(ep.id) + " does not follow " +
                   std::to_string(st.last_id));
  st.last_id = ep.id;
  auto id = ep.id;
  auto i = st.endpoints.emplace_hint(st.endpoints.end(), id,
                                     std::forward<Endpoint>(ep));
  st.subscribers.add(i->second);
  return {};
}

caf::error apply_status(tenant_state& st, const endpoint_status_changed& rec) {
  if (was_deleted(st, rec.id))
    return {};
  auto i = st.endpoints.find(rec.id);
  if (i == st.endpoints.end())
    return corrupt("status change of unknown endpoint " +
                   std::to_string(rec.id));
  set_status(st, i->second, rec.status);
  i->second.last_modified = rec.at;
  // A manual transition resets the breaker: `enable` starts afresh,
  // `disable` records the tenant's own choice.
  auto& b = st.activity[rec.id].breaker;
  b = breaker_state{};
  if (rec.status != endpoint_status::active) {
    b.reason = "manual";
    b.disabled_at = rec.at * 1000;
  }
  return {};
}

caf::error apply_accepted(tenant_state& st, const event_accepted& rec) {
  if (st.events.count(rec.event_id) > 0)
    return corrupt("event " + rec.event_id + " accepted twice");
  event_state ev{rec.event_id, rec.event_type,   rec.idempotency_key, rec.at,
                 {},           rec.payload_bytes};
  ev.ordering_key = rec.ordering_key; // FIFO endpoints (issue 17)
  ev.seq = ++st.last_event_seq;
  ev.deliveries.reserve(rec.endpoints.size());
  for (auto id : rec.endpoints) {
    if (was_deleted(st, id))
      continue; // deleted while the event was on its way to the WAL
    if (st.endpoints.count(id) == 0)
      return corrupt("event " + rec.event_id + " for unknown endpoint " +
                     std::to_string(id));
    ev.deliveries.push_back(
      delivery_state{id, delivery_status::pending, 0, rec.at, {}});
  }
  for (const auto& d : ev.deliveries)
    ++st.activity[d.endpoint].pending;
  st.pending += ev.deliveries.size();
  if (!rec.idempotency_key.empty())
    st.idempotency[rec.idempotency_key] = rec.event_id;
  st.stored_bytes += rec.payload_bytes; // per-tenant limits (issue 13)
  st.events.emplace(rec.event_id, std::move(ev));
  return {};
}

delivery_state* find_delivery(tenant_state& st, const std::string& event_id,
                              endpoint_id id) {
  auto i = st.events.find(event_id);
  if (i == st.events.end())
    return nullptr;
  for (auto& d : i->second.deliveries)
    if (d.endpoint == id)
      return &d;
  return nullptr;
}

caf::error apply_attempt(tenant_state& st, const attempt_recorded& rec) {
  auto* d = find_delivery(st, rec.attempt.event_id, rec.endpoint);
  if (d == nullptr)
    return corrupt("attempt for no delivery of event " + rec.attempt.event_id +
                   " to endpoint " + std::to_string(rec.endpoint));
  // An attempt that ended after its endpoint was deleted: its statistics
  // went with the endpoint, and the delivery stays cancelled.
  if (was_deleted(st, rec.endpoint))
    return {};
  // An attempt that was under way when its delivery ended (expired, or
  // ended by another attempt) still counts in the statistics, but the
  // delivery keeps its final state.
  auto live = d->status == delivery_status::pending;
  if (live) {
    d->attempts = rec.attempt.attempt;
    d->status = rec.outcome;
    // Pending: when the next attempt is due; ended: when it ended (the end
    // of this attempt), which `recover` compares with its `since`.
    d->next_attempt_at =
      rec.outcome == delivery_status::pending
        ? rec.next_attempt_at
        : rec.attempt.at + static_cast<unix_millis>(rec.attempt.latency_ms);
    d->reason = rec.reason;
  }
  auto& a = st.activity[rec.endpoint];
  ++a.total;
  a.latency_sum_ms += rec.attempt.latency_ms;
  auto ok = rec.attempt.error.empty() && rec.attempt.status_code >= 200 &&
            rec.attempt.status_code < 300;
  if (ok) {
    ++a.successful;
    a.last_success_at = rec.attempt.at;
  } else {
    ++a.failed;
    a.last_failure_at = rec.attempt.at;
  }
  a.breaker.consecutive_failures = ok ? 0 : a.breaker.consecutive_failures + 1;
  latency_histogram::record(a.latency_buckets, rec.attempt.latency_ms);
  a.recent.push_back(rec.attempt);
  if (a.recent.size() > max_recent_attempts)
    a.recent.pop_front();
  if (live && rec.outcome != delivery_status::pending) {
    --a.pending;
    --st.pending;
  }
  return {};
}

caf::error apply_rescheduled(tenant_state& st,
                             const delivery_rescheduled& rec) {
  if (was_deleted(st, rec.endpoint))
    return {};
  auto i = st.events.find(rec.event_id);
  if (i == st.events.end() || st.endpoints.count(rec.endpoint) == 0)
    return corrupt("resend of unknown event " + rec.event_id + " or endpoint " +
                   std::to_string(rec.endpoint));
  auto* d = find_delivery(st, rec.event_id, rec.endpoint);
  if (d == nullptr) {
    d = &i->second.deliveries.emplace_back();
  } else if (d->status == delivery_status::pending) {
    return {}; // a resend that raced with another: nothing to do
  }
  *d = delivery_state{rec.endpoint, delivery_status::pending, 0, rec.at, {}};
  ++st.activity[rec.endpoint].pending;
  ++st.pending;
  return {};
}

caf::error apply_breaker(tenant_state& st, const breaker_changed& rec) {
  if (was_deleted(st, rec.endpoint))
    return {};
  auto i = st.endpoints.find(rec.endpoint);
  if (i == st.endpoints.end() || rec.status == endpoint_status::inactive)
    return corrupt("breaker change of unknown endpoint " +
                   std::to_string(rec.endpoint));
  auto& b = st.activity[rec.endpoint].breaker;
  if (rec.status == endpoint_status::active) {
    b = breaker_state{};
  } else {
    if (i->second.status != endpoint_status::disabled)
      b.disabled_at = rec.at;
    b.reason = rec.reason;
    b.next_probe_at = rec.next_probe_at;
    b.cooldown_ms = rec.cooldown_ms;
  }
  set_status(st, i->second, rec.status);
  i->second.last_modified = rec.at / 1000;
  return {};
}

caf::error apply_expired(tenant_state& st, const delivery_expired& rec) {
  if (was_deleted(st, rec.endpoint))
    return {};
  auto* d = find_delivery(st, rec.event_id, rec.endpoint);
  if (d == nullptr)
    return corrupt("expiry of no delivery of event " + rec.event_id);
  if (d->status != delivery_status::pending)
    return {}; // ended meanwhile: the expiry changes nothing
  d->status = delivery_status::failed;
  d->reason = "expired";
  d->next_attempt_at = rec.at; // when it failed for good
  --st.activity[rec.endpoint].pending;
  --st.pending;
  return {};
}

caf::error apply_pruned(tenant_state& st, const history_pruned& rec) {
  for (const auto& id : rec.event_ids) {
    auto i = st.events.find(id);
    if (i == st.events.end())
      continue; // listed twice, or gone already: nothing to remove
    const auto& ev = i->second;
    auto pending = std::any_of(ev.deliveries.begin(), ev.deliveries.end(),
                               [](const delivery_state& d) {
                                 return d.status == delivery_status::pending;
                               });
    if (pending)
      continue; // pending again (resent) since the actor chose it: keep it
    if (!ev.idempotency_key.empty()) {
      auto k = st.idempotency.find(ev.idempotency_key);
      if (k != st.idempotency.end() && k->second == id)
        st.idempotency.erase(k);
    }
    // Its payload is deleted with this record: release its bytes.
    st.stored_bytes -= std::min(st.stored_bytes, ev.payload_bytes);
    st.events.erase(i);
  }
  return {};
}

caf::error apply_limits(tenant_state& st, const tenant_limits_set& rec) {
  st.limits = merge(std::move(st.limits), rec.change);
  return {};
}

caf::error apply_updated(tenant_state& st, const endpoint_updated& rec) {
  if (was_deleted(st, rec.id))
    return {};
  auto i = st.endpoints.find(rec.id);
  if (i == st.endpoints.end())
    return corrupt("update of unknown endpoint " + std::to_string(rec.id));
  auto& ep = i->second;
  const auto& c = rec.change;
  if (c.url)
    ep.url = *c.url;
  if (c.event_types) {
    st.subscribers.remove(ep);
    ep.event_types = *c.event_types;
    st.subscribers.add(ep);
  }
  if (c.headers)
    ep.headers = *c.headers;
  if (c.description)
    ep.description = *c.description;
  if (c.rate_limit)
    ep.rate_limit = *c.rate_limit;
  if (c.ordering)
    ep.ordering = *c.ordering;
  ep.last_modified = rec.at;
  return {};
}

caf::error apply_deleted(tenant_state& st, const endpoint_deleted& rec) {
  if (was_deleted(st, rec.id))
    return {}; // deleted twice (two requests raced): nothing left to do
  auto gone = st.endpoints.find(rec.id);
  if (gone == st.endpoints.end())
    return corrupt("deletion of unknown endpoint " + std::to_string(rec.id));
  st.subscribers.remove(gone->second);
  st.endpoints.erase(gone);
  // Its pending deliveries end; every delivery stays listed on its event.
  for (auto& [id, ev] : st.events)
    for (auto& d : ev.deliveries)
      if (d.endpoint == rec.id && d.status == delivery_status::pending) {
        d.status = delivery_status::failed;
        d.reason = "cancelled";
        --st.pending;
      }
  st.activity.erase(rec.id); // statistics, attempt log and breaker
  return {};
}

caf::error apply_rotated(tenant_state& st, const endpoint_secret_rotated& rec) {
  if (was_deleted(st, rec.id))
    return {};
  auto i = st.endpoints.find(rec.id);
  if (i == st.endpoints.end())
    return corrupt("secret rotation of unknown endpoint " +
                   std::to_string(rec.id));
  auto& ep = i->second;
  // Never more than two secrets: the one replaced now is the only previous.
  ep.previous_secret = std::move(ep.secret);
  ep.previous_expires_at = rec.previous_expires_at;
  ep.secret = rec.secret;
  ep.last_modified = rec.at / 1000;
  return {};
}

/// A planned move: the state arrives whole and replaces whatever the
/// tenant held (see `tenant_state_imported`).
caf::error apply_imported(tenant_state& st, const tenant_state_imported& rec) {
  auto decoded = persistence::decode_tenant_snapshot(rec.snapshot);
  if (!decoded)
    return corrupt("imported state of tenant " + rec.tenant_id + ": " +
                   text_of(decoded.error()));
  if (decoded->tenant_id != rec.tenant_id)
    return corrupt("imported state of tenant " + rec.tenant_id +
                   " holds tenant " + decoded->tenant_id);
  st = std::move(*decoded);
  return {};
}

bool in_range(const endpoint& ep, const list_query& q) {
  auto created_ms = ep.created_at * 1000;
  return (!q.created_from || created_ms >= *q.created_from) &&
         (!q.created_to || created_ms <= *q.created_to);
}

} // namespace

caf::error apply(tenant_state& st, const record& rec) {
  if (tenant_of(rec) != st.tenant_id)
    return corrupt("record of tenant " + tenant_of(rec) + " applied to " +
                   st.tenant_id);
  return std::visit(
    [&st](const auto& x) -> caf::error {
      using type = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<type, endpoint_created>)
        return apply_created(st, x.ep);
      else if constexpr (std::is_same_v<type, endpoint_status_changed>)
        return apply_status(st, x);
      else if constexpr (std::is_same_v<type, event_accepted>)
        return apply_accepted(st, x);
      else if constexpr (std::is_same_v<type, attempt_recorded>)
        return apply_attempt(st, x);
      else if constexpr (std::is_same_v<type, delivery_rescheduled>)
        return apply_rescheduled(st, x);
      else if constexpr (std::is_same_v<type, breaker_changed>)
        return apply_breaker(st, x);
      else if constexpr (std::is_same_v<type, delivery_expired>)
        return apply_expired(st, x);
      else if constexpr (std::is_same_v<type, history_pruned>)
        return apply_pruned(st, x);
      else if constexpr (std::is_same_v<type, tenant_limits_set>)
        return apply_limits(st, x);
      else if constexpr (std::is_same_v<type, endpoint_updated>)
        return apply_updated(st, x);
      else if constexpr (std::is_same_v<type, endpoint_deleted>)
        return apply_deleted(st, x);
      else if constexpr (std::is_same_v<type, endpoint_secret_rotated>)
        return apply_rotated(st, x);
      else if constexpr (std::is_same_v<type, tenant_state_imported>)
        return apply_imported(st, x);
      else
        return corrupt("not a tenant-level record");
    },
    rec);
}

caf::error apply(tenant_state& st, record&& rec) {
  if (auto* created = std::get_if<endpoint_created>(&rec);
      created != nullptr && created->tenant_id == st.tenant_id)
    return apply_created(st, std::move(created->ep));
  return apply(st, static_cast<const record&>(rec));
}

endpoint_page list_endpoints(const tenant_state& st, const list_query& q) {
  endpoint_page result;
  result.page = q.page;
  result.page_size = q.page_size;
  // Widen before multiplying: page * page_size may exceed 32 bits.
  auto first = (static_cast<uint64_t>(q.page) - 1) * q.page_size;
  auto last = first + q.page_size;
  for (const auto& [id, ep] : st.endpoints) {
    if (!in_range(ep, q))
      continue;
    if (result.total_items >= first && result.total_items < last)
      result.items.push_back(ep);
    ++result.total_items;
  }
  return result;
}

endpoint_stats statistics_of(const tenant_state& st, const endpoint& ep) {
  endpoint_stats result;
  result.ep = ep;
  auto i = st.activity.find(ep.id);
  if (i == st.activity.end())
    return result;
  const auto& a = i->second;
  result.breaker = a.breaker;
  result.total_attempts = a.total;
  result.successful_attempts = a.successful;
  result.failed_attempts = a.failed;
  result.pending_events = a.pending;
  if (a.total > 0) {
    auto total = static_cast<double>(a.total);
    result.success_rate = 100.0 * static_cast<double>(a.successful) / total;
    result.average_response_time_ms =
      static_cast<double>(a.latency_sum_ms) / total;
    result.p50_response_time_ms =
      latency_histogram::percentile(a.latency_buckets, 0.50);
    result.p95_response_time_ms =
      latency_histogram::percentile(a.latency_buckets, 0.95);
  }
  if (a.last_success_at != 0)
    result.last_success_at = a.last_success_at;
  if (a.last_failure_at != 0)
    result.last_failure_at = a.last_failure_at;
  return result;
}

attempt_page attempts_of(const tenant_state& st, endpoint_id id, uint32_t page,
                         uint32_t page_size) {
  attempt_page result;
  result.page = page;
  result.page_size = page_size;
  auto i = st.activity.find(id);
  if (i == st.activity.end())
    return result;
  const auto& recent = i->second.recent;
  result.total_items = recent.size();
  auto first = (static_cast<uint64_t>(page) - 1) * page_size;
  for (auto k = first; k < first + page_size && k < recent.size(); ++k)
    result.items.push_back(recent[recent.size() - 1 - k]); // newest first
  return result;
}

endpoint_view view_of(const tenant_state& st, const endpoint& ep) {
  endpoint_view result{ep, {}};
  if (auto i = st.activity.find(ep.id); i != st.activity.end())
    result.breaker = i->second.breaker;
  return result;
}

bool matches(const endpoint& ep, std::string_view event_type) {
  if (ep.status == endpoint_status::inactive)
    return false;
  for (const auto& t : ep.event_types)
    if (t == "*" || t == event_type)
      return true;
  return false;
}

std::vector<endpoint_id> matching_endpoints(const tenant_state& st,
                                            std::string_view event_type) {
  return st.subscribers.matching(event_type);
}

} // namespace wi
