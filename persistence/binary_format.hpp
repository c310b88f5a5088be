#pragma once

// The binary primitives shared by the WAL record codec and the snapshot
// codec. Internal to the persistence library: include it only from its .cpp
// files. All integers are little-endian and fixed-width; strings and lists
// carry a u32 length or count.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/state.hpp"

namespace wi::persistence::detail {

class writer {
 public:
  void u8(uint8_t x) { out_.push_back(static_cast<char>(x)); }

  void u32(uint32_t x) {
    for (int i = 0; i < 4; ++i)
      out_.push_back(static_cast<char>((x >> (8 * i)) & 0xFFu));
  }

  void u64(uint64_t x) {
    for (int i = 0; i < 8; ++i)
      out_.push_back(static_cast<char>((x >> (8 * i)) & 0xFFu));
  }

  void i64(int64_t x) {
    u64(static_cast<uint64_t>(x)); // two's complement, well-defined in C++20
  }

  void str(std::string_view x) {
    u32(checked_u32(x.size()));
    out_.append(x);
  }

  void status(endpoint_status x) { u8(static_cast<uint8_t>(x)); }

  /// Writes the element count of a list.
  void count(size_t n) { u32(checked_u32(n)); }

  void ids(const std::vector<uint64_t>& xs) {
    count(xs.size());
    for (auto x : xs)
      u64(x);
  }

  void delivery(delivery_status x) { u8(static_cast<uint8_t>(x)); }

  void attempt(const attempt_info& x) {
    str(x.event_id);
    u32(x.attempt);
    i64(x.at);
    u32(x.status_code);
    u32(x.latency_ms);
    str(x.error);
    str(x.response_excerpt);
  }

  void strings(const std::vector<std::string>& xs) {
    u32(checked_u32(xs.size()));
    for (const auto& x : xs)
      str(x);
  }

  void headers(const header_list& xs) {
    u32(checked_u32(xs.size()));
    for (const auto& [name, value] : xs) {
      str(name);
      str(value);
    }
  }

  /// A registry entry (directory snapshots, `tenant_imported`):
  /// str id, str name, str token_hash, i64 created_at, u8 active,
  /// str previous_token_hash, i64 previous_valid_until, i64 deactivated_at,
  /// u8 purged, then u64 epoch when `with_epoch`.
  void entry(const tenant_entry& t, bool with_epoch) {
    str(t.id);
    str(t.name);
    str(t.token_hash);
    i64(t.created_at);
    u8(t.active ? 1 : 0);
    str(t.previous_token_hash);
    i64(t.previous_valid_until);
    i64(t.deactivated_at);
    u8(t.purged ? 1 : 0);
    if (with_epoch)
      u64(t.epoch);
  }

  std::string take() && { return std::move(out_); }

 private:
  // Records come from validated requests whose sizes are bounded far below
  // 4 GiB. A larger value cannot be represented; writing a wrapped length
  // would store a record that replay rejects after the client was told it
  // succeeded, so this is treated as the invariant violation it is.
  static uint32_t checked_u32(size_t n) {
    if (n > std::numeric_limits<uint32_t>::max())
      std::abort();
    return static_cast<uint32_t>(n);
  }

  std::string out_;
};

// Reads from a bounded view. Every read checks the remaining size first and
// fails (returns false) instead of reading past the end; after a failure the
// reader stays failed.
class reader {
 public:
  explicit reader(std::string_view bytes) : rest_(bytes) {}

  [[nodiscard]] bool u8(uint8_t& x) {
    if (rest_.empty())
      return false;
    x = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return true;
  }

  [[nodiscard]] bool u32(uint32_t& x) {
    uint64_t tmp = 0;
    if (!le(4, tmp))
      return false;
    x = static_cast<uint32_t>(tmp);
    return true;
  }

  [[nodiscard]] bool u64(uint64_t& x) { return le(8, x); }

  [[nodiscard]] bool i64(int64_t& x) {
    uint64_t tmp = 0;
    if (!le(8, tmp))
      return false;
    x = static_cast<int64_t>(tmp); // modular conversion, well-defined
    return true;
  }

