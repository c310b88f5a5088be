#include "actors/tenant/stored_tenant.hpp"

#include <string>

#include "actors/tenant/tenant_state.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "persistence/wal_reader.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

caf::error corrupt_at(const std::string& where, const caf::error& err) {
  return make_error(errc::corrupt_data, "wal", where + ": " + text_of(err));
}

} // namespace

caf::expected<tenant_state> materialise(const std::string& tenant_id,
                                        const stored_tenant& x,
                                        const std::vector<uint64_t>& seqs) {
  auto mismatch = [&] {
    return make_error(errc::internal,
                      "tenant " + tenant_id +
                        ": the records read back do not match its " +
                        std::to_string(seqs.size()) + " sequence numbers");
  };
  tenant_state st;
  if (x.snapshot.empty()) {
    st.tenant_id = tenant_id;
  } else {
    auto decoded = persistence::decode_tenant_snapshot(x.snapshot);
    if (!decoded)
      return corrupt_at("snapshot of " + tenant_id, decoded.error());
    st = std::move(*decoded);
  }
  size_t i = 0;
  auto err = persistence::for_each_packed(
    x.records, [&](std::string_view bytes) -> caf::error {
      if (i == seqs.size())
        return mismatch();
      auto seq = seqs[i++];
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
  if (i != seqs.size())
    return mismatch();
  return st;
}

} // namespace wi
