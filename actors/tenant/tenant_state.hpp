#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/records.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// Applies one WAL record of this tenant. Pure and deterministic: every value
/// it sets comes from the record, so live mutation and replay produce the
/// same state. Returns `errc::corrupt_data` (and leaves `st` unchanged) for
/// a record that cannot follow the current state: another tenant's record,
/// a tenant-level record, an identifier not above `last_id`, or a status
/// change of an unknown endpoint. A record about a deleted endpoint (one
/// whose id is at most `last_id` but that is gone: it raced with the
/// delete) changes nothing and succeeds; an event accepted for it skips it.
[[nodiscard]] caf::error apply(tenant_state& st, const record& rec);

/// Like `apply(tenant_state&, const record&)`, moving the record's endpoint
/// into the state instead of copying it (recovery).
[[nodiscard]] caf::error apply(tenant_state& st, record&& rec);

/// Returns the page `q` asks for: endpoints whose `created_at` lies within
/// the query's inclusive bounds, ordered by identifier.
[[nodiscard]] endpoint_page list_endpoints(const tenant_state& st,
                                           const list_query& q);

/// Returns the statistics of endpoint `ep` from the tenant's delivery
/// activity (all zero before its first attempt).
[[nodiscard]] endpoint_stats statistics_of(const tenant_state& st,
                                           const endpoint& ep);

/// Returns the page of endpoint `id`'s attempt log, newest first. The log
/// keeps the latest `max_recent_attempts` attempts.
[[nodiscard]] attempt_page attempts_of(const tenant_state& st, endpoint_id id,
                                       uint32_t page, uint32_t page_size);

/// Returns `ep` with its breaker state.
[[nodiscard]] endpoint_view view_of(const tenant_state& st, const endpoint& ep);

/// Returns whether an event of `event_type` goes to `ep`: the endpoint
/// lists the type or `*`, and is not `inactive`.
[[nodiscard]] bool matches(const endpoint& ep, std::string_view event_type);

/// Returns the identifiers of the endpoints an event of `event_type` goes
/// to (those that `matches`), ascending: looked up in `st.subscribers`, so
/// O(matching endpoints), not O(endpoints).
[[nodiscard]] std::vector<endpoint_id>
matching_endpoints(const tenant_state& st, std::string_view event_type);

} // namespace wi
