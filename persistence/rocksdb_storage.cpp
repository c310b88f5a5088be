// The RocksDB backend of `storage`. Everything RocksDB stays in this file:
// each `rocksdb::Status` is converted to a `wi::errc` value here.

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
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

// -- info log -----------------------------------------------------------------

/// Size at which `LOG` is rotated to `LOG.old.<micros>`.
constexpr uint64_t max_info_log_bytes = uint64_t{16} << 20;

/// Microseconds since the Unix epoch.
uint64_t now_micros() {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  return static_cast<uint64_t>(tv.tv_sec) * 1'000'000u +
         static_cast<uint64_t>(tv.tv_usec);
}

/// RocksDB's info log, `<dir>/LOG`, written with plain `write(2)`.
///
/// RocksDB's own file logger is not used: once one of its writes failed (a
/// full disk), its next line trips an assertion in `WritableFileWriter`, and
/// RocksDB as packaged by Debian keeps its assertions, so a full disk aborted
/// the whole service. This logger drops a line it cannot write and carries
/// on. Rotated files get RocksDB's names (`LOG.old.<micros>`), so RocksDB
/// still deletes all but `keep_log_file_num` of them. Thread-safe.
class info_log final : public rocksdb::Logger {
 public:
  /// Starts a new `LOG` in `dir`; an existing one is rotated, as RocksDB
  /// does on every open.
  explicit info_log(const std::string& dir)
    : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), path_(dir + "/LOG") {
    std::lock_guard guard{mtx_};
    rotate();
  }

  ~info_log() override {
    if (fd_ >= 0)
      ::close(fd_);
  }

  info_log(const info_log&) = delete;
  info_log& operator=(const info_log&) = delete;

  using rocksdb::Logger::Logv;

  /// Writes one line; the base class filters by level and adds its tag.
  void Logv(const char* format, va_list ap) override {
    auto line = format_line(format, ap);
    std::lock_guard guard{mtx_};
    if (size_ >= max_info_log_bytes)
      rotate();
    else if (fd_ < 0)
      open_file();
    if (fd_ < 0)
      return;
    // A failed or short write (disk full) costs this line, nothing more.
    if (auto n = ::write(fd_, line.data(), line.size()); n > 0)
      size_ += static_cast<uint64_t>(n);
  }

 private:
  /// `<local time> <thread id> <message>`, as RocksDB's own lines.
  static std::string format_line(const char* format, va_list ap) {
    auto micros = now_micros();
    auto seconds = static_cast<time_t>(micros / 1'000'000u);
    tm local{};
    ::localtime_r(&seconds, &local);
    std::array<char, 128> prefix{};
    auto len = std::snprintf(
      prefix.data(), prefix.size(), "%04d/%02d/%02d-%02d:%02d:%02d.%06u %d ",
      local.tm_year + 1900, local.tm_mon + 1, local.tm_mday, local.tm_hour,
      local.tm_min, local.tm_sec, static_cast<unsigned>(micros % 1'000'000u),
      static_cast<int>(::gettid()));
    std::string line{
      prefix.data(),
      std::min(static_cast<size_t>(std::max(len, 0)), prefix.size() - 1)};
    va_list copy;
    va_copy(copy, ap);
    auto n = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    if (n > 0) {
      auto offset = line.size();
      line.resize(offset + static_cast<size_t>(n) + 1);
      std::vsnprintf(line.data() + offset, static_cast<size_t>(n) + 1, format,
                     ap);
      line.resize(offset + static_cast<size_t>(n));
    }
    if (line.empty() || line.back() != '\n')
      line.push_back('\n');
    return line;
  }

  /// Moves a non-empty `LOG` aside and opens a new one.
  void rotate() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_size > 0) {
      auto old = path_ + ".old." + std::to_string(now_micros());
      static_cast<void>(std::rename(path_.c_str(), old.c_str()));
    }
    open_file();
  }

  /// Opens `LOG` for appending; leaves `fd_` at -1 on failure.
  void open_file() {
    fd_ =
      ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st {};
    size_ = fd_ >= 0 && ::fstat(fd_, &st) == 0
              ? static_cast<uint64_t>(std::max(st.st_size, off_t{0}))
              : 0;
  }

  std::mutex mtx_;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// -- options ------------------------------------------------------------------

