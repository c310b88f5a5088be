// The RocksDB backend of `storage`. Everything RocksDB stays in this file:
// each `rocksdb::Status` is converted to a `wi::errc` value here.

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>

#include "persistence/storage.hpp"
#include "webhook_ingress/error.hpp"

namespace fs = std::filesystem;

namespace wi::persistence {

namespace {

// -- layout -------------------------------------------------------------------

/// The schema this code reads and writes; stored under `meta/schema_version`.
constexpr std::string_view schema_version = "1";
constexpr std::string_view schema_version_key = "schema_version";

/// Column families by index; `handles_` uses the same order.
enum cf : size_t { cf_default, cf_wal, cf_snapshot, cf_payload, cf_meta };

constexpr std::array<std::string_view, 5> cf_names = {
  "default", "wal", "snapshot", "payload", "meta"};

/// WAL keys are big-endian u64 sequence numbers: RocksDB's bytewise order is
/// then the numeric order.
using wal_key = std::array<char, 8>;

wal_key make_wal_key(uint64_t seq) {
  wal_key out;
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>((seq >> (8 * (7 - i))) & 0xFFu);
  return out;
}

rocksdb::Slice to_slice(const wal_key& x) {
  return {x.data(), x.size()};
}

rocksdb::Slice to_slice(std::string_view x) {
  return {x.data(), x.size()};
}

/// Parses a WAL key; `false` if it is not 8 bytes.
bool parse_wal_key(const rocksdb::Slice& key, uint64_t& seq) {
  if (key.size() != sizeof(uint64_t))
    return false;
  seq = 0;
  for (size_t i = 0; i < key.size(); ++i)
    seq = (seq << 8) | uint64_t{static_cast<uint8_t>(key[i])};
  return true;
}

// -- options ------------------------------------------------------------------

/// Options shared by every open. Kept close to RocksDB's defaults; each
/// deviation says why.
rocksdb::DBOptions make_db_options() {
  rocksdb::DBOptions opts;
  // One flush and one compaction at a time: the WAL is append-only and the
  // machine is small; more jobs would only compete with request handling.
  opts.max_background_jobs = 2;
  // RocksDB's own info LOG files: keep a few for diagnosis, not 1000.
  opts.keep_log_file_num = 5;
  opts.max_log_file_size = 16 << 20;
  // Default kept on purpose: kPointInTimeRecovery. Every acknowledged write
  // is synced, so after a crash only an unacknowledged torn tail is dropped.
  opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  return opts;
}

rocksdb::ColumnFamilyOptions make_cf_options() {
  rocksdb::ColumnFamilyOptions opts;
  // Records are small and mostly read once at replay: compression would cost
  // CPU on the write path for little space.
  opts.compression = rocksdb::kNoCompression;
  // 4 families x 2 buffers x 16 MiB bounds memtable memory at 128 MiB
  // (RocksDB's default is 64 MiB per buffer).
  opts.write_buffer_size = 16 << 20;
  return opts;
}

std::vector<rocksdb::ColumnFamilyDescriptor> make_descriptors() {
  std::vector<rocksdb::ColumnFamilyDescriptor> out;
  auto opts = make_cf_options();
  for (auto name : cf_names)
    out.emplace_back(std::string{name}, opts);
  return out;
}

// -- errors -------------------------------------------------------------------

caf::error unavailable(std::string text) {
  return make_error(errc::storage_unavailable, std::move(text));
}

caf::error corrupt(std::string text) {
  return make_error(errc::corrupt_data, std::move(text));
}

/// Converts a failed status of an operation on an open store: corruption is
/// `corrupt_data`, everything else (I/O errors, no space, busy, a DB stuck in
/// a background error) is `storage_unavailable`.
caf::error from_status(const rocksdb::Status& st, std::string_view what) {
  auto text = std::string{what} + ": " + st.ToString();
  if (st.IsCorruption())
    return corrupt(std::move(text));
  return unavailable(std::move(text));
}

/// True if `st` says another DB instance holds the directory's LOCK file:
/// another process (fcntl lock refused) or this one (RocksDB's own table of
/// locked files).
bool is_lock_conflict(const rocksdb::Status& st) {
  if (!st.IsIOError())
    return false;
  auto text = st.ToString();
  return text.find("lock hold by current process") != std::string::npos ||
         (text.find("While lock file") != std::string::npos &&
          (text.find("Resource temporarily unavailable") != std::string::npos ||
           text.find("No locks available") != std::string::npos));
}

/// Converts a failed `DB::Open` or `ListColumnFamilies`.
caf::error from_open_status(const rocksdb::Status& st, const std::string& dir) {
  if (is_lock_conflict(st))
    return unavailable("data directory " + dir +
                       " is in use by another process");
  if (st.IsCorruption() || st.IsInvalidArgument() || st.IsPathNotFound())
    return corrupt(dir + " is not a readable webhook-ingress data directory: " +
                   st.ToString());
  return unavailable("cannot open data directory " + dir + ": " +
                     st.ToString());
}

// -- the storage --------------------------------------------------------------

class rocksdb_storage final : public storage {
 public:
  /// Takes ownership of an open DB and its handles (in `cf_names` order).
  rocksdb_storage(std::string dir, std::unique_ptr<rocksdb::DB> db,
                  std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : dir_(std::move(dir)), db_(std::move(db)), handles_(std::move(handles)) {
    sync_opts_.sync = true;
  }

  rocksdb_storage(const rocksdb_storage&) = delete;
  rocksdb_storage& operator=(const rocksdb_storage&) = delete;

  ~rocksdb_storage() override {
    for (auto* h : handles_)
      static_cast<void>(db_->DestroyColumnFamilyHandle(h));
    // Every acknowledged write is already synced; a failing Close (e.g. after
    // a background error) loses nothing acknowledged and has nobody to
    // report to, so its status is dropped on purpose.
    static_cast<void>(db_->Close());
  }

  /// Reads the newest WAL key into the sequence counter.
  [[nodiscard]] caf::error load_last_sequence() {
    std::unique_ptr<rocksdb::Iterator> it{
      db_->NewIterator(rocksdb::ReadOptions{}, handles_[cf_wal])};
    it->SeekToLast();
    uint64_t seq = 0;
    if (it->Valid() && !parse_wal_key(it->key(), seq))
      return corrupt(dir_ + ": malformed WAL key");
    if (auto st = it->status(); !st.ok())
      return from_status(st, "reading the WAL of " + dir_);
    last_.store(seq);
    it->SeekToFirst();
    uint64_t first = seq + 1;
    if (it->Valid() && !parse_wal_key(it->key(), first))
      return corrupt(dir_ + ": malformed WAL key");
    first_.store(first);
    return caf::none;
  }

  caf::expected<uint64_t>
  append(const std::vector<std::string>& records) override {
    auto first = last_.load() + 1;
    if (records.empty())
      return first; // Nothing to write; the counter does not move.
    if (auto err = resume_if_needed())
      return err;
    rocksdb::WriteBatch batch;
    auto seq = first;
    for (const auto& x : records) {
      auto key = make_wal_key(seq++);
      if (auto st = batch.Put(handles_[cf_wal], to_slice(key), to_slice(x));
          !st.ok())
        return from_status(st, "building a WAL batch");
    }
    if (auto st = db_->Write(sync_opts_, &batch); !st.ok()) {
      needs_resume_ = true;
      return unavailable("WAL write to " + dir_ + " failed: " + st.ToString());
    }
    last_.store(seq - 1);
    return first;
  }

  caf::error replay(
    uint64_t from,
    const std::function<caf::error(uint64_t, std::string_view)>& f) override {
    std::unique_ptr<rocksdb::Iterator> it{
      db_->NewIterator(rocksdb::ReadOptions{}, handles_[cf_wal])};
    auto start = make_wal_key(from);
    for (it->Seek(to_slice(start)); it->Valid(); it->Next()) {
      uint64_t seq = 0;
      if (!parse_wal_key(it->key(), seq))
        return corrupt(dir_ + ": malformed WAL key");
      auto value = it->value();
      if (auto err = f(seq, std::string_view{value.data(), value.size()}))
        return err;
    }
    if (auto st = it->status(); !st.ok())
      return from_status(st, "reading the WAL of " + dir_);
    return caf::none;
  }

  uint64_t last_sequence() const override { return last_.load(); }

  uint64_t first_sequence() const override {
    return std::max(first_.load(), uint64_t{1});
  }

  caf::error truncate_wal(uint64_t below) override {
    below = std::min(below, last_.load()); // keep the newest record
    if (below <= first_.load())
      return caf::none;
    if (auto err = resume_if_needed())
      return err;
    auto from = make_wal_key(0);
    auto to = make_wal_key(below);
    // Not synced (see the contract): the next synced write persists it.
    auto st = db_->DeleteRange(rocksdb::WriteOptions{}, handles_[cf_wal],
                               to_slice(from), to_slice(to));
    if (!st.ok()) {
      needs_resume_ = true;
      return unavailable("WAL truncation in " + dir_ +
                         " failed: " + st.ToString());
    }
    first_.store(below);
    return caf::none;
  }

  caf::error put_snapshot(std::string_view owner, uint64_t covered_seq,
                          std::string_view bytes) override {
    if (auto err = resume_if_needed())
      return err;
    auto prefix = make_wal_key(covered_seq); // 8-byte big-endian prefix
    std::string value{prefix.data(), prefix.size()};
    value.append(bytes.data(), bytes.size());
    auto st = db_->Put(sync_opts_, handles_[cf_snapshot], to_slice(owner),
                       to_slice(value));
    if (!st.ok()) {
      needs_resume_ = true;
      return unavailable("snapshot write to " + dir_ +
                         " failed: " + st.ToString());
    }
    return caf::none;
  }

  caf::error load_snapshots(
    const std::function<caf::error(std::string_view, uint64_t,
                                   std::string_view)>& f) override {
    std::unique_ptr<rocksdb::Iterator> it{
      db_->NewIterator(rocksdb::ReadOptions{}, handles_[cf_snapshot])};
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto value = it->value();
      uint64_t covered = 0;
      if (value.size() < 8 ||
          !parse_wal_key(rocksdb::Slice{value.data(), 8}, covered))
        return corrupt(dir_ + ": malformed snapshot");
      auto key = it->key();
      if (auto err = f(std::string_view{key.data(), key.size()}, covered,
                       std::string_view{value.data() + 8, value.size() - 8}))
        return err;
    }
    if (auto st = it->status(); !st.ok())
      return from_status(st, "reading the snapshots of " + dir_);
    return caf::none;
  }

