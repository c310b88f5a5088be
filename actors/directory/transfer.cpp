#include "actors/directory/transfer.hpp"

#include <utility>

#include <caf/send.hpp>

#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

local_tenants local_tenants_of(directory_actor directory) {
  local_tenants result;
  result.freeze =
    [directory](std::string tenant,
                std::function<void(caf::expected<tenant_export>)> done) {
      caf::anon_send(directory, freeze_atom::value, std::move(tenant),
                     export_done{std::move(done)});
    };
  result.thaw = [directory](std::string tenant,
                            std::function<void(caf::error)> done) {
    caf::anon_send(directory, thaw_atom::value, std::move(tenant),
                   transfer_done{std::move(done)});
  };
  result.release_to = [directory](std::string tenant, std::string to,
                                  std::function<void(caf::error)> done) {
    caf::anon_send(directory, release_atom::value, std::move(tenant),
                   std::move(to), transfer_done{std::move(done)});
  };
  result.import = [directory](tenant_export x, uint64_t epoch,
                              std::function<void(caf::error)> done) {
    caf::anon_send(directory, import_atom::value, std::move(x), epoch,
                   transfer_done{std::move(done)});
  };
  result.activate = [directory](std::string tenant, uint64_t epoch,
                                std::function<void(caf::error)> done) {
    caf::anon_send(directory, activate_atom::value, std::move(tenant), epoch,
                   transfer_done{std::move(done)});
  };
  result.discard = [directory](std::string tenant,
                               std::function<void(caf::error)> done) {
    caf::anon_send(directory, discard_atom::value, std::move(tenant),
                   transfer_done{std::move(done)});
  };
  return result;
}

caf::expected<prepared_import> prepare_import(tenant_export x, uint64_t epoch) {
  const auto& id = x.tenant_id;
  auto invalid = [](std::string text) {
    return make_error(errc::validation_failed, "tenant", std::move(text));
  };
  auto entry = persistence::decode_entry(x.registry);
  if (!entry)
    return std::move(entry.error());
  auto data = persistence::decode_tenant_snapshot(x.snapshot);
  if (!data)
    return std::move(data.error());
  if (entry->id != id || data->tenant_id != id || entry->purged)
    return invalid("the export of tenant " + id +
                   " holds another tenant's data");
  auto prefix = id + '/';
  for (const auto& [key, value] : x.payloads)
    if (key.compare(0, prefix.size(), prefix) != 0)
      return invalid("payload key " + key + " is not tenant " + id + "'s");
  prepared_import result;
  result.bytes = x.size_bytes();
  result.head = tenant_imported{id, std::move(*entry), epoch};
  result.head_bytes = persistence::encode(record{result.head});
  result.state_bytes = persistence::encode(
    record{tenant_state_imported{id, std::move(x.snapshot)}});
  result.data = std::move(*data);
  result.payloads = std::move(x.payloads);
  return result;
}

} // namespace wi
