#pragma once

#include <caf/expected.hpp>

#include "webhook_ingress/admin.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// Returns what the admin API shows of a tenant's state: endpoint counts by
/// status, events, pending deliveries, the time of its newest record, its
/// limit overrides and their usage (endpoints, stored bytes).
/// Registry fields (`info`, deactivation, tokens) and the actor's fields
/// (`loaded`, `mailbox_depth`) are left for the caller. Pure; O(size).
[[nodiscard]] tenant_summary summarize(const tenant_state& st);

/// Returns the admin's view of endpoint `id`: statistics, breaker and the
/// newest attempts first; `errc::not_found` on field `eid` if the tenant has
/// no such endpoint. The secret is included: redacting it is the HTTP
/// layer's job. Pure.
[[nodiscard]] caf::expected<endpoint_internal>
internal_view_of(const tenant_state& st, endpoint_id id);

/// Sets `summary.limits` to its overrides over the node's `defaults`.
void add_limits(tenant_summary& summary, const tenant_limits& defaults);

} // namespace wi
