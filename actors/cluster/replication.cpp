#include "actors/cluster/replication.hpp"

#include <deque>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "webhook_ingress/error.hpp"
#include "webhook_ingress/messages.hpp"

// Group commit without a timer, as in the WAL writer (persistence/
// wal_writer.cpp): a batch only queues and, if none is scheduled, sends the
// keeper a `flush`, which lands behind every batch already in the mailbox.

namespace wi::cluster {

namespace {

using keeper_impl = replica_actor::extend<caf::reacts_to<flush_atom>>;

struct queued_batch {
  replica_batch batch;
  caf::typed_response_promise<replica_ack> promise;
};

struct keeper_state {
  std::shared_ptr<persistence::replica_store> store;
  replica_keeper_config cfg;
  std::deque<queued_batch> queue;
  bool flush_scheduled = false;

  keeper_state() = default;
  keeper_state(const keeper_state&) = delete;
  keeper_state& operator=(const keeper_state&) = delete;

  ~keeper_state() {
    for (auto& q : queue)
      q.promise.deliver(make_error(errc::storage_unavailable,
                                   "the replica keeper stopped before the "
                                   "batch was written"));
  }

  static inline const char* name = "wi.replica_keeper";
};

using keeper_pointer = keeper_impl::stateful_pointer<keeper_state>;

caf::result<replica_ack> enqueue(keeper_pointer self, replica_batch batch) {
  auto& st = self->state;
  if (st.cfg.owns)
    for (const auto& s : batch.slices)
      if (st.cfg.owns(s.tenant))
        return make_error(errc::tenant_unavailable, "tenant",
                          "tenant " + s.tenant + " is owned by this node, " +
                            batch.from + " cannot replicate it here");
  auto promise = self->make_response_promise<replica_ack>();
  st.queue.push_back({std::move(batch), promise});
  if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->send(caf::actor_cast<keeper_impl>(self), flush_atom::value);
  }
  return promise;
}

/// Writes the oldest queued batches (at least one, never split) as one
/// synced write and answers each with its slices' results.
void flush(keeper_pointer self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  size_t n = 0;
  size_t count = 0;
  while (
    n < st.queue.size() &&
    (n == 0 || count + st.queue[n].batch.slices.size() <= st.cfg.max_slices))
    count += st.queue[n++].batch.slices.size();
  std::vector<persistence::replica_slice> slices;
  slices.reserve(count);
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; ++i)
    for (auto& s : st.queue[i].batch.slices) {
      bytes += s.size_bytes();
      slices.push_back(std::move(s));
    }
  auto results = st.store->write(slices);
  if (results && st.cfg.on_write)
    st.cfg.on_write(bytes);
  size_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    auto& front = st.queue.front();
    auto size = front.batch.slices.size();
    if (results) {
      std::vector<persistence::slice_result> mine(
        results->begin() + static_cast<ptrdiff_t>(at),
        results->begin() + static_cast<ptrdiff_t>(at + size));
      front.promise.deliver(replica_ack::of(mine));
    } else {
      front.promise.deliver(results.error());
    }
    at += size;
    st.queue.pop_front();
  }
  if (!st.queue.empty()) {
    st.flush_scheduled = true;
    self->send(caf::actor_cast<keeper_impl>(self), flush_atom::value);
  }
}

keeper_impl::behavior_type
replica_keeper(keeper_pointer self,
               std::shared_ptr<persistence::replica_store> store,
               replica_keeper_config cfg) {
  self->state.store = std::move(store);
  self->state.cfg = std::move(cfg);
  self->state.cfg.max_slices = std::max<size_t>(self->state.cfg.max_slices, 1);
  return {
    [self](replicate_atom, replica_batch& batch) -> caf::result<replica_ack> {
      return enqueue(self, std::move(batch));
    },
    [self](flush_atom) { flush(self); },
    [self](replica_base_atom, const persistence::replica_base& base)
      -> caf::result<persistence::replica_info> {
      auto& st = self->state;
      if (st.cfg.owns && st.cfg.owns(base.tenant))
        return make_error(errc::tenant_unavailable, "tenant",
                          "tenant " + base.tenant + " is owned by this node");
      auto info = st.store->put_base(base);
      if (!info)
        return info.error();
      return *info;
    },
  };
}

} // namespace

replica_actor
spawn_replica_keeper(caf::actor_system& sys,
                     std::shared_ptr<persistence::replica_store> store,
                     replica_keeper_config cfg) {
  return sys.spawn<caf::detached>(replica_keeper, std::move(store),
                                  std::move(cfg));
}

void configure_replication(caf::actor_system_config& cfg) {
  cfg.add_message_type<persistence::replica_slice>("wi_replica_slice");
  cfg.add_message_type<persistence::replica_base>("wi_replica_base");
  cfg.add_message_type<persistence::replica_info>("wi_replica_info");
  cfg.add_message_type<replica_batch>("wi_replica_batch");
  cfg.add_message_type<replica_ack>("wi_replica_ack");
}

} // namespace wi::cluster