  caf::expected<std::optional<std::string>>
  get_meta(std::string_view key) override {
    std::string value;
    auto st = db_->Get(rocksdb::ReadOptions{}, handles_[cf_meta], to_slice(key),
                       &value);
    if (st.IsNotFound())
      return std::optional<std::string>{};
    if (!st.ok())
      return from_status(st, "reading metadata of " + dir_);
    return std::optional<std::string>{std::move(value)};
  }

  caf::error put_meta(std::string_view key, std::string_view value) override {
    if (auto err = resume_if_needed())
      return err;
    auto st =
      db_->Put(sync_opts_, handles_[cf_meta], to_slice(key), to_slice(value));
    if (!st.ok()) {
      needs_resume_ = true;
      return unavailable("metadata write to " + dir_ +
                         " failed: " + st.ToString());
    }
    return caf::none;
  }

 private:
  /// After a failed write RocksDB may sit in a background-error state in
  /// which it refuses every write. `Resume` clears it once the cause is gone
  /// (disk space freed, device back), so the service heals without restart.
  [[nodiscard]] caf::error resume_if_needed() {
    if (!needs_resume_)
      return caf::none;
    if (auto st = db_->Resume(); !st.ok())
      return unavailable("data directory " + dir_ +
                         " is still failing: " + st.ToString());
    needs_resume_ = false;
    return caf::none;
  }

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions sync_opts_;
  /// Written by the single writer thread, read by anyone.
  std::atomic<uint64_t> last_{0};
  /// The oldest WAL record still stored (`last_ + 1` when none); written by
  /// the writer thread.
  std::atomic<uint64_t> first_{1};
  /// Touched only by the writer thread (`append` and `put_meta`).
  bool needs_resume_ = false;
};

// -- opening ------------------------------------------------------------------

/// What `inspect_dir` found.
enum class dir_kind { fresh, existing_db };

/// Classifies `dir`, creating it if missing. Fails for a path that is not a
/// directory, is not writable, or holds files but no RocksDB `CURRENT`.
caf::expected<dir_kind> inspect_dir(const std::string& dir) {
  std::error_code ec;
  auto st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return unavailable("cannot access data directory " + dir + ": " +
                       ec.message());
  if (!fs::exists(st)) {
    fs::create_directories(dir, ec);
    if (ec)
      return unavailable("cannot create data directory " + dir + ": " +
                         ec.message());
    return dir_kind::fresh;
  }
  if (!fs::is_directory(st))
    return unavailable("data directory " + dir +
                       " exists but is not a directory");
  if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    auto err = errno;
    return unavailable("data directory " + dir +
                       " is not writable: " + std::strerror(err));
  }
  if (fs::exists(fs::path{dir} / "CURRENT", ec))
    return dir_kind::existing_db;
  if (ec)
    return unavailable("cannot access data directory " + dir + ": " +
                       ec.message());
  fs::directory_iterator entries{dir, ec};
  if (ec)
    return unavailable("cannot list data directory " + dir + ": " +
                       ec.message());
  if (entries != fs::directory_iterator{})
    return corrupt(dir + " is not a webhook-ingress data directory (it holds "
                         "other files)");
  return dir_kind::fresh;
}

/// Checks that an existing DB has exactly our column families.
caf::error check_column_families(const std::string& dir,
                                 const rocksdb::DBOptions& opts) {
  std::vector<std::string> names;
  if (auto st = rocksdb::DB::ListColumnFamilies(opts, dir, &names); !st.ok())
    return from_open_status(st, dir);
  for (auto want : cf_names)
    if (std::find(names.begin(), names.end(), want) == names.end())
      return corrupt(dir +
                     " is not a webhook-ingress data directory "
                     "(column family '" +
                     std::string{want} + "' is missing)");
  for (const auto& have : names)
    if (std::find(cf_names.begin(), cf_names.end(), have) == cf_names.end())
      return corrupt(dir +
                     " is not a webhook-ingress data directory "
                     "(unknown column family '" +
                     have + "')");
  return caf::none;
}

} // namespace

