// The backup's replica store on RocksDB (see replica_store.hpp). Everything
// RocksDB of replication stays in this file.

#include "persistence/replica_store.hpp"

#include <filesystem>
#include <map>
#include <mutex>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>

#include "persistence/binary_format.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::persistence {

namespace {

// -- keys
// -----------------------------------------------------------------------
//
// m/<tenant>                 meta (`replica_info`)
// b/<tenant>                 base: registry entry, snapshot
// r/<tenant>/<be64 seq>      u64 prev_seq + encoded record
// p/<payload key>            payload bytes (payload keys are <tenant>/<...>)
//
// Tenant ids hold no '/', so `<prefix><tenant>/` .. `<prefix><tenant>0`
// ('0' follows '/') is exactly one tenant's range.

std::string meta_key(std::string_view tenant) {
  return "m/" + std::string{tenant};
}

std::string base_key(std::string_view tenant) {
  return "b/" + std::string{tenant};
}

std::string record_prefix(std::string_view tenant) {
  return "r/" + std::string{tenant} + "/";
}

std::string record_key(std::string_view tenant, uint64_t seq) {
  auto key = record_prefix(tenant);
  for (int i = 7; i >= 0; --i)
    key.push_back(static_cast<char>((seq >> (8 * i)) & 0xFFu));
  return key;
}

std::string range_end(std::string prefix) {
  prefix.back() = '0';
  return prefix;
}

uint64_t seq_of_record_key(const rocksdb::Slice& key) {
  uint64_t seq = 0;
  for (size_t i = key.size() - 8; i < key.size(); ++i)
    seq = (seq << 8) | uint64_t{static_cast<uint8_t>(key[i])};
  return seq;
}

std::string encode_info(const replica_info& x) {
  detail::writer w;
  w.u64(x.epoch);
  w.u8(x.has_base ? 1 : 0);
  w.u64(x.covered_seq);
  w.u64(x.last_seq);
  w.u64(x.records);
  w.u8(x.complete ? 1 : 0);
  return std::move(w).take();
}

std::optional<replica_info> decode_info(std::string_view bytes) {
  detail::reader r{bytes};
  replica_info x;
  uint8_t has_base = 0;
  uint8_t complete = 0;
  if (!r.u64(x.epoch) || !r.u8(has_base) || !r.u64(x.covered_seq) ||
      !r.u64(x.last_seq) || !r.u64(x.records) || !r.u8(complete))
    return std::nullopt;
  x.has_base = has_base != 0;
  x.complete = complete != 0;
  return x;
}

rocksdb::Slice slice_of(std::string_view x) {
  return {x.data(), x.size()};
}

caf::error failed(const rocksdb::Status& st, std::string_view what) {
  auto code =
    st.IsCorruption() ? errc::corrupt_data : errc::storage_unavailable;
  return make_error(code, "replica store: " + std::string{what} + ": " +
                            st.ToString());
}

/// Adds the deletion of everything held of `tenant` (base, records,
/// payloads) to `batch`; the meta key is rewritten by the caller.
void forget(rocksdb::WriteBatch& batch, std::string_view tenant) {
  batch.Delete(slice_of(base_key(tenant)));
  auto records = record_prefix(tenant);
  batch.DeleteRange(slice_of(records), slice_of(range_end(records)));
  auto payloads = "p/" + std::string{tenant} + "/";
  batch.DeleteRange(slice_of(payloads), slice_of(range_end(payloads)));
}

} // namespace

struct replica_store::impl {
  std::unique_ptr<rocksdb::DB> db;
  mutable std::mutex mtx;
  /// Every tenant's meta, as stored.
  std::map<std::string, replica_info, std::less<>> infos;

  caf::error commit(rocksdb::WriteBatch& batch, std::string_view what) {
    rocksdb::WriteOptions opts;
    opts.sync = true;
    auto st = db->Write(opts, &batch);
    if (!st.ok())
      return failed(st, what);
    return {};
  }

