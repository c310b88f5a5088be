#include "actors/directory/recovery.hpp"

#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "persistence/wal_reader.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

caf::error at(const std::string& where, const caf::error& err) {
  return make_error(errc::corrupt_data, "wal", where + ": " + text_of(err));
}

/// Loads one snapshot into `st`: the registry is decoded, a tenant's is
/// checked and kept as bytes.
caf::error load_snapshot(node_state& st, std::string_view owner,
                         uint64_t covered, std::string_view bytes) {
  auto where = [owner] { return "snapshot of " + std::string{owner}; };
  if (owner == directory_owner) {
    auto dir = persistence::decode_directory_snapshot(bytes);
    if (!dir)
      return at(where(), dir.error());
    st.directory = std::move(*dir);
  } else {
    auto summary = persistence::check_tenant_snapshot(bytes);
    if (!summary)
      return at(where(), summary.error());
    if (summary->tenant_id != owner)
      return make_error(errc::corrupt_data, "wal",
                        where() + " holds tenant " + summary->tenant_id);
    auto& stored = st.stored[std::string{owner}];
    stored.snapshot.assign(bytes);
    stored.may_have_pending = summary->pending > 0;
  }
  st.logs[std::string{owner}].last_seq = covered;
  st.last_snapshot_sequence = std::max(st.last_snapshot_sequence, covered);
  return {};
}

/// Whether a record of this kind may leave a delivery pending.
bool may_leave_pending(const record& rec) {
  return !std::holds_alternative<endpoint_created>(rec) &&
         !std::holds_alternative<endpoint_status_changed>(rec) &&
         !std::holds_alternative<history_pruned>(rec) &&
         !std::holds_alternative<tenant_limits_set>(rec);
}

} // namespace