caf::expected<std::unique_ptr<storage>>
open_rocksdb_storage(const std::string& dir) {
  auto kind = inspect_dir(dir);
  if (!kind)
    return std::move(kind.error());
  auto opts = make_db_options();
  if (*kind == dir_kind::existing_db) {
    if (auto err = check_column_families(dir, opts))
      return err;
    opts.create_if_missing = false;
    opts.create_missing_column_families = false;
  } else {
    // Only ever over an empty directory (checked above); error_if_exists
    // guards against a RocksDB appearing there in the meantime.
    opts.create_if_missing = true;
    opts.create_missing_column_families = true;
    opts.error_if_exists = true;
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (auto st =
        rocksdb::DB::Open(opts, dir, make_descriptors(), &handles, &raw);
      !st.ok())
    return from_open_status(st, dir);
  auto store = std::make_unique<rocksdb_storage>(
    dir, std::unique_ptr<rocksdb::DB>{raw}, std::move(handles));
  if (*kind == dir_kind::fresh) {
    // A crash before this synced write leaves a store without a version,
    // which the next open rejects: it holds no acknowledged data, and the
    // operator removes it rather than the service guessing.
    if (auto err = store->put_meta(schema_version_key, schema_version))
      return err;
  } else {
    auto version = store->get_meta(schema_version_key);
    if (!version)
      return std::move(version.error());
    if (!*version)
      return corrupt(dir + " is not a webhook-ingress data directory "
                           "(no schema version)");
    if (**version != schema_version)
      return corrupt(dir + " has schema version '" + **version +
                     "', this build reads version '" +
                     std::string{schema_version} + "'");
  }
  if (auto err = store->load_last_sequence())
    return err;
  return std::unique_ptr<storage>{std::move(store)};
}

} // namespace wi::persistence
