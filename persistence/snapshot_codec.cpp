#include "persistence/snapshot_codec.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "persistence/binary_format.hpp"
#include "webhook_ingress/error.hpp"

// Snapshot format (version 1):
//
//   tenant    := version:u8 (= 1) kind:u8 (= 8) str tenant_id, u64 last_id,
//                count:u32 endpoint[count]      (ascending identifiers)
//                count:u32 event[count], count:u32 (str key, str event)[count],
//                count:u32 activity[count], u64 pending,
//                (u8 set (0 or 1), u64 value)[4] (limit overrides in
//                `limit_kind` order), u64 last_event_seq
//   endpoint  := u64 id, str url, str secret, vec<str> event_types, headers,
//                status, i64 created_at, i64 last_modified, str description,
//                str previous_secret, i64 previous_expires_at,
//                u32 rate_limit (0..10 000), u8 ordering (0..1)
//   event     := str id, str type, str idempotency_key, i64 created_at,
//                u64 payload_bytes, str ordering_key, u64 seq (1 ..
//                last_event_seq, distinct),
//                count:u32 (u64 endpoint, u8 status, u32 attempts,
//                           i64 next_attempt_at, str reason)[count]
//   activity  := u64 endpoint, u64 total, u64 successful, u64 failed,
//                u64 latency_sum_ms, i64 last_success_at, i64 last_failure_at,
//                u64 pending, count:u32 u32[count] (latency buckets),
//                count:u32 attempt[count] (as in the WAL record codec),
//                u32 consecutive_failures, str reason, i64 disabled_at,
//                i64 next_probe_at, u64 cooldown_ms
//   directory := version:u8 (= 1) kind:u8 (= 13) count:u32
//                (tenant, u8 incoming (0 or 1))[count]
//   tenant    := str id, str name, str token_hash, i64 created_at,
//                u8 active (0 or 1), str previous_token_hash,
//                i64 previous_valid_until, i64 deactivated_at,
//                u8 purged (0 or 1), u64 epoch
//   registry entry (`encode_entry`, a move's `tenant_export::registry`) :=
//                version:u8 (= 1) kind:u8 (= 6) tenant (never `incoming`:
//                the importer sets that)
//   Kind 5 (read, no longer written) is the directory before durable
//   activation of imports: no `incoming` (0: every tenant is served).
//   Kind 3 (read, no longer written) is the directory before planned
//   moves: each tenant ends after `purged` (epoch 0).
//   Kind 2 (read, no longer written) is the directory before token
//   rotation and purges: each tenant ends after `active`.
//   Kind 7 (read, no longer written) is the tenant before rate limits and
//   FIFO ordering (issue 17, items 4 and 5): no rate_limit or ordering in
//   endpoints (0, unordered), no ordering_key or seq in events, no
//   last_event_seq. Decoding numbers its events 1..n in the order of
//   (created_at, id), the best acceptance order it has, and sets
//   last_event_seq to n.
//   Kind 4 (read, no longer written) is the tenant before issue 17: no
//   description or previous secret in endpoints (empty, 0). The tenant
//   with them is kind 7 (5 and 6 were taken by the directory and the
//   registry entry of planned moves).
//   Kind 1 (read, no longer written) is the tenant before per-tenant
//   limits: no `payload_bytes` in events (0), no overrides at the end.
//   A tenant's `stored_bytes` is not stored: decoding sums its events'
//   `payload_bytes`.

