#include "actors/stored_tenant.hpp"

#include <string>

#include "actors/tenant_state.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

constexpr size_t head_size = stored_record_head;

caf::error corrupt_at(const std::string& where, const caf::error& err) {
  return make_error(errc::corrupt_data, "wal", where + ": " + text_of(err));
}

uint64_t read_le(std::string_view bytes, size_t n) {
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i)
    x |= uint64_t{static_cast<uint8_t>(bytes[i])} << (8 * i);
  return x;
}

} // namespace

void add_record(stored_tenant& x, uint64_t seq, std::string_view bytes) {
  auto n = uint64_t{bytes.size()}; // WAL values are < 4 GiB
  char head[head_size];
  for (size_t i = 0; i < 8; ++i)
    head[i] = static_cast<char>((seq >> (8 * i)) & 0xFFu);
  for (size_t i = 0; i < 4; ++i)
    head[8 + i] = static_cast<char>((n >> (8 * i)) & 0xFFu);
  x.records.append(head, head_size);
  x.records.append(bytes);
}

caf::error for_each_record(
  const stored_tenant& x,
  const std::function<caf::error(uint64_t, std::string_view)>& f) {
  std::string_view rest = x.records;
  while (!rest.empty()) {
    if (rest.size() < head_size)
      return make_error(errc::internal, "stored records are truncated");
    auto seq = read_le(rest, 8);
    auto n = read_le(rest.substr(8), 4);
    rest.remove_prefix(head_size);
    if (rest.size() < n)
      return make_error(errc::internal, "stored records are truncated");
    if (auto err = f(seq, rest.substr(0, n)))
      return err;
    rest.remove_prefix(n);
  }
  return {};
}

caf::expected<tenant_state> materialise(const std::string& tenant_id,
                                        const stored_tenant& x) {
  tenant_state st;
  if (x.snapshot.empty()) {
    st.tenant_id = tenant_id;
  } else {
    auto decoded = persistence::decode_tenant_snapshot(x.snapshot);
    if (!decoded)
      return corrupt_at("snapshot of " + tenant_id, decoded.error());
    st = std::move(*decoded);
  }
  auto err = for_each_record(
    x, [&st](uint64_t seq, std::string_view bytes) -> caf::error {
      auto where = [seq] { return "WAL record " + std::to_string(seq); };
      auto rec = persistence::decode(bytes);
      if (!rec)
        return corrupt_at(where(), rec.error());
      if (auto failed = apply(st, std::move(*rec)))
        return corrupt_at(where(), failed);
      return {};
    });
  if (err)
    return err;
  return st;
}

} // namespace wi
