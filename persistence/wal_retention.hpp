#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace wi::persistence {

/// Which WAL records are still needed, and by whom.
///
/// An owner (a tenant, or the directory) needs every record of its own that
/// its latest snapshot does not cover. The WAL may drop every record below
/// the oldest one any owner needs. Pure bookkeeping: owned and used by the
/// WAL writer only, which sees every append and every snapshot in one
/// order, so the answer is exact without any coordination.
///
/// Memory: 8 bytes per record not yet covered by a snapshot.
class wal_retention {
 public:
  /// Registers records of `owner` that recovery replayed past its snapshot
  /// (ascending).
  void seed(const std::string& owner, const std::vector<uint64_t>& seqs);

  /// Registers a newly written record of `owner`. Sequence numbers grow.
  void on_append(const std::string& owner, uint64_t seq);

  /// The owner's snapshot now covers its records up to `covered`.
  void on_snapshot(const std::string& owner, uint64_t covered);

  /// Returns the oldest sequence number any owner still needs, or `next`
  /// (the next sequence number to be written) when none is needed.
  [[nodiscard]] uint64_t needed_from(uint64_t next) const;

  /// Returns the owner of the oldest needed record, if any.
  [[nodiscard]] std::optional<std::string> oldest_owner() const;

  /// Number of owners with records not covered by a snapshot.
  [[nodiscard]] size_t owners() const noexcept { return pending_.size(); }

 private:
  /// Per owner, its uncovered sequence numbers, ascending.
  std::unordered_map<std::string, std::deque<uint64_t>> pending_;
  /// Each owner's oldest uncovered sequence number -> owner (sequence
  /// numbers are unique, so this orders owners by what they hold back).
  std::map<uint64_t, std::string> fronts_;
};

} // namespace wi::persistence