namespace wi::persistence {

namespace {

using detail::reader;
using detail::writer;

constexpr uint8_t format_version = 1;
constexpr uint8_t kind_tenant_v1 = 1;
constexpr uint8_t kind_tenant_v4 = 4;
constexpr uint8_t kind_tenant_v7 = 7;
constexpr uint8_t kind_tenant = 8;
constexpr uint8_t kind_directory_v1 = 2;
constexpr uint8_t kind_directory_v2 = 3;
constexpr uint8_t kind_directory_v3 = 5;
constexpr uint8_t kind_directory = 13;
constexpr uint8_t kind_entry = 6;

caf::error corrupt(std::string text) {
  return make_error(errc::corrupt_data, "snapshot", std::move(text));
}

bool read_header(reader& r, uint8_t kind) {
  uint8_t version = 0;
  uint8_t actual = 0;
  return r.u8(version) && version == format_version && r.u8(actual) &&
         actual == kind;
}

/// Reads a boolean stored as one byte, 0 or 1.
bool read_flag(reader& r, bool& x) {
  uint8_t byte = 0;
  if (!r.u8(byte) || byte > 1)
    return false;
  x = byte == 1;
  return true;
}

/// Where the tenant decoder puts what it reads: into the state
/// (`keep == true`), or into scratch values that are overwritten by the
/// next element (`keep == false`, a format check that allocates little once
/// the scratch values have grown and skips the duplicate checks).
struct tenant_sink {
  tenant_state& st;
  bool keep;
  /// Kind 1: events without `payload_bytes`, no limit overrides.
  bool v1 = false;
  /// Kind 1 or 4: endpoints without the fields of issue 17.
  bool v4 = false;
  /// Kind 1, 4 or 7: no delivery options, ordering keys or event sequence.
  bool v7 = false;
  endpoint ep{};
  event_state ev{};
  endpoint_activity activity{};
};

bool decode_endpoints(reader& r, tenant_sink& out) {
  auto& st = out.st;
  uint32_t count = 0;
  if (!r.count(count, 8))
    return false;
  endpoint_id previous = 0;
  for (uint32_t i = 0; i < count; ++i) {
    auto& ep = out.ep;
    if (!r.u64(ep.id) || !r.str(ep.url) || !r.str(ep.secret) ||
        !r.strings(ep.event_types) || !r.headers(ep.headers) ||
        !r.status(ep.status) || !r.i64(ep.created_at) ||
        !r.i64(ep.last_modified))
      return false;
    ep.description.clear();
    ep.previous_secret.clear();
    ep.previous_expires_at = 0;
    if (!out.v4 && (!r.str(ep.description) || !r.str(ep.previous_secret) ||
                    !r.i64(ep.previous_expires_at)))
      return false;
    ep.rate_limit = 0;
    ep.ordering = delivery_ordering::unordered;
    uint8_t ordering = 0;
    if (!out.v7 && (!r.u32(ep.rate_limit) || ep.rate_limit > max_rate_limit ||
                    !r.u8(ordering) ||
                    ordering > static_cast<uint8_t>(delivery_ordering::fifo)))
      return false;
    ep.ordering = static_cast<delivery_ordering>(ordering);
    if (ep.id <= previous || ep.id > st.last_id)
      return false;
    previous = ep.id;
    if (out.keep) {
      auto k =
        st.endpoints.emplace_hint(st.endpoints.end(), ep.id, std::move(ep));
      st.subscribers.add(k->second); // derived, not stored
    }
  }
  return true;
}

bool decode_events(reader& r, tenant_sink& out) {
  auto& st = out.st;
  uint32_t count = 0;
  if (!r.count(count, 8))
    return false;
  for (uint32_t i = 0; i < count; ++i) {
    auto& ev = out.ev;
    uint32_t n = 0;
    ev.payload_bytes = 0;
    ev.ordering_key.clear();
    ev.seq = 0;
    if (!r.str(ev.id) || !r.str(ev.type) || !r.str(ev.idempotency_key) ||
        !r.i64(ev.created_at) || (!out.v1 && !r.u64(ev.payload_bytes)) ||
        (!out.v7 && (!r.str(ev.ordering_key) || !r.u64(ev.seq))) ||
        !r.count(n, 8))
      return false;
    ev.deliveries.resize(n);
    for (auto& d : ev.deliveries)
      if (!r.u64(d.endpoint) || !r.delivery(d.status) || !r.u32(d.attempts) ||
          !r.i64(d.next_attempt_at) || !r.str(d.reason))
        return false;
    if (out.keep) {
      auto id = ev.id;
      st.stored_bytes += ev.payload_bytes;
      if (!st.events.emplace(std::move(id), std::move(ev)).second)
        return false;
    }
  }
  if (!r.count(count, 8))
    return false;
  std::string key;
  std::string event;
  for (uint32_t i = 0; i < count; ++i) {
    if (!r.str(key) || !r.str(event))
      return false;
    if (out.keep)
      st.idempotency.emplace(std::move(key), std::move(event));
  }
  return true;
}

bool decode_activity(reader& r, tenant_sink& out) {
  uint32_t count = 0;
  if (!r.count(count, 8))
    return false;
  for (uint32_t i = 0; i < count; ++i) {
    endpoint_id id = 0;
    auto& a = out.activity;
    uint32_t n = 0;
    if (!r.u64(id) || !r.u64(a.total) || !r.u64(a.successful) ||
        !r.u64(a.failed) || !r.u64(a.latency_sum_ms) ||
        !r.i64(a.last_success_at) || !r.i64(a.last_failure_at) ||
        !r.u64(a.pending) || !r.count(n, 4))
      return false;
    a.latency_buckets.resize(n);
    for (auto& b : a.latency_buckets)
      if (!r.u32(b))
        return false;
    if (!r.count(n, 8))
      return false;
    a.recent.clear();
    for (uint32_t j = 0; j < n; ++j)
      if (!r.attempt(a.recent.emplace_back()))
        return false;
    if (!r.u32(a.breaker.consecutive_failures) || !r.str(a.breaker.reason) ||
        !r.i64(a.breaker.disabled_at) || !r.i64(a.breaker.next_probe_at) ||
        !r.u64(a.breaker.cooldown_ms))
      return false;
    if (out.keep)
      out.st.activity.emplace(id, std::exchange(a, endpoint_activity{}));
  }
  return true;
}

bool decode_overrides(reader& r, limit_overrides& x) {
  for (auto& value : x.values) {
    bool set = false;
    uint64_t v = 0;
    if (!read_flag(r, set) || !r.u64(v))
      return false;
    value = set ? std::optional<uint64_t>{v} : std::nullopt;
  }
  return true;
}

/// Kind 7 and older: numbers the events in the order of (created_at, id).
void number_events(tenant_state& st) {
  std::vector<event_state*> order;
  order.reserve(st.events.size());
  for (auto& [id, ev] : st.events)
    order.push_back(&ev);
  std::stable_sort(order.begin(), order.end(),
                   [](const event_state* a, const event_state* b) {
                     return a->created_at < b->created_at;
                   });
  for (auto* ev : order)
    ev->seq = ++st.last_event_seq;
}

/// Kind 8: every event's `seq` is distinct and at most `last_event_seq`.
bool sequence_is_sound(const tenant_state& st) {
  std::vector<uint64_t> seqs;
  seqs.reserve(st.events.size());
  for (const auto& [id, ev] : st.events) {
    if (ev.seq == 0 || ev.seq > st.last_event_seq)
      return false;
    seqs.push_back(ev.seq);
  }
  std::sort(seqs.begin(), seqs.end());
  return std::adjacent_find(seqs.begin(), seqs.end()) == seqs.end();
}

/// Decodes a whole tenant snapshot into `out` (see `tenant_sink`).
caf::error decode_tenant(std::string_view bytes, tenant_sink& out) {
  reader r{bytes};
  auto& st = out.st;
  reader peek{bytes};
  out.v1 = read_header(peek, kind_tenant_v1);
  reader peek4{bytes};
  out.v4 = out.v1 || read_header(peek4, kind_tenant_v4);
  reader peek7{bytes};
  out.v7 = out.v4 || read_header(peek7, kind_tenant_v7);
  auto kind = out.v1   ? kind_tenant_v1
              : out.v4 ? kind_tenant_v4
              : out.v7 ? kind_tenant_v7
                       : kind_tenant;
  if (!read_header(r, kind) || !r.str(st.tenant_id) || !r.u64(st.last_id))
    return corrupt("malformed tenant snapshot header");
  if (!decode_endpoints(r, out))
    return corrupt("truncated or unordered endpoints in tenant snapshot");
  if (!decode_events(r, out) || !decode_activity(r, out) || !r.u64(st.pending))
    return corrupt("truncated deliveries in tenant snapshot");
  if (!out.v1 && !decode_overrides(r, st.limits))
    return corrupt("truncated limits in tenant snapshot");
  if (!out.v7 && !r.u64(st.last_event_seq))
    return corrupt("truncated event sequence in tenant snapshot");
  if (!r.at_end())
    return corrupt("trailing bytes after tenant snapshot");
  if (out.keep && out.v7)
    number_events(st);
  else if (out.keep && !sequence_is_sound(st))
    return corrupt("event sequence numbers in tenant snapshot are not "
                   "distinct or exceed the last one");
  return {};
}

} // namespace

std::string encode_snapshot(const tenant_state& x) {
  writer w;
  w.u8(format_version);
  w.u8(kind_tenant);
  w.str(x.tenant_id);
  w.u64(x.last_id);
  w.count(x.endpoints.size());
  for (const auto& [id, ep] : x.endpoints) {
    w.u64(ep.id);
    w.str(ep.url);
    w.str(ep.secret);
    w.strings(ep.event_types);
    w.headers(ep.headers);
    w.status(ep.status);
    w.i64(ep.created_at);
    w.i64(ep.last_modified);
    w.str(ep.description);
    w.str(ep.previous_secret);
    w.i64(ep.previous_expires_at);
    w.u32(ep.rate_limit);
    w.u8(static_cast<uint8_t>(ep.ordering));
  }
  w.count(x.events.size());
  for (const auto& [id, ev] : x.events) {
    w.str(ev.id);
    w.str(ev.type);
    w.str(ev.idempotency_key);
    w.i64(ev.created_at);
    w.u64(ev.payload_bytes);
    w.str(ev.ordering_key);
    w.u64(ev.seq);
    w.count(ev.deliveries.size());
    for (const auto& d : ev.deliveries) {
      w.u64(d.endpoint);
      w.delivery(d.status);
      w.u32(d.attempts);
      w.i64(d.next_attempt_at);
      w.str(d.reason);
    }
  }
  w.count(x.idempotency.size());
  for (const auto& [key, event] : x.idempotency) {
    w.str(key);
    w.str(event);
  }
  w.count(x.activity.size());
  for (const auto& [id, a] : x.activity) {
    w.u64(id);
    w.u64(a.total);
    w.u64(a.successful);
    w.u64(a.failed);
    w.u64(a.latency_sum_ms);
    w.i64(a.last_success_at);
    w.i64(a.last_failure_at);
    w.u64(a.pending);
    w.count(a.latency_buckets.size());
    for (auto n : a.latency_buckets)
      w.u32(n);
    w.count(a.recent.size());
    for (const auto& at : a.recent)
      w.attempt(at);
    w.u32(a.breaker.consecutive_failures);
    w.str(a.breaker.reason);
    w.i64(a.breaker.disabled_at);
    w.i64(a.breaker.next_probe_at);
    w.u64(a.breaker.cooldown_ms);
  }
  w.u64(x.pending);
  for (const auto& value : x.limits.values) {
    w.u8(value ? 1 : 0);
    w.u64(value.value_or(0));
  }
  w.u64(x.last_event_seq);
  return std::move(w).take();
}

std::string encode_snapshot(const directory_state& x) {
  writer w;
  w.u8(format_version);
  w.u8(kind_directory);
  w.count(x.tenants.size());
  for (const auto& [id, t] : x.tenants) {
    w.entry(t, true);
    w.u8(t.incoming ? 1 : 0);
  }
  return std::move(w).take();
}

std::string encode_entry(const tenant_entry& x) {
  writer w;
  w.u8(format_version);
  w.u8(kind_entry);
  w.entry(x, true);
  return std::move(w).take();
}

caf::expected<tenant_entry> decode_entry(std::string_view bytes) {
  reader r{bytes};
  tenant_entry t;
  if (!read_header(r, kind_entry) || !r.entry(t, true))
    return corrupt("malformed registry entry");
  if (!r.at_end())
    return corrupt("trailing bytes after registry entry");
  return t;
}

caf::expected<tenant_state> decode_tenant_snapshot(std::string_view bytes) {
  tenant_state st;
  tenant_sink out{st, true};
  if (auto err = decode_tenant(bytes, out))
    return err;
  return st;
}

caf::expected<tenant_snapshot_summary>
check_tenant_snapshot(std::string_view bytes) {
  tenant_state st;
  tenant_sink out{st, false};
  if (auto err = decode_tenant(bytes, out))
    return err;
  return tenant_snapshot_summary{std::move(st.tenant_id), st.pending};
}

caf::expected<directory_state>
decode_directory_snapshot(std::string_view bytes) {
  reader r{bytes};
  directory_state st;
  uint32_t count = 0;
  // Either kind: peek at the header before choosing the layout.
  reader peek{bytes};
  bool v1 = read_header(peek, kind_directory_v1);
  reader peek2{bytes};
  bool v2 = !v1 && read_header(peek2, kind_directory_v2);
  reader peek3{bytes};
  bool v3 = !v1 && !v2 && read_header(peek3, kind_directory_v3);
  auto kind = v1   ? kind_directory_v1
              : v2 ? kind_directory_v2
              : v3 ? kind_directory_v3
                   : kind_directory;
  if (!read_header(r, kind) || !r.count(count, 8))
    return corrupt("malformed directory snapshot header");
  for (uint32_t i = 0; i < count; ++i) {
    tenant_entry t;
    if (v1 ? (!r.str(t.id) || !r.str(t.name) || !r.str(t.token_hash) ||
              !r.i64(t.created_at) || !read_flag(r, t.active))
           : !r.entry(t, !v2) || (!v2 && !v3 && !read_flag(r, t.incoming)))
      return corrupt("truncated tenant in directory snapshot");
    auto id = t.id;
    if (!st.tenants.emplace(std::move(id), std::move(t)).second)
      return corrupt("duplicate tenant in directory snapshot");
  }
  if (!r.at_end())
    return corrupt("trailing bytes after directory snapshot");
  return st;
}

} // namespace wi::persistence