/// Options shared by every open. Kept close to RocksDB's defaults; each
/// deviation says why.
rocksdb::DBOptions make_db_options() {
  rocksdb::DBOptions opts;
  // One flush and one compaction at a time: the WAL is append-only and the
  // machine is small; more jobs would only compete with request handling.
  opts.max_background_jobs = 2;
  // Old info LOG files (see `info_log`): keep a few for diagnosis, not 1000.
  opts.keep_log_file_num = 5;
  opts.info_log_level = rocksdb::InfoLogLevel::INFO_LEVEL;
  // Default kept on purpose: kPointInTimeRecovery. Every acknowledged write
  // is synced, so after a crash only an unacknowledged torn tail is dropped.
  opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // RocksDB keeps a log file until every column family with data in it is
  // flushed; the small `snapshot` and `meta` writes would otherwise pin old
  // logs for a long time. Past this total, the column families holding the
  // oldest log are flushed, which bounds the data directory.
  opts.max_total_wal_size = 64 << 20;
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

/// How long after a failed write the store waits before it reopens the DB:
/// a full disk is not freed within microseconds, and every attempt costs a
/// `DB::Open`. Writes in between fail at once.
constexpr auto reopen_interval = std::chrono::milliseconds{100};

/// Free space the data directory's filesystem needs before a reopen is tried
/// after a failed write. A disk that ran full gets some headroom back before
/// RocksDB writes again, and a full one is not churned with futile opens
/// (closing the DB would even release RocksDB's preallocated space and let
/// a few writes slip through on a disk that is still full).
constexpr uint64_t min_free_bytes_to_reopen = uint64_t{1} << 20;

/// Bytes this process may still write on the filesystem of `dir` (root may
/// use the blocks reserved for it); `std::nullopt` if unknown.
std::optional<uint64_t> free_bytes(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0)
    return std::nullopt;
  auto blocks = ::geteuid() == 0 ? st.f_bfree : st.f_bavail;
  return uint64_t{blocks} * uint64_t{st.f_frsize};
}

class rocksdb_storage final : public storage {
 public:
  /// Takes ownership of an open DB and its handles (in `cf_names` order).
  /// `opts` opens the same DB again after a failed write.
  rocksdb_storage(std::string dir, rocksdb::DBOptions opts,
                  std::unique_ptr<rocksdb::DB> db,
                  std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : dir_(std::move(dir)), opts_(std::move(opts)), db_(std::move(db)),
      handles_(std::move(handles)) {
    sync_opts_.sync = true;
  }

  rocksdb_storage(const rocksdb_storage&) = delete;
  rocksdb_storage& operator=(const rocksdb_storage&) = delete;

  ~rocksdb_storage() override { close_db(); }

  /// Reads the oldest and newest WAL keys into the sequence counters.
  [[nodiscard]] caf::error load_last_sequence() {
    uint64_t first = 0;
    uint64_t last = 0;
    if (auto err = read_wal_bounds(first, last))
      return err;
    last_.store(last);
    first_.store(first);
    return caf::none;
  }

  caf::expected<uint64_t>
  append(const std::vector<std::string>& records) override {
    return append_with_payloads(records, {});
  }

  caf::expected<uint64_t>
  append_with_payloads(const std::vector<std::string>& records,
                       const std::vector<payload_put>& payloads) override {
    auto first = last_.load() + 1;
    if (records.empty() && payloads.empty())
      return first; // Nothing to write; the counter does not move.
    if (auto err = reopen_if_needed())
      return err;
    rocksdb::WriteBatch batch;
    auto seq = first;
    for (const auto& x : records) {
      auto key = make_wal_key(seq++);
      if (auto st = batch.Put(handles_[cf_wal], to_slice(key), to_slice(x));
          !st.ok())
        return from_status(st, "building a WAL batch");
    }
    for (const auto& p : payloads)
      if (auto st = p.erase
                      ? batch.Delete(handles_[cf_payload], to_slice(p.key))
                      : batch.Put(handles_[cf_payload], to_slice(p.key),
                                  to_slice(p.value));
          !st.ok())
        return from_status(st, "building a WAL batch");
    if (auto st = db_->Write(sync_opts_, &batch); !st.ok())
      return write_failed("WAL write to " + dir_ + " failed", st);
    last_.store(seq - 1);
    return first;
  }

  caf::error replay(
    uint64_t from,
    const std::function<caf::error(uint64_t, std::string_view)>& f) override {
    std::shared_lock guard{db_mtx_};
    if (!db_)
      return closed();
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

  caf::expected<std::vector<std::string>>
  read_wal(const std::vector<uint64_t>& seqs) override {
    std::shared_lock guard{db_mtx_};
    if (!db_)
      return closed();
    if (seqs.empty())
      return std::vector<std::string>{};
    // Dense asks (warm-up reads every stored tenant's records at once) are
    // cheaper to iterate than to look up key by key: a point look-up
    // searches the index for each key, an iterator steps to the next entry.
    auto span = seqs.back() - seqs.front() + 1;
    if (seqs.size() >= span / dense_read_ratio)
      return scan_wal(seqs);
    std::vector<wal_key> keys;
    keys.reserve(seqs.size());
    for (auto seq : seqs)
      keys.push_back(make_wal_key(seq));
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (const auto& k : keys)
      slices.push_back(to_slice(k));
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    // Ascending keys let RocksDB read each block once for all its keys.
    db_->MultiGet(rocksdb::ReadOptions{}, handles_[cf_wal], keys.size(),
                  slices.data(), values.data(), statuses.data(),
                  /*sorted_input=*/true);
    std::vector<std::string> out;
    out.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound())
        return corrupt(dir_ + ": WAL record " + std::to_string(seqs[i]) +
                       " is missing");
      if (!statuses[i].ok())
        return from_status(statuses[i], "reading the WAL of " + dir_);
      out.emplace_back(values[i].data(), values[i].size());
    }
    return out;
  }

