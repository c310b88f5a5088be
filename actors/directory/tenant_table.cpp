#include "actors/directory/tenant_table.hpp"

#include <mutex>

#include "actors/common/crypto.hpp"

namespace wi {

bool tenant_table::holds(std::string_view tenant_id) const {
  std::shared_lock guard{mtx_};
  return entries_.contains(std::string{tenant_id});
}

tenant_table::lookup_result tenant_table::lookup(std::string_view tenant_id,
                                                 std::string_view token_hash,
                                                 unix_seconds now) const {
  std::shared_lock guard{mtx_};
  // Heterogeneous look-up needs C++20 transparent hashing; a tenant id is
  // 16 bytes, so the copy stays in the small-string buffer.
  auto i = entries_.find(std::string{tenant_id});
  if (i == entries_.end() || !i->second.active)
    return {};
  const auto& e = i->second;
  // Both comparisons always run, so timing tells nothing about which token
  // (if any) matched.
  bool current = crypto::constant_time_equal(e.token_hash, token_hash);
  bool previous =
    !e.previous_token_hash.empty() &&
    crypto::constant_time_equal(e.previous_token_hash, token_hash);
  if (!current && !(previous && now < e.previous_valid_until))
    return {};
  if (!e.actor)
    return {verdict::dormant, {}};
  return {verdict::running, e.actor};
}

tenant_table::lookup_result
tenant_table::lookup(std::string_view tenant_id,
                     std::string_view token_hash) const {
  return lookup(tenant_id, token_hash, crypto::now_seconds());
}

void tenant_table::update(const tenant_entry& x) {
  std::unique_lock guard{mtx_};
  if (x.purged) {
    entries_.erase(x.id);
    return;
  }
  auto& e = entries_[x.id];
  e.token_hash = x.token_hash;
  e.previous_token_hash = x.previous_token_hash;
  e.previous_valid_until = x.previous_valid_until;
  e.active = x.active;
}

void tenant_table::set_actor(const std::string& tenant_id, tenant_actor actor) {
  std::unique_lock guard{mtx_};
  if (auto i = entries_.find(tenant_id); i != entries_.end())
    i->second.actor = std::move(actor);
}

} // namespace wi
