#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "persistence/storage.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::persistence {

// All members are guarded by `mtx`. `replay` copies the matching records
// under the lock and calls `f` without it, so `f` may call back into the
// storage (as it may with the RocksDB backend) without deadlocking.
struct memory_storage::impl {
  mutable std::mutex mtx;
  bool fail_writes = false;
  uint64_t batches = 0;
  uint64_t last_seq = 0;
  std::map<uint64_t, std::string> wal;
  std::map<std::string, std::string, std::less<>> meta;
  std::map<std::string, std::string, std::less<>> payloads;
  /// owner -> (covered sequence, bytes)
  std::map<std::string, std::pair<uint64_t, std::string>, std::less<>>
    snapshots;
};

namespace {

caf::error missing_wal_record(uint64_t seq) {
  return make_error(errc::corrupt_data,
                    "WAL record " + std::to_string(seq) + " is missing");
}

caf::error write_failure() {
  return make_error(errc::storage_unavailable,
                    "injected write failure (memory_storage::fail_writes)");
}

} // namespace

memory_storage::memory_storage() : impl_(std::make_unique<impl>()) {}

memory_storage::~memory_storage() = default;

void memory_storage::fail_writes(bool on) {
  std::lock_guard guard{impl_->mtx};
  impl_->fail_writes = on;
}

uint64_t memory_storage::batches() const {
  std::lock_guard guard{impl_->mtx};
  return impl_->batches;
}

caf::expected<uint64_t>
storage::append_with_payloads(const std::vector<std::string>& records,
                              const std::vector<payload_put>& payloads) {
  if (!payloads.empty())
    return make_error(errc::internal, "this storage keeps no payloads");
  return append(records);
}

caf::expected<std::optional<std::string>>
storage::get_payload(std::string_view) {
  return std::optional<std::string>{};
}

caf::expected<std::vector<std::string>>
storage::read_wal(const std::vector<uint64_t>& seqs) {
  std::vector<std::string> out;
  if (seqs.empty())
    return out;
  out.reserve(seqs.size());
  auto next = seqs.begin();
  auto err = replay(*next, [&](uint64_t seq, std::string_view bytes) {
    if (next != seqs.end() && seq == *next) {
      out.emplace_back(bytes);
      ++next;
    }
    return caf::error{};
  });
  if (err)
    return err;
  if (next != seqs.end())
    return missing_wal_record(*next);
  return out;
}

caf::expected<uint64_t>
memory_storage::append(const std::vector<std::string>& records) {
  return append_with_payloads(records, {});
}

caf::expected<uint64_t>
memory_storage::append_with_payloads(const std::vector<std::string>& records,
                                     const std::vector<payload_put>& payloads) {
  std::lock_guard guard{impl_->mtx};
  if (impl_->fail_writes)
    return write_failure();
  auto first = impl_->last_seq + 1;
  for (const auto& x : records)
    impl_->wal.emplace(++impl_->last_seq, x);
  for (const auto& p : payloads)
    if (p.erase)
      impl_->payloads.erase(p.key);
    else
      impl_->payloads.insert_or_assign(p.key, p.value);
  ++impl_->batches;
  return first;
}

caf::error memory_storage::replay(
  uint64_t from,
  const std::function<caf::error(uint64_t, std::string_view)>& f) {
  std::vector<std::pair<uint64_t, std::string>> selected;
  {
    std::lock_guard guard{impl_->mtx};
    for (auto i = impl_->wal.lower_bound(from); i != impl_->wal.end(); ++i)
      selected.emplace_back(*i);
  }
  for (const auto& [seq, bytes] : selected)
    if (auto err = f(seq, bytes))
      return err;
  return caf::none;
}

caf::expected<std::vector<std::string>>
memory_storage::read_wal(const std::vector<uint64_t>& seqs) {
  std::lock_guard guard{impl_->mtx};
  std::vector<std::string> out;
  out.reserve(seqs.size());
  for (auto seq : seqs) {
    auto i = impl_->wal.find(seq);
    if (i == impl_->wal.end())
      return missing_wal_record(seq);
    out.push_back(i->second);
  }
  return out;
}

uint64_t memory_storage::last_sequence() const {
  std::lock_guard guard{impl_->mtx};
  return impl_->last_seq;
}

caf::expected<std::optional<std::string>>
memory_storage::get_payload(std::string_view key) {
  std::lock_guard guard{impl_->mtx};
  if (auto i = impl_->payloads.find(key); i != impl_->payloads.end())
    return std::optional<std::string>{i->second};
  return std::optional<std::string>{};
}

uint64_t memory_storage::first_sequence() const {
  std::lock_guard guard{impl_->mtx};
  return impl_->wal.empty() ? impl_->last_seq + 1 : impl_->wal.begin()->first;
}

caf::error memory_storage::truncate_wal(uint64_t below) {
  std::lock_guard guard{impl_->mtx};
  if (impl_->fail_writes)
    return write_failure();
  below = std::min(below, impl_->last_seq); // keep the newest record
  impl_->wal.erase(impl_->wal.begin(), impl_->wal.lower_bound(below));
  return caf::none;
}

caf::error memory_storage::put_snapshot(std::string_view owner,
                                        uint64_t covered_seq,
                                        std::string_view bytes) {
  std::lock_guard guard{impl_->mtx};
  if (impl_->fail_writes)
    return write_failure();
  impl_->snapshots.insert_or_assign(
    std::string{owner}, std::make_pair(covered_seq, std::string{bytes}));
  return caf::none;
}

caf::error memory_storage::purge_owner(std::string_view owner) {
  std::lock_guard guard{impl_->mtx};
  if (impl_->fail_writes)
    return write_failure();
  if (auto i = impl_->snapshots.find(owner); i != impl_->snapshots.end())
    impl_->snapshots.erase(i);
  auto prefix = std::string{owner} + '/';
  auto& pl = impl_->payloads;
  auto first = pl.lower_bound(prefix);
  auto last = first;
  while (last != pl.end() && last->first.compare(0, prefix.size(), prefix) == 0)
    ++last;
  pl.erase(first, last);
  return caf::none;
}

caf::error memory_storage::load_snapshots(
  const std::function<caf::error(std::string_view, uint64_t, std::string_view)>&
    f) {
  decltype(impl_->snapshots) copy;
  {
    std::lock_guard guard{impl_->mtx};
    copy = impl_->snapshots;
  }
  for (const auto& [owner, snap] : copy)
    if (auto err = f(owner, snap.first, snap.second))
      return err;
  return caf::none;
}

caf::expected<std::optional<std::string>>
memory_storage::get_meta(std::string_view key) {
  std::lock_guard guard{impl_->mtx};
  if (auto i = impl_->meta.find(key); i != impl_->meta.end())
    return std::optional<std::string>{i->second};
  return std::optional<std::string>{};
}

caf::error memory_storage::put_meta(std::string_view key,
                                    std::string_view value) {
  std::lock_guard guard{impl_->mtx};
  if (impl_->fail_writes)
    return write_failure();
  impl_->meta.insert_or_assign(std::string{key}, std::string{value});
  return caf::none;
}

} // namespace wi::persistence
