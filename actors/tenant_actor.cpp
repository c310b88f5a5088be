#include "actors/tenant_actor.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "actors/crypto.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

using self_ptr = tenant_actor::stateful_pointer<tenant_actor_state>;

caf::error endpoint_not_found(endpoint_id id) {
  return make_error(errc::not_found, "id",
                    "endpoint " + std::to_string(id) + " not found");
}

/// Sends the whole state to the WAL writer as a snapshot covering
/// `last_seq`; the writer's answer (the covered sequence number once the
/// snapshot is durable) goes to whoever sent the current message.
caf::delegated<uint64_t> delegate_snapshot(self_ptr self) {
  auto& st = self->state;
  st.uncovered = 0;
  return self->delegate(st.wal, snapshot_atom::value, st.data.tenant_id,
                        st.last_seq, persistence::encode_snapshot(st.data));
}

/// Like `delegate_snapshot`, for a snapshot nobody waits for. A failed write
/// only leaves the records in the WAL until the next snapshot.
void start_snapshot(self_ptr self) {
  auto& st = self->state;
  st.uncovered = 0;
  self
    ->request(st.wal, caf::infinite, snapshot_atom::value, st.data.tenant_id,
              st.last_seq, persistence::encode_snapshot(st.data))
    .then([](uint64_t) {}, [](caf::error&) {});
}

/// Makes `rec` durable, then applies it and answers `reply` with
/// `on_applied()`, evaluated on the state after the record.
template <class T, class OnApplied>
void commit(self_ptr self, record rec, reply_fn<T> reply,
            OnApplied on_applied) {
  auto bytes = persistence::encode(rec);
  self
    ->request(self->state.wal, caf::infinite, append_atom::value,
              self->state.data.tenant_id, std::move(bytes))
    .then(
      [self, rec = std::move(rec), reply, on_applied](uint64_t seq) {
        auto& st = self->state;
        if (auto err = wi::apply(st.data, rec)) {
          // A durable record that does not apply is a bug in the caller.
          reply(make_error(errc::internal,
                           "durable record did not apply: " + text_of(err)));
          return;
        }
        st.last_seq = seq;
        if (++st.uncovered >= st.snapshot_every)
          start_snapshot(self);
        reply(on_applied());
      },
      [reply](caf::error& err) { reply(std::move(err)); });
}

} // namespace

tenant_actor::behavior_type tenant_actor_impl(self_ptr self, tenant_state init,
                                              owner_log log,
                                              wal_writer_actor wal,
                                              uint64_t snapshot_every) {
  auto& initial = self->state;
  initial.next_id = init.last_id + 1;
  initial.data = std::move(init);
  initial.wal = std::move(wal);
  initial.last_seq = log.last_seq;
  initial.uncovered = log.uncovered.size();
  initial.snapshot_every = std::max<uint64_t>(snapshot_every, 1);
  return {
    [self](create_atom, new_endpoint& req, reply_fn<endpoint>& reply) {
      auto& st = self->state;
      auto now = crypto::now_seconds();
      endpoint ep{st.next_id++,
                  std::move(req.url),
                  std::move(req.secret),
                  std::move(req.event_types),
                  std::move(req.headers),
                  endpoint_status::active,
                  now,
                  now};
      auto id = ep.id;
      commit(self, endpoint_created{st.data.tenant_id, std::move(ep)},
             std::move(reply),
             [self, id] { return self->state.data.endpoints.at(id); });
    },
    [self](get_atom, endpoint_id id, reply_fn<endpoint>& reply) {
      const auto& eps = self->state.data.endpoints;
      if (auto i = eps.find(id); i != eps.end())
        reply(i->second);
      else
        reply(endpoint_not_found(id));
    },
    [self](status_atom, endpoint_id id, endpoint_status status,
           reply_fn<no_content>& reply) {
      auto& st = self->state;
      if (st.data.endpoints.count(id) == 0) {
        reply(endpoint_not_found(id));
        return;
      }
      endpoint_status_changed rec{st.data.tenant_id, id, status,
                                  crypto::now_seconds()};
      commit(self, std::move(rec), std::move(reply),
             [] { return no_content{}; });
    },
    [self](stats_atom, endpoint_id id, reply_fn<endpoint_stats>& reply) {
      const auto& eps = self->state.data.endpoints;
      if (auto i = eps.find(id); i != eps.end())
        reply(statistics_of(i->second));
      else
        reply(endpoint_not_found(id));
    },
    [self](list_atom, const list_query& q, reply_fn<endpoint_page>& reply) {
      reply(list_endpoints(self->state.data, q));
    },
    [self](checkpoint_atom) -> caf::result<uint64_t> {
      if (self->state.uncovered == 0)
        return self->state.last_seq; // the latest snapshot covers everything
      return delegate_snapshot(self);
    },
  };
}

} // namespace wi
