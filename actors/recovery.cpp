#include "actors/recovery.hpp"

#include <algorithm>
#include <string>

#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

caf::error at(const std::string& where, const caf::error& err) {
  return make_error(errc::corrupt_data, "wal", where + ": " + text_of(err));
}

/// Loads one snapshot into `st`; returns what it covers via `covered`.
caf::error load_snapshot(node_state& st, std::string_view owner,
                         uint64_t covered, std::string_view bytes) {
  auto where = "snapshot of " + std::string{owner};
  if (owner == directory_owner) {
    auto dir = persistence::decode_directory_snapshot(bytes);
    if (!dir)
      return at(where, dir.error());
    st.directory = std::move(*dir);
  } else {
    auto tenant = persistence::decode_tenant_snapshot(bytes);
    if (!tenant)
      return at(where, tenant.error());
    if (tenant->tenant_id != owner)
      return make_error(errc::corrupt_data, "wal",
                        where + " holds tenant " + tenant->tenant_id);
    st.tenants[std::string{owner}] = std::move(*tenant);
  }
  st.logs[std::string{owner}].last_seq = covered;
  st.last_snapshot_sequence = std::max(st.last_snapshot_sequence, covered);
  return {};
}

} // namespace

caf::expected<node_state> recover(persistence::storage& store) {
  node_state st;
  auto on_snapshot = [&st](std::string_view owner, uint64_t covered,
                           std::string_view bytes) {
    return load_snapshot(st, owner, covered, bytes);
  };
  if (auto err = store.load_snapshots(on_snapshot))
    return err;
  // Tenants registered before the directory's snapshot have no record left
  // in the WAL that would create their state. A purged tenant's snapshot
  // may outlive its purge (its deletion is not synced): it is dropped.
  for (const auto& [id, entry] : st.directory.tenants) {
    if (entry.purged)
      st.tenants.erase(id);
    else
      st.tenants[id].tenant_id = id;
  }
  auto on_record = [&st](uint64_t seq, std::string_view bytes) -> caf::error {
    auto where = [seq] { return "WAL record " + std::to_string(seq); };
    auto rec = persistence::decode(bytes);
    if (!rec)
      return at(where(), rec.error());
    st.last_sequence = seq;
    auto owner = wal_owner(*rec);
    auto i = st.logs.find(owner);
    if (i == st.logs.end())
      i = st.logs.emplace(std::string{owner}, owner_log{}).first;
    auto& log = i->second;
    if (seq <= log.last_seq)
      return {}; // covered by the owner's snapshot
    if (auto err = wi::apply(st, std::move(*rec)))
      return at(where(), err);
    log.last_seq = seq;
    log.uncovered.push_back(seq);
    return {};
  };
  if (auto err = store.replay(store.first_sequence(), on_record))
    return err;
  // Nothing of a purged tenant is needed any more: its WAL records must not
  // hold back truncation.
  for (const auto& [id, entry] : st.directory.tenants)
    if (entry.purged)
      st.logs.erase(id);
  return st;
}

} // namespace wi