caf::expected<node_state> load_node(persistence::storage& store) {
  node_state st;
  auto on_snapshot = [&st](std::string_view owner, uint64_t covered,
                           std::string_view bytes) {
    return load_snapshot(st, owner, covered, bytes);
  };
  if (auto err = store.load_snapshots(on_snapshot))
    return err;
  // Per owner, where its records go; keyed by views of the keys of
  // `st.logs` (nodes do not move), so each record costs one look-up.
  struct cursor {
    owner_log* log = nullptr;
    stored_tenant* stored = nullptr; // null for the directory
    uint64_t covered = 0;            // by the owner's snapshot
    /// Records of a tenant that moved out before the registry snapshot
    /// (so unregistered, without a stored state): skipped.
    bool ignored = false;
  };
  std::unordered_map<std::string_view, cursor, transparent_hash> cursors;
  uint64_t directory_covered = 0;
  if (auto i = st.logs.find(directory_owner); i != st.logs.end())
    directory_covered = i->second.last_seq;
  auto cursor_of = [&st, &cursors,
                    directory_covered](std::string_view owner,
                                       uint64_t seq) -> caf::expected<cursor*> {
    if (auto i = cursors.find(owner); i != cursors.end())
      return &i->second;
    auto log = st.logs.find(owner);
    if (log == st.logs.end())
      log = st.logs.emplace(std::string{owner}, owner_log{}).first;
    cursor c{&log->second, nullptr, log->second.last_seq};
    if (owner != directory_owner) {
      auto t = st.stored.find(owner);
      if (t == st.stored.end()) {
        // A tenant without a snapshot must have been registered first.
        if (st.directory.tenants.count(log->first) == 0) {
          // A move-out the registry snapshot covers leaves no entry; the
          // tenant's older records may still be in the WAL.
          if (seq > directory_covered)
            return make_error(errc::corrupt_data, "wal",
                              "record of unknown tenant " + log->first);
          cursor ignored{&log->second, nullptr, 0, true};
          return &cursors.emplace(log->first, ignored).first->second;
        }
        t = st.stored.emplace(log->first, stored_tenant{}).first;
      }
      c.stored = &t->second;
    }
    return &cursors.emplace(log->first, c).first->second;
  };
  // Each record is format-checked by decoding it into a scratch record (in
  // place: rarely an allocation); only registrations are applied. Of a
  // tenant's records only the sequence number is kept: copying 1M records'
  // bytes (and faulting in the memory for them) cost more than reading them
  // (docs/benchmarks.md, restart).
  record scratch;
  auto on_record = [&st, &scratch, &cursor_of, &cursors](
                     uint64_t seq, std::string_view bytes) -> caf::error {
    auto where = [seq] { return "WAL record " + std::to_string(seq); };
    if (auto err = persistence::decode_into(bytes, scratch))
      return at(where(), err);
    st.last_sequence = seq;
    auto found = cursor_of(wal_owner(scratch), seq);
    if (!found)
      return at(where(), found.error());
    auto& c = **found;
    if (c.ignored || seq <= c.covered)
      return {}; // covered by the owner's snapshot
    if (c.stored != nullptr) {
      if (auto* imported = std::get_if<tenant_state_imported>(&scratch)) {
        // The tenant's state starts over here: what came before it (an
        // earlier life on this node, an uncommitted import) no longer
        // counts; the record itself is the state (it stays uncovered until
        // the tenant's next snapshot).
        auto summary = persistence::check_tenant_snapshot(imported->snapshot);
        if (!summary)
          return at(where(), summary.error());
        if (summary->tenant_id != imported->tenant_id)
          return make_error(errc::corrupt_data, "wal",
                            where() + ": imported state holds tenant " +
                              summary->tenant_id);
        *c.stored = stored_tenant{};
        c.stored->may_have_pending = summary->pending > 0;
        c.log->uncovered.clear();
      } else {
        c.stored->may_have_pending |= may_leave_pending(scratch);
      }
    } else if (auto err = wi::apply(st.directory, scratch)) {
      return at(where(), err);
    } else if (auto* gone = std::get_if<tenant_moved_out>(&scratch)) {
      // Nothing of the tenant's earlier records or snapshot counts any more.
      cursors.erase(std::string_view{gone->tenant_id});
      st.stored.erase(gone->tenant_id);
      st.logs.erase(gone->tenant_id);
    } else if (std::holds_alternative<tenant_imported>(scratch)) {
      cursors.erase(std::string_view{tenant_of(scratch)}); // registered now
    }
    c.log->last_seq = seq;
    c.log->uncovered.push_back(seq);
    return {};
  };
  if (auto err = store.replay(store.first_sequence(), on_record))
    return err;
  // Nothing of a purged tenant is kept: its snapshot may outlive the purge
  // (the deletion is not synced), and its records stay in the WAL until
  // truncation; they must not hold truncation back either.
  for (const auto& [id, entry] : st.directory.tenants) {
    if (entry.purged) {
      st.stored.erase(id);
      st.logs.erase(id);
    }
  }
  // Nor of a tenant that moved out (no registry entry): a snapshot its
  // deletion left behind (not synced either), or records older than the
  // registry snapshot that recorded the move-out.
  for (auto i = st.stored.begin(); i != st.stored.end();)
    i = st.directory.tenants.count(i->first) == 0 ? st.stored.erase(i)
                                                  : std::next(i);
  for (auto i = st.logs.begin(); i != st.logs.end();)
    i = i->first != directory_owner && st.directory.tenants.count(i->first) == 0
          ? st.logs.erase(i)
          : std::next(i);
  return st;
}

caf::error materialise_all(node_state& st, persistence::storage& store) {
  for (auto i = st.stored.begin(); i != st.stored.end();) {
    const auto& seqs = st.logs[i->first].uncovered;
    auto records = persistence::read_packed(store, seqs);
    if (!records)
      return records.error();
    i->second.records = std::move(*records);
    auto decoded = materialise(i->first, i->second, seqs);
    if (!decoded)
      return decoded.error();
    st.tenants[i->first] = std::move(*decoded);
    i = st.stored.erase(i);
  }
  // Tenants registered before the directory's snapshot have no record left
  // in the WAL that would create their state. Purged tenants have none.
  for (const auto& [id, entry] : st.directory.tenants)
    if (!entry.purged)
      st.tenants[id].tenant_id = id;
  return {};
}

caf::expected<node_state> recover(persistence::storage& store) {
  auto st = load_node(store);
  if (!st)
    return st;
  if (auto err = materialise_all(*st, store))
    return err;
  return st;
}

} // namespace wi
