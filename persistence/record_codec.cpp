#include "persistence/record_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "persistence/binary_format.hpp"
#include "webhook_ingress/error.hpp"

// Wire format (version 1), all integers little-endian and fixed-width:
//
//   record  := version:u8 (= 1) tag:u8 body
//   tag 1   := tenant_created:          str tenant_id, str name,
//                                       str token_hash, i64 at
//   tag 2   := endpoint_created:        str tenant_id, u64 id, str url,
//                                       str secret, vec<str> event_types,
//                                       headers, status, i64 created_at,
//                                       i64 last_modified
//   tag 3   := endpoint_status_changed: str tenant_id, u64 id, status,
//                                       i64 at
//   tag 4   := event_accepted:          str tenant_id, str event_id,
//                                       str event_type, str idempotency_key,
//                                       i64 at, vec<u64> endpoints
//                                       (payload_bytes 0: written so, and
//                                       by versions before tag 14)
//   tag 5   := attempt_recorded:        str tenant_id, u64 endpoint, attempt,
//                                       u8 outcome (0..2), i64 next_at,
//                                       str reason
//   tag 6   := delivery_rescheduled:    str tenant_id, str event_id,
//                                       u64 endpoint, i64 at
//   tag 7   := breaker_changed:         str tenant_id, u64 endpoint, status,
//                                       str reason, i64 at, i64 next_probe_at,
//                                       u64 cooldown_ms
//   tag 8   := delivery_expired:        str tenant_id, str event_id,
//                                       u64 endpoint, i64 at
//   tag 9   := token_issued:            str tenant_id, str token_hash, i64 at,
//                                       i64 previous_valid_until
//   tag 10  := tenant_deactivated:      str tenant_id, i64 at
//   tag 11  := tenant_purged:           str tenant_id, i64 at
//   tag 12  := history_pruned:          str tenant_id, i64 at,
//                                       vec<str> event_ids
//   tag 13  := tenant_limits_set:       str tenant_id, i64 at,
//                                       (u8 op (0..2), u64 value)[4] in
//                                       `limit_kind` order
//   tag 14  := event_accepted with a payload size: as tag 4, then
//                                       u64 payload_bytes (> 0; 0 is tag 4,
//                                       so each record has one encoding)
//   tag 15  := tenant_imported:         str tenant_id, entry, u64 epoch
//   tag 16  := tenant_state_imported:   str tenant_id, str snapshot
//   tag 17  := tenant_moved_out:        str tenant_id, i64 at
//   tag 18  := endpoint_created with extras (issue 17): as tag 2, then
//                                       str description, str previous_secret,
//                                       i64 previous_expires_at (written only
//                                       when one of them is set: otherwise
//                                       tag 2, so each record has one
//                                       encoding)
//   tag 19  := endpoint_updated:        str tenant_id, u64 id, i64 at,
//                                       u8 fields (bit 0 url, 1 event_types,
//                                       2 headers, 3 description; no other
//                                       bit), then the set ones in that
//                                       order: str url, vec<str>
//                                       event_types, headers, str description
//   tag 20  := endpoint_deleted:        str tenant_id, u64 id, i64 at
//   tag 21  := endpoint_secret_rotated: str tenant_id, u64 id, str secret,
//                                       i64 at, i64 previous_expires_at
//   tag 22  := endpoint_created with delivery options (issue 17, items 4
//                                       and 5): as tag 18 (its three extras
//                                       always present), then u32 rate_limit
//                                       (0 or 1..10 000), ordering (written
//                                       only when rate_limit is set or
//                                       ordering is fifo: otherwise tag 2 or
//                                       18)
//   tag 23  := endpoint_updated with delivery options: as tag 19 with bits
//                                       4 rate_limit and 5 ordering allowed
//                                       (at least one of them set), then
//                                       after description: u32 rate_limit
//                                       (0 clears), ordering (written only
//                                       when bit 4 or 5 is set: otherwise
//                                       tag 19)
//   tag 24  := event_accepted with an ordering key: as tag 4, then
//                                       u64 payload_bytes (may be 0), str
//                                       ordering_key (not empty: otherwise
//                                       tag 4 or 14)
//   ordering := u8 in 0..1 (`delivery_ordering`)
//   entry   := as a tenant of the directory snapshot of kind 3
//              (`persistence/snapshot_codec.cpp`); its epoch is the u64
//              that follows
//   attempt := str event_id, u32 attempt, i64 at, u32 status_code (< 1000),
//              u32 latency_ms, str error, str response_excerpt
//   str     := len:u32 bytes[len]
//   vec<T>  := count:u32 T[count]
//   headers := count:u32 (str name, str value)[count]
//   status  := u8 in 0..2 (`endpoint_status`)
//
// Tags are stable: a new `record` alternative gets the next free number.

