#include "actors/tenant_table.hpp"

#include <mutex>

#include "actors/crypto.hpp"

namespace wi {

tenant_table::lookup_result
tenant_table::lookup(std::string_view tenant_id,
                     std::string_view token_hash) const {
  std::shared_lock guard{mtx_};
  // Heterogeneous look-up needs C++20 transparent hashing; a tenant id is
  // 16 bytes, so the copy stays in the small-string buffer.
  auto i = entries_.find(std::string{tenant_id});
  if (i == entries_.end() || !i->second.active ||
      !crypto::constant_time_equal(i->second.token_hash, token_hash))
    return {};
  if (!i->second.actor)
    return {verdict::dormant, {}};
  return {verdict::running, i->second.actor};
}

void tenant_table::put(const std::string& tenant_id, std::string token_hash,
                       bool active, tenant_actor actor) {
  std::unique_lock guard{mtx_};
  entries_[tenant_id] = entry{std::move(token_hash), active, std::move(actor)};
}

void tenant_table::set_actor(const std::string& tenant_id, tenant_actor actor) {
  std::unique_lock guard{mtx_};
  if (auto i = entries_.find(tenant_id); i != entries_.end())
    i->second.actor = std::move(actor);
}

} // namespace wi
