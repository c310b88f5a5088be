#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wi {

/// Where one WAL owner (a tenant, or the directory) stands after recovery.
/// Below both the tenant and the directory code: a tenant actor starts from
/// its owner's position, the directory keeps one per dormant tenant.
struct owner_log {
  /// Sequence number of the owner's last record, from its snapshot or the
  /// WAL; 0 if it has none.
  uint64_t last_seq = 0;
  /// Records applied past the owner's snapshot, ascending: what the WAL must
  /// keep until the owner's next snapshot.
  std::vector<uint64_t> uncovered;

  friend bool operator==(const owner_log&, const owner_log&) = default;
};

/// Hashes strings and string views alike, so maps keyed by `std::string`
/// can be searched with a view without building a string.
struct transparent_hash {
  using is_transparent = void;
  size_t operator()(std::string_view x) const noexcept {
    return std::hash<std::string_view>{}(x);
  }
};

/// Where each WAL owner stands, by owner.
using owner_logs =
  std::unordered_map<std::string, owner_log, transparent_hash, std::equal_to<>>;

} // namespace wi
