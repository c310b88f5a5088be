#include "actors/directory/directory_state.hpp"

#include <string>
#include <type_traits>
#include <variant>

#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

caf::error corrupt(std::string text) {
  return make_error(errc::corrupt_data, "wal", std::move(text));
}

caf::error apply_created(directory_state& st, const tenant_created& rec) {
  tenant_entry entry;
  entry.id = rec.tenant_id;
  entry.name = rec.name;
  entry.token_hash = rec.token_hash;
  entry.created_at = rec.at;
  if (!st.tenants.emplace(rec.tenant_id, std::move(entry)).second)
    return corrupt("tenant " + rec.tenant_id + " created twice");
  return {};
}

/// Returns the live (not purged) entry of `id`, or null.
tenant_entry* live_entry(directory_state& st, const std::string& id) {
  auto i = st.tenants.find(id);
  if (i == st.tenants.end() || i->second.purged)
    return nullptr;
  return &i->second;
}

caf::error apply_token(directory_state& st, const token_issued& rec) {
  auto* t = live_entry(st, rec.tenant_id);
  if (t == nullptr)
    return corrupt("token issued for unknown tenant " + rec.tenant_id);
  t->previous_token_hash = std::move(t->token_hash);
  t->previous_valid_until = rec.previous_valid_until;
  t->token_hash = rec.token_hash;
  return {};
}

caf::error apply_deactivated(directory_state& st,
                             const tenant_deactivated& rec) {
  auto* t = live_entry(st, rec.tenant_id);
  if (t == nullptr)
    return corrupt("deactivation of unknown tenant " + rec.tenant_id);
  t->active = false;
  t->deactivated_at = rec.at;
  return {};
}

caf::error apply_purged(directory_state& st, const tenant_purged& rec) {
  auto* t = live_entry(st, rec.tenant_id);
  if (t == nullptr)
    return corrupt("purge of unknown tenant " + rec.tenant_id);
  if (t->active)
    t->deactivated_at = rec.at;
  t->active = false;
  t->purged = true;
  t->name.clear();
  t->token_hash.clear();
  t->previous_token_hash.clear();
  t->previous_valid_until = 0;
  return {};
}

/// A planned move brought the tenant here: its entry as the old owner had
/// it, with the new epoch; replaces an earlier (uncommitted) import.
caf::error apply_imported(directory_state& st, const tenant_imported& rec) {
  if (rec.entry.id != rec.tenant_id || rec.entry.purged)
    return corrupt("import of tenant " + rec.tenant_id +
                   " with a foreign or purged entry");
  if (is_purged(st, rec.tenant_id))
    return corrupt("import of purged tenant " + rec.tenant_id);
  auto entry = rec.entry;
  entry.epoch = rec.epoch;
  entry.incoming = true;
  st.tenants.insert_or_assign(rec.tenant_id, std::move(entry));
  return {};
}

/// An import's commit took: the tenant serves here.
caf::error apply_activated(directory_state& st, const tenant_activated& rec) {
  auto i = st.tenants.find(rec.tenant_id);
  if (i == st.tenants.end() || i->second.purged || !i->second.incoming ||
      i->second.epoch != rec.epoch)
    return corrupt("activation of tenant " + rec.tenant_id +
                   " not imported here with epoch " +
                   std::to_string(rec.epoch));
  i->second.incoming = false;
  return {};
}

/// The node's copy left: no tombstone, the tenant may come back.
caf::error apply_moved_out(directory_state& st, const tenant_moved_out& rec) {
  if (live_entry(st, rec.tenant_id) == nullptr)
    return corrupt("move-out of unknown tenant " + rec.tenant_id);
  st.tenants.erase(rec.tenant_id);
  return {};
}

} // namespace

caf::error apply(directory_state& st, const record& rec) {
  return std::visit(
    [&st](const auto& x) -> caf::error {
      using type = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<type, tenant_created>)
        return apply_created(st, x);
      else if constexpr (std::is_same_v<type, token_issued>)
        return apply_token(st, x);
      else if constexpr (std::is_same_v<type, tenant_deactivated>)
        return apply_deactivated(st, x);
      else if constexpr (std::is_same_v<type, tenant_purged>)
        return apply_purged(st, x);
      else if constexpr (std::is_same_v<type, tenant_imported>)
        return apply_imported(st, x);
      else if constexpr (std::is_same_v<type, tenant_moved_out>)
        return apply_moved_out(st, x);
      else if constexpr (std::is_same_v<type, tenant_activated>)
        return apply_activated(st, x);
      else
        return corrupt("not a directory-level record");
    },
    rec);
}

bool is_purged(const directory_state& st, std::string_view tenant_id) {
  auto i = st.tenants.find(std::string{tenant_id});
  return i != st.tenants.end() && i->second.purged;
}

tenant_info info_of(const tenant_entry& x) {
  return tenant_info{x.id, x.name, x.created_at, x.active, {}};
}

namespace {

template <class Record>
caf::error apply_node(node_state& st, Record&& rec) {
  if (is_directory_record(rec)) {
    if (auto err = wi::apply(st.directory, rec))
      return err;
    if (std::holds_alternative<tenant_created>(rec))
      st.tenants[tenant_of(rec)].tenant_id = tenant_of(rec);
    else if (std::holds_alternative<tenant_imported>(rec))
      st.tenants[tenant_of(rec)] = empty_tenant(tenant_of(rec));
    else if (std::holds_alternative<tenant_purged>(rec) ||
             std::holds_alternative<tenant_moved_out>(rec))
      st.tenants.erase(tenant_of(rec));
    return {};
  }
  auto i = st.tenants.find(tenant_of(rec));
  if (i == st.tenants.end()) {
    // Records of a purged tenant outlive it in the WAL until truncation.
    if (is_purged(st.directory, tenant_of(rec)))
      return {};
    return corrupt("record of unknown tenant " + tenant_of(rec));
  }
  return wi::apply(i->second, std::forward<Record>(rec));
}

} // namespace

caf::error apply(node_state& st, record&& rec) {
  return apply_node(st, std::move(rec));
}

caf::error apply(node_state& st, const record& rec) {
  return apply_node(st, rec);
}

void add_registry_fields(tenant_summary& summary, const tenant_entry& entry) {
  summary.info = info_of(entry);
  summary.deactivated_at = entry.deactivated_at;
  summary.previous_token_valid_until = entry.previous_valid_until;
}

} // namespace wi
