#include "persistence/record_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <utility>

#include "webhook_ingress/error.hpp"

// Wire format (version 1), all integers little-endian and fixed-width:
//
//   record  := version:u8 (= 1) tag:u8 body
//   tag 1   := tenant_created:          str tenant_id, str name,
//                                       str token_hash, i64 at
//   tag 2   := endpoint_created:        str tenant_id, u64 id, str url,
//                                       str secret, vec<str> event_types,
//                                       headers, status, i64 created_at,
//                                       i64 last_modified
//   tag 3   := endpoint_status_changed: str tenant_id, u64 id, status,
//                                       i64 at
//   str     := len:u32 bytes[len]
//   vec<T>  := count:u32 T[count]
//   headers := count:u32 (str name, str value)[count]
//   status  := u8 in 0..2 (`endpoint_status`)
//
// Tags are stable: a new `record` alternative gets the next free number.

namespace wi::persistence {

namespace {

constexpr uint8_t format_version = 1;

constexpr uint8_t tag_tenant_created = 1;
constexpr uint8_t tag_endpoint_created = 2;
constexpr uint8_t tag_endpoint_status_changed = 3;

// -- encoding -----------------------------------------------------------------

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

void encode_body(writer& w, const tenant_created& x) {
  w.u8(tag_tenant_created);
  w.str(x.tenant_id);
  w.str(x.name);
  w.str(x.token_hash);
  w.i64(x.at);
}

void encode_body(writer& w, const endpoint_created& x) {
  w.u8(tag_endpoint_created);
  w.str(x.tenant_id);
  w.u64(x.ep.id);
  w.str(x.ep.url);
  w.str(x.ep.secret);
  w.strings(x.ep.event_types);
  w.headers(x.ep.headers);
  w.status(x.ep.status);
  w.i64(x.ep.created_at);
  w.i64(x.ep.last_modified);
}

void encode_body(writer& w, const endpoint_status_changed& x) {
  w.u8(tag_endpoint_status_changed);
  w.str(x.tenant_id);
  w.u64(x.id);
  w.status(x.status);
  w.i64(x.at);
}

// -- decoding -----------------------------------------------------------------

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

bool decode_body(reader& r, tenant_created& x) {
  return r.str(x.tenant_id) && r.str(x.name) && r.str(x.token_hash) &&
         r.i64(x.at);
}

bool decode_body(reader& r, endpoint_created& x) {
  return r.str(x.tenant_id) && r.u64(x.ep.id) && r.str(x.ep.url) &&
         r.str(x.ep.secret) && r.strings(x.ep.event_types) &&
         r.headers(x.ep.headers) && r.status(x.ep.status) &&
         r.i64(x.ep.created_at) && r.i64(x.ep.last_modified);
}

bool decode_body(reader& r, endpoint_status_changed& x) {
  return r.str(x.tenant_id) && r.u64(x.id) && r.status(x.status) && r.i64(x.at);
}

caf::error corrupt(std::string text) {
  return make_error(errc::corrupt_data, "wal", std::move(text));
}

template <class T>
caf::expected<record> decode_as(reader& r) {
  T x;
  if (!decode_body(r, x))
    return corrupt("truncated or malformed WAL record");
  if (!r.at_end())
    return corrupt("trailing bytes after WAL record");
  return record{std::move(x)};
}

} // namespace

std::string encode(const record& x) {
  writer w;
  w.u8(format_version);
  std::visit([&w](const auto& body) { encode_body(w, body); }, x);
  return std::move(w).take();
}

caf::expected<record> decode(std::string_view bytes) {
  reader r{bytes};
  uint8_t version = 0;
  if (!r.u8(version))
    return corrupt("empty WAL record");
  if (version != format_version)
    return corrupt("unknown WAL record format version " +
                   std::to_string(version));
  uint8_t tag = 0;
  if (!r.u8(tag))
    return corrupt("WAL record without a tag");
  switch (tag) {
  case tag_tenant_created:
    return decode_as<tenant_created>(r);
  case tag_endpoint_created:
    return decode_as<endpoint_created>(r);
  case tag_endpoint_status_changed:
    return decode_as<endpoint_status_changed>(r);
  default:
    return corrupt("unknown WAL record tag " + std::to_string(tag));
  }
}

} // namespace wi::persistence
