#include "actors/tenant/admin_views.hpp"

#include <algorithm>

#include "actors/tenant/tenant_limits.hpp"
#include "actors/tenant/tenant_state.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

tenant_summary summarize(const tenant_state& st) {
  tenant_summary result;
  unix_millis newest = 0;
  for (const auto& [id, ep] : st.endpoints) {
    switch (ep.status) {
    case endpoint_status::active:
      ++result.endpoints.active;
      break;
    case endpoint_status::disabled:
      ++result.endpoints.disabled;
      break;
    case endpoint_status::inactive:
      ++result.endpoints.inactive;
      break;
    }
    newest = std::max(newest, ep.last_modified * 1000);
  }
  for (const auto& [id, ev] : st.events)
    newest = std::max(newest, ev.created_at);
  for (const auto& [id, act] : st.activity) {
    newest = std::max({newest, act.last_success_at, act.last_failure_at,
                       act.breaker.disabled_at});
    result.attempts_total += act.total;
    result.attempts_successful += act.successful;
  }
  result.events = st.events.size();
  result.pending_deliveries = st.pending;
  result.last_mutation_at = newest;
  result.overrides = st.limits;
  result.usage.endpoints = st.endpoints.size();
  result.usage.stored_bytes = st.stored_bytes;
  return result;
}

caf::expected<endpoint_internal> internal_view_of(const tenant_state& st,
                                                  endpoint_id id) {
  auto ep = st.endpoints.find(id);
  if (ep == st.endpoints.end())
    return make_error(errc::not_found, "eid",
                      "no endpoint with eid " + std::to_string(id));
  endpoint_internal result;
  result.stats = statistics_of(st, ep->second);
  auto page = attempts_of(st, id, 1, max_recent_attempts);
  result.recent_attempts = std::move(page.items);
  return result;
}

void add_limits(tenant_summary& summary, const tenant_limits& defaults) {
  summary.limits = resolve(summary.overrides, defaults);
}

} // namespace wi
