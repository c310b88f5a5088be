#include "actors/recovery.hpp"

#include <string>
#include <variant>

#include "actors/scan_pipeline.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
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
  return {};
}

/// Whether a record of this kind may leave a delivery pending.
bool may_leave_pending(const record& rec) {
  return !std::holds_alternative<endpoint_created>(rec) &&
         !std::holds_alternative<endpoint_status_changed>(rec);
}

} // namespace

caf::expected<node_state> load_node(persistence::storage& store) {
  node_state st;
  // Both scans read on this thread and hand what they read to a second
  // one, which checks snapshots and groups records by owner.
  auto snapshots = [&store](const auto& push) {
    return store.load_snapshots([&push](std::string_view owner,
                                        uint64_t covered,
                                        std::string_view bytes) {
      return push(scan_entry{covered, 0, owner, bytes});
    });
  };
  auto on_snapshot = [&st](const scan_entry& x) {
    return load_snapshot(st, x.key, x.number, x.value);
  };
  if (auto err = scan_pipelined(snapshots, on_snapshot))
    return err;
  // The WAL: each record is format-checked where it is read, by decoding it
  // into a scratch record (in place: rarely an allocation), and handed over
  // with its owner.
  record scratch;
  auto wal = [&store, &scratch](const auto& push) {
    auto check = [&push, &scratch](uint64_t seq,
                                   std::string_view bytes) -> caf::error {
      if (auto err = persistence::decode_into(bytes, scratch))
        return at("WAL record " + std::to_string(seq), err);
      uint32_t note = may_leave_pending(scratch) ? 1 : 0;
      return push(scan_entry{seq, note, wal_owner(scratch), bytes});
    };
    return store.replay(store.first_sequence(), check);
  };
  // Per owner, where its records go; keyed by views of the keys of
  // `st.logs` (nodes do not move), so each record costs one look-up.
  struct cursor {
    owner_log* log = nullptr;
    stored_tenant* stored = nullptr; // null for the directory
  };
  std::unordered_map<std::string_view, cursor, transparent_hash> cursors;
  auto cursor_of = [&st,
                    &cursors](std::string_view owner) -> caf::expected<cursor> {
    if (auto i = cursors.find(owner); i != cursors.end())
      return i->second;
    auto log = st.logs.find(owner);
    if (log == st.logs.end())
      log = st.logs.emplace(std::string{owner}, owner_log{}).first;
    cursor c{&log->second, nullptr};
    if (owner != directory_owner) {
      auto t = st.stored.find(owner);
      if (t == st.stored.end()) {
        // A tenant without a snapshot must have been registered first.
        if (st.directory.tenants.count(log->first) == 0)
          return make_error(errc::corrupt_data, "wal",
                            "record of unknown tenant " + log->first);
        t = st.stored.emplace(log->first, stored_tenant{}).first;
      }
      c.stored = &t->second;
    }
    cursors.emplace(log->first, c);
    return c;
  };
  auto on_record = [&st, &cursor_of](const scan_entry& x) -> caf::error {
    auto where = [&x] { return "WAL record " + std::to_string(x.number); };
    st.last_sequence = x.number;
    auto c = cursor_of(x.key);
    if (!c)
      return at(where(), c.error());
    if (x.number <= c->log->last_seq)
      return {};                // covered by the owner's snapshot
    if (c->stored == nullptr) { // a registration: decoded for the registry
      auto rec = persistence::decode(x.value);
      if (!rec)
        return at(where(), rec.error());
      if (auto err = wi::apply(st.directory, *rec))
        return at(where(), err);
    } else {
      add_record(*c->stored, x.value);
      c->stored->may_have_pending |= x.note != 0;
    }
    c->log->last_seq = x.number;
    c->log->uncovered.push_back(x.number);
    return {};
  };
  if (auto err = scan_pipelined(wal, on_record))
    return err;
  return st;
}

caf::error materialise_all(node_state& st) {
  static const owner_log no_log;
  for (auto i = st.stored.begin(); i != st.stored.end();) {
    auto log = st.logs.find(i->first);
    const auto& seqs =
      log == st.logs.end() ? no_log.uncovered : log->second.uncovered;
    auto decoded = materialise(i->first, i->second, seqs);
    if (!decoded)
      return decoded.error();
    st.tenants[i->first] = std::move(*decoded);
    i = st.stored.erase(i);
  }
  // Tenants registered before the directory's snapshot have no record left
  // in the WAL that would create their state.
  for (const auto& [id, entry] : st.directory.tenants)
    st.tenants[id].tenant_id = id;
  return {};
}

caf::expected<node_state> recover(persistence::storage& store) {
  auto st = load_node(store);
  if (!st)
    return st;
  if (auto err = materialise_all(*st))
    return err;
  return st;
}

} // namespace wi
