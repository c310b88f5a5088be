#include "actors/tenant_state.hpp"

#include <string>
#include <type_traits>

#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

caf::error corrupt(std::string text) {
  return make_error(errc::corrupt_data, "wal", std::move(text));
}

caf::error apply_created(tenant_state& st, const endpoint_created& rec) {
  if (rec.ep.id <= st.last_id)
    return corrupt("endpoint " + std::to_string(rec.ep.id) +
                   " does not follow " + std::to_string(st.last_id));
  st.last_id = rec.ep.id;
  st.endpoints.emplace(rec.ep.id, rec.ep);
  return {};
}

caf::error apply_status(tenant_state& st, const endpoint_status_changed& rec) {
  auto i = st.endpoints.find(rec.id);
  if (i == st.endpoints.end())
    return corrupt("status change of unknown endpoint " +
                   std::to_string(rec.id));
  i->second.status = rec.status;
  i->second.last_modified = rec.at;
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
        return apply_created(st, x);
      else if constexpr (std::is_same_v<type, endpoint_status_changed>)
        return apply_status(st, x);
      else
        return corrupt("not a tenant-level record");
    },
    rec);
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

endpoint_stats statistics_of(const endpoint& ep) {
  endpoint_stats result;
  result.ep = ep;
  return result;
}

} // namespace wi