  uint64_t last_sequence() const override { return last_.load(); }

  /// `read_wal` iterates instead of looking up when it asks for at least
  /// one record in this many of the range it spans.
  static constexpr uint64_t dense_read_ratio = 8;

  /// `read_wal` by iterating from the first to the last of `seqs`; the
  /// caller holds `db_mtx_` shared.
  caf::expected<std::vector<std::string>>
  scan_wal(const std::vector<uint64_t>& seqs) {
    std::vector<std::string> out;
    out.reserve(seqs.size());
    std::unique_ptr<rocksdb::Iterator> it{
      db_->NewIterator(rocksdb::ReadOptions{}, handles_[cf_wal])};
    auto start = make_wal_key(seqs.front());
    auto next = seqs.begin();
    for (it->Seek(to_slice(start)); it->Valid() && next != seqs.end();
         it->Next()) {
      uint64_t seq = 0;
      if (!parse_wal_key(it->key(), seq))
        return corrupt(dir_ + ": malformed WAL key");
      if (seq < *next)
        continue;
      if (seq > *next)
        break; // *next is missing
      out.emplace_back(it->value().data(), it->value().size());
      ++next;
    }
    if (auto st = it->status(); !st.ok())
      return from_status(st, "reading the WAL of " + dir_);
    if (next != seqs.end())
      return corrupt(dir_ + ": WAL record " + std::to_string(*next) +
                     " is missing");
    return out;
  }

  uint64_t first_sequence() const override {
    return std::max(first_.load(), uint64_t{1});
  }

  caf::error truncate_wal(uint64_t below) override {
    below = std::min(below, last_.load()); // keep the newest record
    if (below <= first_.load())
      return caf::none;
    if (auto err = reopen_if_needed())
      return err;
    auto from = make_wal_key(0);
    auto to = make_wal_key(below);
    // Not synced (see the contract): the next synced write persists it.
    auto st = db_->DeleteRange(rocksdb::WriteOptions{}, handles_[cf_wal],
                               to_slice(from), to_slice(to));
    if (!st.ok())
      return write_failed("WAL truncation in " + dir_ + " failed", st);
    first_.store(below);
    return caf::none;
  }

  caf::error put_snapshot(std::string_view owner, uint64_t covered_seq,
                          std::string_view bytes) override {
    if (auto err = reopen_if_needed())
      return err;
    auto prefix = make_wal_key(covered_seq); // 8-byte big-endian prefix
    std::string value{prefix.data(), prefix.size()};
    value.append(bytes.data(), bytes.size());
    // Not synced (see the contract): RocksDB's log keeps the order of writes,
    // and the next synced WAL write makes this one durable too.
    auto st = db_->Put(rocksdb::WriteOptions{}, handles_[cf_snapshot],
                       to_slice(owner), to_slice(value));
    if (!st.ok())
      return write_failed("snapshot write to " + dir_ + " failed", st);
    return caf::none;
  }

  caf::error purge_owner(std::string_view owner) override {
    if (auto err = reopen_if_needed())
      return err;
    // Payload keys are `<owner>/<event id>`; '0' follows '/' in ASCII, so
    // [`owner/`, `owner0`) holds exactly the owner's payloads.
    std::string from{owner};
    from += '/';
    std::string to{owner};
    to += '0';
    rocksdb::WriteBatch batch;
    batch.Delete(handles_[cf_snapshot], to_slice(owner));
    batch.DeleteRange(handles_[cf_payload], to_slice(from), to_slice(to));
    // Not synced (see the contract).
    auto st = db_->Write(rocksdb::WriteOptions{}, &batch);
    if (!st.ok())
      return write_failed(
        "purge of " + std::string{owner} + " in " + dir_ + " failed", st);
    return caf::none;
  }