namespace wi::persistence {

namespace {

constexpr uint8_t format_version = 1;

constexpr uint8_t tag_tenant_created = 1;
constexpr uint8_t tag_endpoint_created = 2;
constexpr uint8_t tag_endpoint_status_changed = 3;
constexpr uint8_t tag_event_accepted = 4;
constexpr uint8_t tag_attempt_recorded = 5;
constexpr uint8_t tag_delivery_rescheduled = 6;
constexpr uint8_t tag_breaker_changed = 7;
constexpr uint8_t tag_delivery_expired = 8;
constexpr uint8_t tag_token_issued = 9;
constexpr uint8_t tag_tenant_deactivated = 10;
constexpr uint8_t tag_tenant_purged = 11;
constexpr uint8_t tag_history_pruned = 12;
constexpr uint8_t tag_tenant_limits_set = 13;
constexpr uint8_t tag_event_accepted_sized = 14;
constexpr uint8_t tag_tenant_imported = 15;
constexpr uint8_t tag_tenant_state_imported = 16;
constexpr uint8_t tag_tenant_moved_out = 17;
constexpr uint8_t tag_endpoint_created_extra = 18;
constexpr uint8_t tag_endpoint_updated = 19;
constexpr uint8_t tag_endpoint_deleted = 20;
constexpr uint8_t tag_endpoint_secret_rotated = 21;
constexpr uint8_t tag_endpoint_created_options = 22;
constexpr uint8_t tag_endpoint_updated_options = 23;
constexpr uint8_t tag_event_accepted_keyed = 24;

using detail::reader;
using detail::writer;

/// Bits of `endpoint_updated`'s field mask.
constexpr uint8_t patch_url = 1;
constexpr uint8_t patch_event_types = 2;
constexpr uint8_t patch_headers = 4;
constexpr uint8_t patch_description = 8;
constexpr uint8_t patch_rate_limit = 16;
constexpr uint8_t patch_ordering = 32;
constexpr uint8_t patch_v1_fields =
  patch_url | patch_event_types | patch_headers | patch_description;
constexpr uint8_t patch_options = patch_rate_limit | patch_ordering;

/// Whether an endpoint carries the delivery options of tag 22.
bool has_options(const endpoint& ep) {
  return ep.rate_limit != 0 || ep.ordering != delivery_ordering::unordered;
}

/// Reads a `delivery_ordering` byte (0 or 1).
bool read_ordering(reader& r, delivery_ordering& x) {
  uint8_t byte = 0;
  if (!r.u8(byte) || byte > static_cast<uint8_t>(delivery_ordering::fifo))
    return false;
  x = static_cast<delivery_ordering>(byte);
  return true;
}

void encode_body(writer& w, const tenant_created& x) {
  w.u8(tag_tenant_created);
  w.str(x.tenant_id);
  w.str(x.name);
  w.str(x.token_hash);
  w.i64(x.at);
}

void encode_body(writer& w, const endpoint_created& x) {
  auto options = has_options(x.ep);
  auto extra = options || !x.ep.description.empty() ||
               !x.ep.previous_secret.empty() || x.ep.previous_expires_at != 0;
  w.u8(options ? tag_endpoint_created_options
       : extra ? tag_endpoint_created_extra
               : tag_endpoint_created);
  w.str(x.tenant_id);
  w.u64(x.ep.id);
  w.str(x.ep.url);
  w.str(x.ep.secret);
  w.strings(x.ep.event_types);
  w.headers(x.ep.headers);
  w.status(x.ep.status);
  w.i64(x.ep.created_at);
  w.i64(x.ep.last_modified);
  if (extra) {
    w.str(x.ep.description);
    w.str(x.ep.previous_secret);
    w.i64(x.ep.previous_expires_at);
  }
  if (options) {
    w.u32(x.ep.rate_limit);
    w.u8(static_cast<uint8_t>(x.ep.ordering));
  }
}

void encode_body(writer& w, const endpoint_status_changed& x) {
  w.u8(tag_endpoint_status_changed);
  w.str(x.tenant_id);
  w.u64(x.id);
  w.status(x.status);
  w.i64(x.at);
}

void encode_body(writer& w, const event_accepted& x) {
  auto keyed = !x.ordering_key.empty();
  auto sized = x.payload_bytes > 0;
  w.u8(keyed   ? tag_event_accepted_keyed
       : sized ? tag_event_accepted_sized
               : tag_event_accepted);
  w.str(x.tenant_id);
  w.str(x.event_id);
  w.str(x.event_type);
  w.str(x.idempotency_key);
  w.i64(x.at);
  w.ids(x.endpoints);
  if (sized || keyed)
    w.u64(x.payload_bytes);
  if (keyed)
    w.str(x.ordering_key);
}

void encode_body(writer& w, const attempt_recorded& x) {
  w.u8(tag_attempt_recorded);
  w.str(x.tenant_id);
  w.u64(x.endpoint);
  w.attempt(x.attempt);
  w.delivery(x.outcome);
  w.i64(x.next_attempt_at);
  w.str(x.reason);
}

void encode_body(writer& w, const delivery_rescheduled& x) {
  w.u8(tag_delivery_rescheduled);
  w.str(x.tenant_id);
  w.str(x.event_id);
  w.u64(x.endpoint);
  w.i64(x.at);
}

void encode_body(writer& w, const breaker_changed& x) {
  w.u8(tag_breaker_changed);
  w.str(x.tenant_id);
  w.u64(x.endpoint);
  w.status(x.status);
  w.str(x.reason);
  w.i64(x.at);
  w.i64(x.next_probe_at);
  w.u64(x.cooldown_ms);
}

void encode_body(writer& w, const delivery_expired& x) {
  w.u8(tag_delivery_expired);
  w.str(x.tenant_id);
  w.str(x.event_id);
  w.u64(x.endpoint);
  w.i64(x.at);
}

void encode_body(writer& w, const token_issued& x) {
  w.u8(tag_token_issued);
  w.str(x.tenant_id);
  w.str(x.token_hash);
  w.i64(x.at);
  w.i64(x.previous_valid_until);
}

void encode_body(writer& w, const tenant_deactivated& x) {
  w.u8(tag_tenant_deactivated);
  w.str(x.tenant_id);
  w.i64(x.at);
}

void encode_body(writer& w, const tenant_purged& x) {
  w.u8(tag_tenant_purged);
  w.str(x.tenant_id);
  w.i64(x.at);
}

void encode_body(writer& w, const history_pruned& x) {
  w.u8(tag_history_pruned);
  w.str(x.tenant_id);
  w.i64(x.at);
  w.strings(x.event_ids);
}

void encode_body(writer& w, const tenant_limits_set& x) {
  w.u8(tag_tenant_limits_set);
  w.str(x.tenant_id);
  w.i64(x.at);
  for (const auto& c : x.change.changes) {
    w.u8(static_cast<uint8_t>(c.op));
    w.u64(c.value);
  }
}

void encode_body(writer& w, const tenant_imported& x) {
  w.u8(tag_tenant_imported);
  w.str(x.tenant_id);
  w.entry(x.entry, false);
  w.u64(x.epoch);
}

void encode_body(writer& w, const tenant_state_imported& x) {
  w.u8(tag_tenant_state_imported);
  w.str(x.tenant_id);
  w.str(x.snapshot);
}

void encode_body(writer& w, const tenant_moved_out& x) {
  w.u8(tag_tenant_moved_out);
  w.str(x.tenant_id);
  w.i64(x.at);
}

void encode_body(writer& w, const endpoint_updated& x) {
  const auto& c = x.change;
  unsigned fields = 0;
  fields |= c.url ? patch_url : 0u;
  fields |= c.event_types ? patch_event_types : 0u;
  fields |= c.headers ? patch_headers : 0u;
  fields |= c.description ? patch_description : 0u;
  fields |= c.rate_limit ? patch_rate_limit : 0u;
  fields |= c.ordering ? patch_ordering : 0u;
  auto options = (fields & patch_options) != 0;
  w.u8(options ? tag_endpoint_updated_options : tag_endpoint_updated);
  w.str(x.tenant_id);
  w.u64(x.id);
  w.i64(x.at);
  w.u8(static_cast<uint8_t>(fields));
  if (c.url)
    w.str(*c.url);
  if (c.event_types)
    w.strings(*c.event_types);
  if (c.headers)
    w.headers(*c.headers);
  if (c.description)
    w.str(*c.description);
  if (options) {
    w.u32(c.rate_limit.value_or(0));
    w.u8(static_cast<uint8_t>(c.ordering.value_or(delivery_ordering{})));
  }
}

void encode_body(writer& w, const endpoint_deleted& x) {
  w.u8(tag_endpoint_deleted);
  w.str(x.tenant_id);
  w.u64(x.id);
  w.i64(x.at);
}

void encode_body(writer& w, const endpoint_secret_rotated& x) {
  w.u8(tag_endpoint_secret_rotated);
  w.str(x.tenant_id);
  w.u64(x.id);
  w.str(x.secret);
  w.i64(x.at);
  w.i64(x.previous_expires_at);
}

// -- decoding -----------------------------------------------------------------

bool decode_body(reader& r, tenant_imported& x) {
  return r.str(x.tenant_id) && r.entry(x.entry, false) && r.u64(x.epoch);
}

bool decode_body(reader& r, tenant_state_imported& x) {
  return r.str(x.tenant_id) && r.str(x.snapshot);
}

bool decode_body(reader& r, tenant_moved_out& x) {
  return r.str(x.tenant_id) && r.i64(x.at);
}

bool decode_body(reader& r, tenant_created& x) {
  return r.str(x.tenant_id) && r.str(x.name) && r.str(x.token_hash) &&
         r.i64(x.at);
}

bool decode_body(reader& r, endpoint_created& x) {
  x.ep.description.clear();
  x.ep.previous_secret.clear();
  x.ep.previous_expires_at = 0;
  x.ep.rate_limit = 0;
  x.ep.ordering = delivery_ordering::unordered;
  return r.str(x.tenant_id) && r.u64(x.ep.id) && r.str(x.ep.url) &&
         r.str(x.ep.secret) && r.strings(x.ep.event_types) &&
         r.headers(x.ep.headers) && r.status(x.ep.status) &&
         r.i64(x.ep.created_at) && r.i64(x.ep.last_modified);
}

/// Tag 18: tag 2 followed by the fields of issue 17, at least one set.
bool decode_extra(reader& r, endpoint_created& x) {
  return decode_body(r, x) && r.str(x.ep.description) &&
         r.str(x.ep.previous_secret) && r.i64(x.ep.previous_expires_at) &&
         (!x.ep.description.empty() || !x.ep.previous_secret.empty() ||
          x.ep.previous_expires_at != 0);
}

/// Tag 22: tag 18's layout (extras may all be empty) followed by the
/// delivery options, at least one of them set.
bool decode_options(reader& r, endpoint_created& x) {
  return decode_body(r, x) && r.str(x.ep.description) &&
         r.str(x.ep.previous_secret) && r.i64(x.ep.previous_expires_at) &&
         r.u32(x.ep.rate_limit) && x.ep.rate_limit <= max_rate_limit &&
         read_ordering(r, x.ep.ordering) && has_options(x.ep);
}

/// Reads an optional field that is present when `bit` is set in `fields`.
template <class T, class Read>
bool read_if(uint8_t fields, uint8_t bit, std::optional<T>& x, Read read) {
  if ((fields & bit) == 0) {
    x.reset();
    return true;
  }
  return read(x.emplace());
}

/// Tags 19 and 23 (`options`: the delivery options follow, at least one
/// of them set).
bool decode_update(reader& r, endpoint_updated& x, bool options) {
  uint8_t fields = 0;
  auto allowed = options ? patch_v1_fields | patch_options : patch_v1_fields;
  if (!r.str(x.tenant_id) || !r.u64(x.id) || !r.i64(x.at) || !r.u8(fields) ||
      (fields & ~allowed) != 0 || (options && (fields & patch_options) == 0))
    return false;
  auto& c = x.change;
  c.rate_limit.reset();
  c.ordering.reset();
  auto ok =
    read_if(fields, patch_url, c.url,
            [&r](std::string& v) { return r.str(v); }) &&
    read_if(fields, patch_event_types, c.event_types,
            [&r](std::vector<std::string>& v) { return r.strings(v); }) &&
    read_if(fields, patch_headers, c.headers,
            [&r](header_list& v) { return r.headers(v); }) &&
    read_if(fields, patch_description, c.description,
            [&r](std::string& v) { return r.str(v); });
  if (!ok || !options)
    return ok;
  uint32_t rate = 0;
  auto ordering = delivery_ordering::unordered;
  if (!r.u32(rate) || rate > max_rate_limit || !read_ordering(r, ordering))
    return false;
  // The unset option's bytes are zero: one encoding per record.
  if ((fields & patch_rate_limit) != 0)
    c.rate_limit = rate;
  else if (rate != 0)
    return false;
  if ((fields & patch_ordering) != 0)
    c.ordering = ordering;
  else if (ordering != delivery_ordering::unordered)
    return false;
  return true;
}

bool decode_body(reader& r, endpoint_updated& x) {
  return decode_update(r, x, false);
}

bool decode_body(reader& r, endpoint_deleted& x) {
  return r.str(x.tenant_id) && r.u64(x.id) && r.i64(x.at);
}

bool decode_body(reader& r, endpoint_secret_rotated& x) {
  return r.str(x.tenant_id) && r.u64(x.id) && r.str(x.secret) && r.i64(x.at) &&
         r.i64(x.previous_expires_at);
}

bool decode_body(reader& r, endpoint_status_changed& x) {
  return r.str(x.tenant_id) && r.u64(x.id) && r.status(x.status) && r.i64(x.at);
}

bool decode_body(reader& r, event_accepted& x) {
  x.payload_bytes = 0;
  x.ordering_key.clear();
  return r.str(x.tenant_id) && r.str(x.event_id) && r.str(x.event_type) &&
         r.str(x.idempotency_key) && r.i64(x.at) && r.ids(x.endpoints);
}

/// Tag 14: tag 4 followed by a payload size, which must not be 0.
bool decode_sized(reader& r, event_accepted& x) {
  return decode_body(r, x) && r.u64(x.payload_bytes) && x.payload_bytes > 0;
}

/// Tag 24: tag 4 followed by a payload size and an ordering key, which must
/// not be empty.
bool decode_keyed(reader& r, event_accepted& x) {
  return decode_body(r, x) && r.u64(x.payload_bytes) && r.str(x.ordering_key) &&
         !x.ordering_key.empty();
}

bool decode_body(reader& r, tenant_limits_set& x) {
  if (!r.str(x.tenant_id) || !r.i64(x.at))
    return false;
  for (auto& c : x.change.changes) {
    uint8_t op = 0;
    if (!r.u8(op) || op > static_cast<uint8_t>(limit_op::reset) ||
        !r.u64(c.value))
      return false;
    c.op = static_cast<limit_op>(op);
  }
  return true;
}

bool decode_body(reader& r, attempt_recorded& x) {
  return r.str(x.tenant_id) && r.u64(x.endpoint) && r.attempt(x.attempt) &&
         r.delivery(x.outcome) && r.i64(x.next_attempt_at) && r.str(x.reason);
}

bool decode_body(reader& r, delivery_rescheduled& x) {
  return r.str(x.tenant_id) && r.str(x.event_id) && r.u64(x.endpoint) &&
         r.i64(x.at);
}

bool decode_body(reader& r, breaker_changed& x) {
  return r.str(x.tenant_id) && r.u64(x.endpoint) && r.status(x.status) &&
         r.str(x.reason) && r.i64(x.at) && r.i64(x.next_probe_at) &&
         r.u64(x.cooldown_ms);
}

bool decode_body(reader& r, delivery_expired& x) {
  return r.str(x.tenant_id) && r.str(x.event_id) && r.u64(x.endpoint) &&
         r.i64(x.at);
}

bool decode_body(reader& r, token_issued& x) {
  return r.str(x.tenant_id) && r.str(x.token_hash) && r.i64(x.at) &&
         r.i64(x.previous_valid_until);
}

bool decode_body(reader& r, tenant_deactivated& x) {
  return r.str(x.tenant_id) && r.i64(x.at);
}

bool decode_body(reader& r, tenant_purged& x) {
  return r.str(x.tenant_id) && r.i64(x.at);
}

bool decode_body(reader& r, history_pruned& x) {
  return r.str(x.tenant_id) && r.i64(x.at) && r.strings(x.event_ids);
}

caf::error corrupt(std::string text) {
  return make_error(errc::corrupt_data, "wal", std::move(text));
}

/// How a record's body is laid out when one alternative has several tags.
enum class layout { plain, extended, options };

template <class T, layout L = layout::plain>
caf::error decode_as(reader& r, record& out) {
  auto* x = std::get_if<T>(&out);
  if (x == nullptr)
    x = &out.emplace<T>();
  bool ok = false;
  if constexpr (L == layout::extended && std::is_same_v<T, endpoint_created>)
    ok = decode_extra(r, *x);
  else if constexpr (L == layout::extended)
    ok = decode_sized(r, *x);
  else if constexpr (L == layout::options &&
                     std::is_same_v<T, endpoint_created>)
    ok = decode_options(r, *x);
  else if constexpr (L == layout::options && std::is_same_v<T, event_accepted>)
    ok = decode_keyed(r, *x);
  else if constexpr (L == layout::options)
    ok = decode_update(r, *x, true);
  else
    ok = decode_body(r, *x);
  if (!ok)
    return corrupt("truncated or malformed WAL record");
  if (!r.at_end())
    return corrupt("trailing bytes after WAL record");
  return {};
}

} // namespace

std::string encode(const record& x) {
  writer w;
  w.u8(format_version);
  std::visit([&w](const auto& body) { encode_body(w, body); }, x);
  return std::move(w).take();
}

caf::expected<record> decode(std::string_view bytes) {
  record result;
  if (auto err = decode_into(bytes, result))
    return err;
  return result;
}

caf::error decode_into(std::string_view bytes, record& out) {
  reader r{bytes};
  uint8_t version = 0;
  if (!r.u8(version))
    return corrupt("empty WAL record");
  if (version != format_version)
    return corrupt("unknown WAL record format version " +
                   std::to_string(version));
  uint8_t tag = 0;
  if (!r.u8(tag))
    return corrupt("WAL record without a tag");
  switch (tag) {
  case tag_tenant_created:
    return decode_as<tenant_created>(r, out);
  case tag_endpoint_created:
    return decode_as<endpoint_created>(r, out);
  case tag_endpoint_status_changed:
    return decode_as<endpoint_status_changed>(r, out);
  case tag_event_accepted:
    return decode_as<event_accepted>(r, out);
  case tag_attempt_recorded:
    return decode_as<attempt_recorded>(r, out);
  case tag_delivery_rescheduled:
    return decode_as<delivery_rescheduled>(r, out);
  case tag_breaker_changed:
    return decode_as<breaker_changed>(r, out);
  case tag_delivery_expired:
    return decode_as<delivery_expired>(r, out);
  case tag_token_issued:
    return decode_as<token_issued>(r, out);
  case tag_tenant_deactivated:
    return decode_as<tenant_deactivated>(r, out);
  case tag_tenant_purged:
    return decode_as<tenant_purged>(r, out);
  case tag_history_pruned:
    return decode_as<history_pruned>(r, out);
  case tag_tenant_limits_set:
    return decode_as<tenant_limits_set>(r, out);
  case tag_event_accepted_sized:
    return decode_as<event_accepted, layout::extended>(r, out);
  case tag_tenant_imported:
    return decode_as<tenant_imported>(r, out);
  case tag_tenant_state_imported:
    return decode_as<tenant_state_imported>(r, out);
  case tag_tenant_moved_out:
    return decode_as<tenant_moved_out>(r, out);
  case tag_endpoint_created_extra:
    return decode_as<endpoint_created, layout::extended>(r, out);
  case tag_endpoint_updated:
    return decode_as<endpoint_updated>(r, out);
  case tag_endpoint_deleted:
    return decode_as<endpoint_deleted>(r, out);
  case tag_endpoint_secret_rotated:
    return decode_as<endpoint_secret_rotated>(r, out);
  case tag_endpoint_created_options:
    return decode_as<endpoint_created, layout::options>(r, out);
  case tag_endpoint_updated_options:
    return decode_as<endpoint_updated, layout::options>(r, out);
  case tag_event_accepted_keyed:
    return decode_as<event_accepted, layout::options>(r, out);
  default:
    return corrupt("unknown WAL record tag " + std::to_string(tag));
  }
}

} // namespace wi::persistence