  /// Checks the records past `info.covered_seq` for a gap (each record's
  /// previous one must be held or covered); updates `last_seq`, `records`
  /// and `complete`.
  caf::error rescan(std::string_view tenant, replica_info& info) const {
    auto prefix = record_prefix(tenant);
    auto end = range_end(prefix);
    rocksdb::ReadOptions opts;
    rocksdb::Slice upper = slice_of(end);
    opts.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it{db->NewIterator(opts)};
    uint64_t expected = info.covered_seq;
    bool chained = info.has_base;
    info.records = 0;
    info.last_seq = info.covered_seq;
    for (it->Seek(slice_of(prefix)); it->Valid(); it->Next()) {
      auto value = it->value();
      if (value.size() < 8)
        return make_error(errc::corrupt_data, "replica store: record of " +
                                                std::string{tenant} +
                                                " without its previous seq");
      detail::reader r{std::string_view{value.data(), 8}};
      uint64_t prev = 0;
      static_cast<void>(r.u64(prev));
      if (prev > expected)
        chained = false;
      expected = seq_of_record_key(it->key());
      info.last_seq = expected;
      ++info.records;
    }
    if (!it->status().ok())
      return failed(it->status(), "scan of " + std::string{tenant});
    info.complete = chained;
    return {};
  }
};

replica_store::replica_store(std::unique_ptr<impl> x) : impl_(std::move(x)) {}

replica_store::~replica_store() = default;

caf::expected<std::vector<slice_result>>
replica_store::write(const std::vector<replica_slice>& slices) {
  std::lock_guard guard{impl_->mtx};
  auto infos = impl_->infos; // changed only once the batch is durable
  rocksdb::WriteBatch batch;
  std::vector<slice_result> results;
  results.reserve(slices.size());
  for (const auto& s : slices) {
    auto it = infos.find(s.tenant);
    if (it != infos.end() && s.epoch < it->second.epoch) {
      results.push_back(slice_result::stale_epoch);
      continue;
    }
    if (it == infos.end() || s.epoch > it->second.epoch) {
      if (it != infos.end())
        forget(batch, s.tenant);
      replica_info fresh;
      fresh.epoch = s.epoch;
      it = infos.insert_or_assign(s.tenant, fresh).first;
    }
    auto& info = it->second;
    auto result = slice_result::stored;
    bool held = info.has_base || info.records > 0;
    if (held && info.has_base && s.prev_seq > info.last_seq) {
      info.complete = false;
      result = slice_result::gap;
    }
    auto prev = s.prev_seq;
    for (const auto& [seq, bytes] : s.records) {
      if (held && seq <= info.last_seq) {
        prev = seq;
        continue;
      }
      detail::writer w;
      w.u64(prev);
      auto value = std::move(w).take();
      value.append(bytes);
      batch.Put(slice_of(record_key(s.tenant, seq)), slice_of(value));
      info.last_seq = seq;
      ++info.records;
      held = true;
      prev = seq;
    }
    for (const auto& [key, value] : s.payloads)
      batch.Put(slice_of("p/" + key), slice_of(value));
    for (const auto& key : s.erased_payloads)
      batch.Delete(slice_of("p/" + key));
    batch.Put(slice_of(meta_key(s.tenant)), slice_of(encode_info(info)));
    results.push_back(result);
  }
  if (batch.Count() > 0) {
    if (auto err = impl_->commit(batch, "write of replicated records"))
      return err;
  }
  impl_->infos = std::move(infos);
  return results;
}

caf::expected<replica_info> replica_store::put_base(const replica_base& base) {
  std::lock_guard guard{impl_->mtx};
  replica_info info;
  if (auto it = impl_->infos.find(base.tenant); it != impl_->infos.end()) {
    if (base.epoch < it->second.epoch)
      return make_error(errc::tenant_unavailable, "tenant",
                        "replica store holds " + base.tenant +
                          " under a newer epoch than " +
                          std::to_string(base.epoch));
    if (base.epoch == it->second.epoch)
      info = it->second;
  }
  rocksdb::WriteBatch batch;
  if (info.epoch != base.epoch) {
    forget(batch, base.tenant);
    info = replica_info{};
    info.epoch = base.epoch;
    info.records = 0;
  } else {
    auto records = record_prefix(base.tenant);
    batch.DeleteRange(slice_of(records),
                      slice_of(record_key(base.tenant, base.covered_seq + 1)));
  }
  detail::writer w;
  w.str(base.registry);
  w.str(base.snapshot);
  batch.Put(slice_of(base_key(base.tenant)), slice_of(std::move(w).take()));
  for (const auto& [key, value] : base.payloads)
    batch.Put(slice_of("p/" + key), slice_of(value));
  if (auto err = impl_->commit(batch, "write of a base"))
    return err;
  info.has_base = true;
  info.covered_seq = base.covered_seq;
  if (auto err = impl_->rescan(base.tenant, info))
    return err;
  rocksdb::WriteBatch meta;
  meta.Put(slice_of(meta_key(base.tenant)), slice_of(encode_info(info)));
  if (auto err = impl_->commit(meta, "write of a base's meta"))
    return err;
  impl_->infos.insert_or_assign(base.tenant, info);
  return info;
}

