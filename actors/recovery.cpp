#include "actors/recovery.hpp"

#include <string>

#include "persistence/record_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

caf::expected<node_state> recover(persistence::storage& store) {
  node_state st;
  auto on_record = [&st](uint64_t seq, std::string_view bytes) -> caf::error {
    auto at = [seq](const caf::error& err) {
      return make_error(errc::corrupt_data, "wal",
                        "WAL record " + std::to_string(seq) + ": " +
                          text_of(err));
    };
    auto rec = persistence::decode(bytes);
    if (!rec)
      return at(rec.error());
    if (auto err = wi::apply(st, *rec))
      return at(err);
    st.last_sequence = seq;
    return {};
  };
  if (auto err = store.replay(1, on_record))
    return err;
  return st;
}

} // namespace wi
