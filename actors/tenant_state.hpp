#pragma once

#include <map>
#include <string>

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
/// change of an unknown endpoint.
[[nodiscard]] caf::error apply(tenant_state& st, const record& rec);

/// Returns the page `q` asks for: endpoints whose `created_at` lies within
/// the query's inclusive bounds, ordered by identifier.
[[nodiscard]] endpoint_page list_endpoints(const tenant_state& st,
                                           const list_query& q);

/// Returns the statistics of `ep`. Until the delivery engine exists there are
/// no attempts, so every counter is zero.
[[nodiscard]] endpoint_stats statistics_of(const endpoint& ep);

} // namespace wi
