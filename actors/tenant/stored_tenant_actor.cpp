#include "actors/tenant/stored_tenant_actor.hpp"

#include <cstdlib>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/common/metrics.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

using self_ptr = tenant_actor::stateful_pointer<tenant_actor_state>;

/// What the actor needs once its records are read.
struct start_args {
  std::string tenant_id;
  stored_tenant stored;
  owner_log log;
  wal_writer_actor wal;
  uint64_t snapshot_every = 0;
  std::shared_ptr<const delivery_settings> delivery;
};

[[noreturn]] void die(const std::string& tenant_id, const std::string& what,
                      const caf::error& err) {
  spdlog::critical("tenant {}: {}: {}; the data directory is inconsistent, "
                   "exiting",
                   tenant_id, what, text_of(err));
  spdlog::default_logger()->flush();
  std::_Exit(EXIT_FAILURE);
}

/// Decodes the stored state and starts serving it.
void decode_and_start(self_ptr self, start_args& args) {
  auto state = materialise(args.tenant_id, args.stored, args.log.uncovered);
  if (!state)
    die(args.tenant_id, "stored state does not apply", state.error());
  args.stored = stored_tenant{}; // the bytes are not needed any more
  // A decoded state counts in the gauges while an actor holds it.
  node_metrics().count_tenant(*state, +1);
  start_tenant(self, std::move(*state), args.log, std::move(args.wal),
               args.snapshot_every, std::move(args.delivery));
}

} // namespace

tenant_actor::behavior_type stored_tenant_actor_impl(
  self_ptr self, std::string tenant_id, stored_tenant stored, owner_log log,
  wal_writer_actor wal, wal_reader_actor reader, uint64_t snapshot_every,
  std::shared_ptr<const delivery_settings> delivery) {
  auto args = std::make_shared<start_args>(
    start_args{std::move(tenant_id), std::move(stored), std::move(log),
               std::move(wal), snapshot_every, std::move(delivery)});
  if (!needs_records(args->stored, args->log.uncovered)) {
    decode_and_start(self, *args);
    return tenant_behavior(self);
  }
  // `await` holds every other message in the mailbox until the answer.
  self
    ->request(reader, caf::infinite, read_atom::value,
              std::vector<std::vector<uint64_t>>{args->log.uncovered})
    .await(
      [self, args](std::vector<std::string>& records) {
        args->stored.records = std::move(records.at(0));
        decode_and_start(self, *args);
      },
      [args](caf::error& err) {
        die(args->tenant_id, "cannot read its WAL records back", err);
      });
  return tenant_behavior(self);
}

} // namespace wi
