#include "persistence/wal_reader.hpp"

#include <algorithm>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "webhook_ingress/error.hpp"

namespace wi::persistence {

namespace {

struct wal_reader_state {
  std::shared_ptr<storage> store;
  static inline const char* name = "wi.wal_reader";
};

/// Records read per `storage::read_wal` call: bounds what one call holds
/// besides the result.
constexpr size_t read_chunk = 4096;

/// Reads every list of `lists` (see `spawn_wal_reader`).
caf::expected<std::vector<std::string>>
read_lists(storage& store, const std::vector<std::vector<uint64_t>>& lists) {
  struct slot {
    uint64_t seq;
    size_t list;
  };
  std::vector<slot> order;
  for (size_t i = 0; i < lists.size(); ++i)
    for (auto seq : lists[i])
      order.push_back(slot{seq, i});
  // Each list is ascending, so a stable sort keeps every list's records in
  // its order.
  std::stable_sort(order.begin(), order.end(),
                   [](const slot& x, const slot& y) { return x.seq < y.seq; });
  std::vector<std::string> out(lists.size());
  std::vector<uint64_t> seqs;
  for (size_t first = 0; first < order.size(); first += read_chunk) {
    auto last = std::min(order.size(), first + read_chunk);
    seqs.clear();
    for (auto k = first; k < last; ++k)
      seqs.push_back(order[k].seq);
    auto bytes = store.read_wal(seqs);
    if (!bytes)
      return bytes.error();
    for (auto k = first; k < last; ++k)
      pack_record(out[order[k].list], (*bytes)[k - first]);
  }
  return out;
}

wal_reader_actor::behavior_type
wal_reader(wal_reader_actor::stateful_pointer<wal_reader_state> self,
           std::shared_ptr<storage> store) {
  self->state.store = std::move(store);
  return {
    [self](read_atom, const std::vector<std::vector<uint64_t>>& lists)
      -> caf::result<std::vector<std::string>> {
      auto out = read_lists(*self->state.store, lists);
      if (!out)
        return out.error();
      return std::move(*out);
    },
    [self](read_atom, get_atom, const std::vector<std::string>& keys)
      -> caf::result<std::vector<std::pair<std::string, std::string>>> {
      std::vector<std::pair<std::string, std::string>> out;
      out.reserve(keys.size());
      for (const auto& key : keys) {
        auto value = self->state.store->get_payload(key);
        if (!value)
          return value.error();
        if (*value)
          out.emplace_back(key, std::move(**value));
      }
      return out;
    },
  };
}

} // namespace

void pack_record(std::string& packed, std::string_view record) {
  auto n = static_cast<uint32_t>(record.size()); // WAL values are < 4 GiB
  char head[4];
  for (size_t i = 0; i < 4; ++i)
    head[i] = static_cast<char>((n >> (8 * i)) & 0xFFu);
  packed.append(head, sizeof(head));
  packed.append(record);
}

caf::error
for_each_packed(std::string_view packed,
                const std::function<caf::error(std::string_view)>& f) {
  while (!packed.empty()) {
    if (packed.size() < 4)
      return make_error(errc::internal, "a packed record list is truncated");
    size_t n = 0;
    for (size_t i = 0; i < 4; ++i)
      n |= size_t{static_cast<uint8_t>(packed[i])} << (8 * i);
    packed.remove_prefix(4);
    if (packed.size() < n)
      return make_error(errc::internal, "a packed record list is truncated");
    if (auto err = f(packed.substr(0, n)))
      return err;
    packed.remove_prefix(n);
  }
  return {};
}

caf::expected<std::string> read_packed(storage& store,
                                       const std::vector<uint64_t>& seqs) {
  auto records = store.read_wal(seqs);
  if (!records)
    return records.error();
  std::string packed;
  for (const auto& bytes : *records)
    pack_record(packed, bytes);
  return packed;
}

wal_reader_actor spawn_wal_reader(caf::actor_system& sys,
                                  std::shared_ptr<storage> store) {
  return sys.spawn<caf::detached>(wal_reader, std::move(store));
}

} // namespace wi::persistence
