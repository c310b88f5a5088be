#include "actors/stored_tenant_actor.hpp"

#include <cstdlib>
#include <utility>

#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

tenant_actor::behavior_type stored_tenant_actor_impl(
  tenant_actor::stateful_pointer<tenant_actor_state> self,
  std::string tenant_id, stored_tenant stored, owner_log log,
  wal_writer_actor wal, uint64_t snapshot_every,
  std::shared_ptr<const delivery_settings> delivery) {
  auto state = materialise(tenant_id, stored);
  if (!state) {
    spdlog::critical("tenant {}: stored state does not apply: {}; the data "
                     "directory is inconsistent, exiting",
                     tenant_id, text_of(state.error()));
    spdlog::default_logger()->flush();
    std::_Exit(EXIT_FAILURE);
  }
  stored = stored_tenant{}; // the bytes are not needed any more
  // A decoded state counts in the gauges while an actor holds it.
  node_metrics().count_tenant(*state, +1);
  return tenant_actor_impl(self, std::move(*state), std::move(log),
                           std::move(wal), snapshot_every, std::move(delivery));
}

} // namespace wi