std::optional<replica_info> replica_store::info(std::string_view tenant) const {
  std::lock_guard guard{impl_->mtx};
  auto it = impl_->infos.find(tenant);
  if (it == impl_->infos.end())
    return std::nullopt;
  return it->second;
}

caf::expected<std::optional<replica_copy>>
replica_store::read(std::string_view tenant) const {
  std::lock_guard guard{impl_->mtx};
  auto it = impl_->infos.find(tenant);
  if (it == impl_->infos.end())
    return std::optional<replica_copy>{};
  replica_copy copy;
  copy.info = it->second;
  copy.base.tenant = std::string{tenant};
  copy.base.epoch = copy.info.epoch;
  copy.base.covered_seq = copy.info.covered_seq;
  auto& db = *impl_->db;
  if (copy.info.has_base) {
    std::string bytes;
    auto st =
      db.Get(rocksdb::ReadOptions{}, slice_of(base_key(tenant)), &bytes);
    if (!st.ok())
      return failed(st, "read of the base of " + std::string{tenant});
    detail::reader r{bytes};
    if (!r.str(copy.base.registry) || !r.str(copy.base.snapshot))
      return make_error(errc::corrupt_data, "replica store: base of " +
                                              std::string{tenant} +
                                              " is malformed");
  }
  auto scan = [&](const std::string& prefix, auto&& each) -> caf::error {
    auto end = range_end(prefix);
    rocksdb::ReadOptions opts;
    rocksdb::Slice upper = slice_of(end);
    opts.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> i{db.NewIterator(opts)};
    for (i->Seek(slice_of(prefix)); i->Valid(); i->Next())
      if (auto err = each(i->key(), i->value()))
        return err;
    if (!i->status().ok())
      return failed(i->status(), "scan of " + std::string{tenant});
    return {};
  };
  auto err = scan(record_prefix(tenant), [&](const rocksdb::Slice& key,
                                             const rocksdb::Slice& value) {
    if (value.size() < 8)
      return make_error(errc::corrupt_data, "replica store: record of " +
                                              std::string{tenant} +
                                              " without its previous seq");
    copy.records.emplace_back(seq_of_record_key(key),
                              std::string{value.data() + 8, value.size() - 8});
    return caf::error{};
  });
  if (err)
    return err;
  err = scan("p/" + std::string{tenant} + "/",
             [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
               copy.base.payloads.emplace_back(
                 std::string{key.data() + 2, key.size() - 2}, value.ToString());
               return caf::error{};
             });
  if (err)
    return err;
  return std::optional<replica_copy>{std::move(copy)};
}

caf::error replica_store::drop(std::string_view tenant) {
  std::lock_guard guard{impl_->mtx};
  rocksdb::WriteBatch batch;
  forget(batch, tenant);
  batch.Delete(slice_of(meta_key(tenant)));
  if (auto err = impl_->commit(batch, "drop of " + std::string{tenant}))
    return err;
  if (auto it = impl_->infos.find(tenant); it != impl_->infos.end())
    impl_->infos.erase(it);
  return {};
}

std::vector<std::string> replica_store::tenants() const {
  std::lock_guard guard{impl_->mtx};
  std::vector<std::string> result;
  result.reserve(impl_->infos.size());
  for (const auto& [tenant, info] : impl_->infos)
    result.push_back(tenant);
  return result;
}

caf::expected<std::unique_ptr<replica_store>>
open_replica_store(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(errc::storage_unavailable,
                      "cannot create replica store " + dir + ": " +
                        ec.message());
  rocksdb::Options opts;
  opts.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opts, dir, &raw);
  if (!st.ok())
    return failed(st, "open of " + dir);
  auto x = std::make_unique<replica_store::impl>();
  x->db.reset(raw);
  rocksdb::ReadOptions ropts;
  std::string prefix = "m/";
  auto end = range_end(prefix);
  rocksdb::Slice upper = slice_of(end);
  ropts.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it{x->db->NewIterator(ropts)};
  for (it->Seek(slice_of(prefix)); it->Valid(); it->Next()) {
    auto info = decode_info({it->value().data(), it->value().size()});
    if (!info)
      return make_error(errc::corrupt_data, "replica store " + dir +
                                              ": malformed meta of " +
                                              it->key().ToString().substr(2));
    x->infos.emplace(it->key().ToString().substr(2), *info);
  }
  if (!it->status().ok())
    return failed(it->status(), "scan of " + dir);
  it.reset();
  return std::make_unique<replica_store>(std::move(x));
}

} // namespace wi::persistence