  caf::error load_snapshots(
    const std::function<caf::error(std::string_view, uint64_t,
                                   std::string_view)>& f) override {
    std::shared_lock guard{db_mtx_};
    if (!db_)
      return closed();
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
  get_payload(std::string_view key) override {
    std::shared_lock guard{db_mtx_};
    if (!db_)
      return closed();
    std::string value;
    auto st = db_->Get(rocksdb::ReadOptions{}, handles_[cf_payload],
                       to_slice(key), &value);
    if (st.IsNotFound())
      return std::optional<std::string>{};
    if (!st.ok())
      return from_status(st, "reading a payload of " + dir_);
    return std::optional<std::string>{std::move(value)};
  }

  caf::expected<std::optional<std::string>>
  get_meta(std::string_view key) override {
    std::shared_lock guard{db_mtx_};
    if (!db_)
      return closed();
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
    if (auto err = reopen_if_needed())
      return err;
    auto st =
      db_->Put(sync_opts_, handles_[cf_meta], to_slice(key), to_slice(value));
    if (!st.ok())
      return write_failed("metadata write to " + dir_ + " failed", st);
    return caf::none;
  }

 private:
  /// Reads the oldest and newest WAL keys; `first` is `last + 1` and `last`
  /// is 0 when the WAL is empty.
  [[nodiscard]] caf::error read_wal_bounds(uint64_t& first, uint64_t& last) {
    std::unique_ptr<rocksdb::Iterator> it{
      db_->NewIterator(rocksdb::ReadOptions{}, handles_[cf_wal])};
    it->SeekToLast();
    last = 0;
    if (it->Valid() && !parse_wal_key(it->key(), last))
      return corrupt(dir_ + ": malformed WAL key");
    it->SeekToFirst();
    first = last + 1;
    if (it->Valid() && !parse_wal_key(it->key(), first))
      return corrupt(dir_ + ": malformed WAL key");
    if (auto st = it->status(); !st.ok())
      return from_status(st, "reading the WAL of " + dir_);
    return caf::none;
  }

  /// Marks the DB for reopening (see `reopen_if_needed`) and converts `st`.
  caf::error write_failed(std::string what, const rocksdb::Status& st) {
    broken_ = true;
    reopen_at_ = std::chrono::steady_clock::now() + reopen_interval;
    last_failure_ = st.ToString();
    return unavailable(std::move(what) + ": " + last_failure_);
  }

  /// The error of a read while the DB is closed (a reopen failed).
  caf::error closed() const {
    return unavailable("data directory " + dir_ +
                       " is closed after a failed write");
  }

  /// After a failed write the DB handle is not trusted any more. RocksDB
  /// refuses every write until `Resume()`; it refuses `Resume()` itself after
  /// errors it deems fatal (any I/O error but "no space", e.g. EIO, EROFS,
  /// EFBIG); and a `Resume()` that had no memtable to flush keeps the failed
  /// WAL file writer, whose next append trips an assertion. So the next write
  /// instead closes the DB and opens it again (at most once per
  /// `reopen_interval`, and only with `min_free_bytes_to_reopen` free): that
  /// starts a fresh WAL after replaying what was synced, and works as soon as
  /// the disk does.
  [[nodiscard]] caf::error reopen_if_needed() {
    if (!broken_)
      return caf::none;
    auto now = std::chrono::steady_clock::now();
    auto free = free_bytes(dir_);
    if (now < reopen_at_ || (free && *free < min_free_bytes_to_reopen))
      return unavailable(
        "data directory " + dir_ + " is unavailable after a failed write (" +
        (free ? std::to_string(*free) : std::string{"unknown"}) +
        " bytes free): " + last_failure_);
    reopen_at_ = now + reopen_interval;
    if (auto err = reopen()) {
      last_failure_ = text_of(err);
      return err;
    }
    broken_ = false;
    return caf::none;
  }

  /// Closes and reopens the DB, then deletes the WAL records above `last_`:
  /// a failed write may have reached the file without being acknowledged,
  /// and the contract says a failed append stores nothing.
  [[nodiscard]] caf::error reopen() {
    std::unique_lock guard{db_mtx_};
    close_db();
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    if (auto st =
          rocksdb::DB::Open(opts_, dir_, make_descriptors(), &handles, &raw);
        !st.ok())
      return unavailable("reopening data directory " + dir_ +
                         " failed: " + st.ToString());
    db_.reset(raw);
    handles_ = std::move(handles);
    uint64_t first = 0;
    uint64_t last = 0;
    if (auto err = read_wal_bounds(first, last))
      return err;
    auto acked = last_.load();
    if (last < acked)
      return unavailable("data directory " + dir_ +
                         " lost acknowledged WAL records: it ends at " +
                         std::to_string(last) + ", " + std::to_string(acked) +
                         " were written");
    if (last > acked) {
      auto from = make_wal_key(acked + 1);
      auto to = make_wal_key(last);
      rocksdb::WriteBatch batch;
      auto st =
        batch.DeleteRange(handles_[cf_wal], to_slice(from), to_slice(to));
      if (st.ok())
        st = batch.Delete(handles_[cf_wal], to_slice(to));
      if (st.ok())
        st = db_->Write(sync_opts_, &batch);
      if (!st.ok())
        return unavailable("removing unacknowledged WAL records from " + dir_ +
                           " failed: " + st.ToString());
      first = std::min(first, acked + 1);
    }
    first_.store(first);
    return caf::none;
  }

  /// Destroys the handles and closes the DB; does nothing when closed.
  void close_db() {
    if (!db_)
      return;
    // Snapshots and truncations are written unsynced; sync them before the
    // store closes so a clean stop leaves nothing to the OS's page cache.
    // Not after a failed write: RocksDB refuses (and may assert) then.
    if (!broken_)
      static_cast<void>(db_->SyncWAL());
    for (auto* h : handles_)
      static_cast<void>(db_->DestroyColumnFamilyHandle(h));
    handles_.clear();
    // Every acknowledged write is already synced; a failing Close (e.g. after
    // a background error) loses nothing acknowledged and has nobody to
    // report to, so its status is dropped on purpose.
    static_cast<void>(db_->Close());
    db_.reset();
  }

  std::string dir_;
  rocksdb::DBOptions opts_;
  /// Guards `db_` and `handles_` against a reopen: readers (`replay`,
  /// `get_meta`, `load_snapshots`) hold it shared; the writer thread, the
  /// only one that reopens, takes it exclusively to swap them and needs no
  /// lock for its own use.
  std::shared_mutex db_mtx_;
  /// Null only after a reopen failed to open the DB.
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions sync_opts_;
  /// Written by the single writer thread, read by anyone.
  std::atomic<uint64_t> last_{0};
  /// The oldest WAL record still stored (`last_ + 1` when none); written by
  /// the writer thread.
  std::atomic<uint64_t> first_{1};
  /// Whether the last write failed and the DB must be reopened first; with
  /// `reopen_at_` and `last_failure_` touched only by the writer thread.
  bool broken_ = false;
  /// The earliest time of the next reopen attempt.
  std::chrono::steady_clock::time_point reopen_at_;
  /// The last failure, repeated by writes refused before `reopen_at_`.
  std::string last_failure_;
};

// -- opening ------------------------------------------------------------------

/// What `inspect_dir` found.
enum class dir_kind { fresh, existing_db };

/// Classifies `dir`, creating it (mode 0700) if missing. Fails for a path
/// that is not a directory, is writable by its group or others (anyone who
/// may write there could replace the store and its signing secrets), is not
/// writable, or holds files but no RocksDB `CURRENT`.
caf::expected<dir_kind> inspect_dir(const std::string& dir) {
  std::error_code ec;
  auto st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return unavailable("cannot access data directory " + dir + ": " +
                       ec.message());
  if (!fs::exists(st)) {
    fs::create_directories(dir, ec);
    if (!ec)
      fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec)
      return unavailable("cannot create data directory " + dir + ": " +
                         ec.message());
    return dir_kind::fresh;
  }
  if (!fs::is_directory(st))
    return unavailable("data directory " + dir +
                       " exists but is not a directory");
  if ((st.permissions() & (fs::perms::group_write | fs::perms::others_write)) !=
      fs::perms::none)
    return unavailable("data directory " + dir +
                       " is writable by its group or others; make it the "
                       "owner's alone (chmod 700 " +
                       dir + ")");
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
  // Created only now: a directory refused above gets no LOG file.
  opts.info_log = std::make_shared<info_log>(dir);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (auto st =
        rocksdb::DB::Open(opts, dir, make_descriptors(), &handles, &raw);
      !st.ok())
    return from_open_status(st, dir);
  // Reopening after a failed write (see `reopen_if_needed`) finds the DB.
  auto reopen_opts = opts;
  reopen_opts.create_if_missing = false;
  reopen_opts.create_missing_column_families = false;
  reopen_opts.error_if_exists = false;
  auto store = std::make_unique<rocksdb_storage>(
    dir, std::move(reopen_opts), std::unique_ptr<rocksdb::DB>{raw},
    std::move(handles));
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
