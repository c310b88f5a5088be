#include "actors/stored_tenant.hpp"

#include <string>

#include "actors/tenant_state.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

constexpr size_t length_size = 4;

caf::error corrupt_at(const std::string& where, const caf::error& err) {
  return make_error(errc::corrupt_data, "wal", where + ": " + text_of(err));
}

} // namespace

void add_record(stored_tenant& x, std::string_view bytes) {
  auto n = static_cast<uint32_t>(bytes.size()); // WAL values are < 4 GiB
  char len[length_size];
  for (size_t i = 0; i < length_size; ++i)
    len[i] = static_cast<char>((n >> (8 * i)) & 0xFFu);
  x.records.append(len, length_size);
  x.records.append(bytes);
}

caf::expected<tenant_state> materialise(const std::string& tenant_id,
                                        const stored_tenant& x,
                                        std::span<const uint64_t> seqs) {
  tenant_state st;
  if (x.snapshot.empty()) {
    st.tenant_id = tenant_id;
  } else {
    auto decoded = persistence::decode_tenant_snapshot(x.snapshot);
    if (!decoded)
      return corrupt_at("snapshot of " + tenant_id, decoded.error());
    st = std::move(*decoded);
  }
  std::string_view rest = x.records;
  size_t k = 0;
  while (!rest.empty()) {
    uint32_t n = 0;
    if (rest.size() >= length_size)
      for (size_t i = 0; i < length_size; ++i)
        n |= uint32_t{static_cast<uint8_t>(rest[i])} << (8 * i);
    if (rest.size() < length_size + n || k >= seqs.size())
      return make_error(errc::internal, "stored records of tenant " +
                                          tenant_id + " are inconsistent");
    auto where = [&] { return "WAL record " + std::to_string(seqs[k]); };
    auto rec = persistence::decode(rest.substr(length_size, n));
    if (!rec)
      return corrupt_at(where(), rec.error());
    if (auto err = apply(st, std::move(*rec)))
      return corrupt_at(where(), err);
    rest.remove_prefix(length_size + n);
    ++k;
  }
  if (k != seqs.size())
    return make_error(errc::internal, "stored records of tenant " + tenant_id +
                                        " are inconsistent");
  return st;
}

} // namespace wi