  [[nodiscard]] bool str(std::string& x) {
    uint32_t len = 0;
    if (!u32(len) || len > rest_.size())
      return false;
    x.assign(rest_.substr(0, len));
    rest_.remove_prefix(len);
    return true;
  }

  [[nodiscard]] bool status(endpoint_status& x) {
    uint8_t tmp = 0;
    if (!u8(tmp) || tmp > static_cast<uint8_t>(endpoint_status::inactive))
      return false;
    x = static_cast<endpoint_status>(tmp);
    return true;
  }

  [[nodiscard]] bool strings(std::vector<std::string>& xs) {
    uint32_t count = 0;
    if (!u32(count) || !plausible(count, 4))
      return false;
    xs.clear();
    xs.reserve(count);
    for (uint32_t i = 0; i < count; ++i)
      if (!str(xs.emplace_back()))
        return false;
    return true;
  }

  [[nodiscard]] bool headers(header_list& xs) {
    uint32_t count = 0;
    if (!u32(count) || !plausible(count, 8))
      return false;
    xs.clear();
    xs.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      auto& [name, value] = xs.emplace_back();
      if (!str(name) || !str(value))
        return false;
    }
    return true;
  }

  [[nodiscard]] bool ids(std::vector<uint64_t>& xs) {
    uint32_t n = 0;
    if (!count(n, 8))
      return false;
    xs.resize(n);
    for (auto& x : xs)
      if (!u64(x))
        return false;
    return true;
  }

  [[nodiscard]] bool delivery(delivery_status& x) {
    uint8_t tmp = 0;
    if (!u8(tmp) || tmp > static_cast<uint8_t>(delivery_status::failed))
      return false;
    x = static_cast<delivery_status>(tmp);
    return true;
  }

  [[nodiscard]] bool attempt(attempt_info& x) {
    uint32_t code = 0;
    if (!str(x.event_id) || !u32(x.attempt) || !i64(x.at) || !u32(code) ||
        code > 999 || !u32(x.latency_ms) || !str(x.error) ||
        !str(x.response_excerpt))
      return false;
    x.status_code = static_cast<uint16_t>(code);
    return true;
  }

  /// A flag byte: 0 or 1, anything else fails.
  [[nodiscard]] bool flag(bool& x) {
    uint8_t byte = 0;
    if (!u8(byte) || byte > 1)
      return false;
    x = byte == 1;
    return true;
  }

  /// A registry entry as `writer::entry` wrote it.
  [[nodiscard]] bool entry(tenant_entry& t, bool with_epoch) {
    if (!str(t.id) || !str(t.name) || !str(t.token_hash) ||
        !i64(t.created_at) || !flag(t.active) || !str(t.previous_token_hash) ||
        !i64(t.previous_valid_until) || !i64(t.deactivated_at) ||
        !flag(t.purged))
      return false;
    t.epoch = 0;
    return !with_epoch || u64(t.epoch);
  }

  /// Reads a list's element count, failing unless `n` elements of at least
  /// `min_size` bytes each fit in the rest of the input.
  [[nodiscard]] bool count(uint32_t& n, size_t min_size) {
    return u32(n) && plausible(n, min_size);
  }

  [[nodiscard]] bool at_end() const noexcept { return rest_.empty(); }

 private:
  // A count is plausible if `count` elements of at least `min_size` bytes
  // each fit in the remaining input: this bounds `reserve` by the input size.
  [[nodiscard]] bool plausible(uint32_t count, size_t min_size) const {
    return count <= rest_.size() / min_size;
  }

  [[nodiscard]] bool le(size_t n, uint64_t& x) {
    if (rest_.size() < n)
      return false;
    x = 0;
    for (size_t i = 0; i < n; ++i)
      x |= uint64_t{static_cast<uint8_t>(rest_[i])} << (8 * i);
    rest_.remove_prefix(n);
    return true;
  }

  std::string_view rest_;
};

} // namespace wi::persistence::detail
