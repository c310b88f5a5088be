#include "actors/directory_state.hpp"

#include <variant>

#include "webhook_ingress/error.hpp"

namespace wi {

caf::error apply(directory_state& st, const record& rec) {
  const auto* created = std::get_if<tenant_created>(&rec);
  if (created == nullptr)
    return make_error(errc::corrupt_data, "wal",
                      "not a directory-level record");
  tenant_entry entry{created->tenant_id, created->name, created->token_hash,
                     created->at, true};
  if (!st.tenants.emplace(created->tenant_id, std::move(entry)).second)
    return make_error(errc::corrupt_data, "wal",
                      "tenant " + created->tenant_id + " created twice");
  return {};
}

tenant_info info_of(const tenant_entry& x) {
  return tenant_info{x.id, x.name, x.created_at, x.active, {}};
}

namespace {

template <class Record>
caf::error apply_node(node_state& st, Record&& rec) {
  if (std::holds_alternative<tenant_created>(rec)) {
    if (auto err = wi::apply(st.directory, rec))
      return err;
    st.tenants[tenant_of(rec)].tenant_id = tenant_of(rec);
    return {};
  }
  auto i = st.tenants.find(tenant_of(rec));
  if (i == st.tenants.end())
    return make_error(errc::corrupt_data, "wal",
                      "record of unknown tenant " + tenant_of(rec));
  return wi::apply(i->second, std::forward<Record>(rec));
}

} // namespace

caf::error apply(node_state& st, record&& rec) {
  return apply_node(st, std::move(rec));
}

caf::error apply(node_state& st, const record& rec) {
  return apply_node(st, rec);
}

} // namespace wi
