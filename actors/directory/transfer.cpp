#include "actors/directory/transfer.hpp"

#include <utility>

#include <caf/send.hpp>

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

} // namespace wi
