#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace wi::persistence {

/// Durable storage of the write-ahead log and of node metadata.
///
/// Thread safety: `append` and `put_meta` are called by one thread at a time
/// (the WAL writer); `replay` and `get_meta` may run concurrently with them.
/// Every method may block on disk I/O: never call one from a CAF scheduler
/// thread or a RESTinio I/O thread (the WAL writer runs detached).
///
/// Errors are `wi::errc` values: `storage_unavailable` for I/O failures
/// (disk full, read-only filesystem), `corrupt_data` for unreadable data.
/// No backend-specific status leaks past this interface.

/// A value stored in the `payload` column family (event bodies), written in
/// the same atomic batch as the WAL records it belongs to.
struct payload_put {
  std::string key;
  std::string value;
  /// Deletes `key` instead of storing `value` (pruned history).
  bool erase = false;
};

class storage {
 public:
  virtual ~storage() = default;

  /// Appends `records` as one atomic batch with `sync = true`. On success the
  /// records got the consecutive sequence numbers `[first, first + n)` and
  /// `first` is returned. On failure nothing of the batch is stored and the
  /// sequence counter does not advance. Sequence numbers start at 1.
  [[nodiscard]] virtual caf::expected<uint64_t>
  append(const std::vector<std::string>& records) = 0;

  /// Like `append`, and stores `payloads` in the same atomic synced batch:
  /// either all of it is durable or none. The default implementation
  /// supports only an empty `payloads`.
  [[nodiscard]] virtual caf::expected<uint64_t>
  append_with_payloads(const std::vector<std::string>& records,
                       const std::vector<payload_put>& payloads);

  /// Reads a payload; `std::nullopt` if absent. The default implementation
  /// stores none.
  [[nodiscard]] virtual caf::expected<std::optional<std::string>>
  get_payload(std::string_view key);

  /// Calls `f(seq, bytes)` for every WAL record with `seq >= from`, in
  /// ascending order. Stops at and returns the first error `f` returns.
  [[nodiscard]] virtual caf::error
  replay(uint64_t from,
         const std::function<caf::error(uint64_t, std::string_view)>& f) = 0;

  /// Reads the WAL records `seqs` (ascending) and returns their bytes in the
  /// same order. A sequence number with no record is `corrupt_data`: callers
  /// ask only for records that recovery saw and that truncation keeps (they
  /// are uncovered). The default implementation scans with `replay`.
  [[nodiscard]] virtual caf::expected<std::vector<std::string>>
  read_wal(const std::vector<uint64_t>& seqs);

  /// Returns the sequence number of the newest WAL record, 0 if none.
  [[nodiscard]] virtual uint64_t last_sequence() const = 0;

  /// Returns the sequence number of the oldest WAL record still stored, or
  /// `last_sequence() + 1` when none is.
  [[nodiscard]] virtual uint64_t first_sequence() const = 0;

  /// Deletes every WAL record with a sequence number below `below`, except
  /// the newest record, which is always kept so that sequence numbers keep
  /// growing across restarts. Not synced: a deletion lost in a crash only
  /// brings back records that snapshots already cover.
  [[nodiscard]] virtual caf::error truncate_wal(uint64_t below) = 0;

  /// Stores `bytes` as the snapshot of `owner` (a tenant id or
  /// `wi::directory_owner`), covering every WAL record of that owner up to
  /// and including `covered_seq`; replaces the owner's previous snapshot.
  /// Not synced: the store keeps writes in order, so a snapshot becomes
  /// durable with the next synced `append`, and a `truncate_wal` issued after
  /// it can never survive a crash without it. (Syncing each snapshot stalled
  /// group commit; see docs/benchmarks.md.)
  [[nodiscard]] virtual caf::error put_snapshot(std::string_view owner,
                                                uint64_t covered_seq,
                                                std::string_view bytes) = 0;

  /// Deletes what a purged tenant left: the snapshot of `owner` and every
  /// payload whose key starts with `owner` followed by '/'. Not synced, like
  /// `truncate_wal`: a deletion lost in a crash leaves data that recovery
  /// ignores (the registry records the purge).
  [[nodiscard]] virtual caf::error purge_owner(std::string_view owner) = 0;

  /// Calls `f(owner, covered_seq, bytes)` for every stored snapshot. Stops
  /// at and returns the first error `f` returns.
  [[nodiscard]] virtual caf::error
  load_snapshots(const std::function<caf::error(std::string_view, uint64_t,
                                                std::string_view)>& f) = 0;

  /// Reads a metadata value; `std::nullopt` if the key is absent.
  [[nodiscard]] virtual caf::expected<std::optional<std::string>>
  get_meta(std::string_view key) = 0;

  /// Writes a metadata value with `sync = true`.
  [[nodiscard]] virtual caf::error put_meta(std::string_view key,
                                            std::string_view value) = 0;
};

/// Opens (creating if needed) the RocksDB store in `dir` with the column
/// families `wal`, `snapshot`, `payload` and `meta`.
///
/// A new or empty directory is initialized with the current schema version.
/// A directory that holds anything else (files that are not a RocksDB of
/// this service, another schema version, missing column families) fails with
/// `errc::corrupt_data` and a message naming the directory: the service never
/// starts silently empty over existing data.
[[nodiscard]] caf::expected<std::unique_ptr<storage>>
open_rocksdb_storage(const std::string& dir);

/// A storage double for tests: keeps everything in memory and fails on
/// command. Thread-safe.
class memory_storage : public storage {
 public:
  memory_storage();
  ~memory_storage() override;

  /// While set, `append` and `put_meta` fail with `storage_unavailable`.
  void fail_writes(bool on);

  /// Number of `append` calls that succeeded (one per batch).
  [[nodiscard]] uint64_t batches() const;

  caf::expected<uint64_t>
  append(const std::vector<std::string>& records) override;
  caf::expected<uint64_t>
  append_with_payloads(const std::vector<std::string>& records,
                       const std::vector<payload_put>& payloads) override;
  caf::expected<std::optional<std::string>>
  get_payload(std::string_view key) override;
  caf::error replay(
    uint64_t from,
    const std::function<caf::error(uint64_t, std::string_view)>& f) override;
  caf::expected<std::vector<std::string>>
  read_wal(const std::vector<uint64_t>& seqs) override;
  uint64_t last_sequence() const override;
  uint64_t first_sequence() const override;
  caf::error truncate_wal(uint64_t below) override;
  caf::error put_snapshot(std::string_view owner, uint64_t covered_seq,
                          std::string_view bytes) override;
  caf::error purge_owner(std::string_view owner) override;
  caf::error
  load_snapshots(const std::function<caf::error(std::string_view, uint64_t,
                                                std::string_view)>& f) override;
  caf::expected<std::optional<std::string>>
  get_meta(std::string_view key) override;
  caf::error put_meta(std::string_view key, std::string_view value) override;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace wi::persistence
