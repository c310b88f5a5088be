#pragma once

// The tenant actor's commit path (the shell's half of "commit, then apply"):
// records go to the WAL writer through `wal_commit`, are applied with `apply`
// once durable, and count towards the next snapshot (`commit_log`). Used by
// the tenant actor's handlers only (tenant_actor.cpp); every function must
// run inside the actor `self`.

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include <caf/error.hpp>

#include "actors/common/clock.hpp"
#include "actors/common/wal_commit.hpp"
#include "actors/tenant/tenant_actor.hpp"
#include "persistence/record_codec.hpp"
#include "webhook_ingress/records.hpp"

namespace wi::tenant_shell {

using self_ptr = tenant_actor::stateful_pointer<tenant_actor_state>;

/// The tenant's clock (`delivery_settings::clock`; the wall clock when
/// deliveries are off).
const clock& clock_of(self_ptr self);

/// The tenant's "now" (see `clock_of`).
unix_millis now_millis(self_ptr self);

/// Sends the whole state to the WAL writer as a snapshot covering
/// `last_seq`; the writer's answer (the covered sequence number once the
/// snapshot is durable) goes to whoever sent the current message.
caf::delegated<uint64_t> delegate_snapshot(self_ptr self);

/// Like `delegate_snapshot`, for a snapshot nobody waits for. A failed write
/// only leaves the records in the WAL until the next snapshot.
void start_snapshot(self_ptr self);

/// Applies a record the WAL writer confirmed as durable (sequence `seq`).
/// Returns an error only for a bug: a durable record must apply.
[[nodiscard]] caf::error apply_durable(self_ptr self, const record& rec,
                                       uint64_t seq);

/// The frozen state, as a freeze answers it (a planned move).
frozen_tenant frozen_state(self_ptr self);

/// Answers a waiting freeze once no WAL commit is under way any more.
void settle_freeze(self_ptr self);

/// `wal_commit` for the tenant actor: counts the append as under way until
/// its answer was handled (what a freeze waits for). Every record of the
/// tenant goes through it.
template <class OnDurable, class OnError>
void tenant_commit(self_ptr self, wal_append req, OnDurable on_durable,
                   OnError on_error) {
  auto& st = self->state;
  ++st.commits_under_way;
  wal_commit(
    self, st.wal, std::move(req),
    [self, f = std::move(on_durable)](uint64_t seq) mutable {
      f(seq);
      --self->state.commits_under_way;
      settle_freeze(self);
    },
    [self, g = std::move(on_error)](caf::error err) mutable {
      g(std::move(err));
      --self->state.commits_under_way;
      settle_freeze(self);
    });
}

/// Makes `rec` (and an optional payload stored with it) durable, then
/// applies it and calls `on_applied()` on the new state; calls `on_error`
/// with the reason if the write failed (nothing was applied).
template <class OnApplied, class OnError>
void commit(self_ptr self, record rec, std::string payload_key,
            std::string payload, OnApplied on_applied, OnError on_error) {
  auto& st = self->state;
  auto bytes = persistence::encode(rec);
  auto handle = [self, rec = std::move(rec), on_applied,
                 on_error](uint64_t seq) {
    if (auto err = apply_durable(self, rec, seq))
      on_error(std::move(err));
    else
      on_applied();
  };
  auto req = wal_append::one(st.data.tenant_id, std::move(bytes));
  req.payload_key = std::move(payload_key);
  req.payload = std::move(payload);
  tenant_commit(self, std::move(req), std::move(handle), std::move(on_error));
}

/// Logs what became of a request's record, naming the request like the
/// access log does: applied at debug, failed at warn. Only ids, never
/// content.
void log_request(self_ptr self, std::string_view kind,
                 const std::string& request_id, const caf::error* err);

/// `commit` for a request from outside: answers `reply` with `on_applied()`
/// or with the error.
template <class T, class OnApplied>
void commit_reply(self_ptr self, record rec, reply_fn<T> reply,
                  OnApplied on_applied) {
  auto kind = kind_of(rec);
  commit(
    self, std::move(rec), {}, {},
    [self, kind, reply, on_applied] {
      log_request(self, kind, reply.request_id(), nullptr);
      reply(on_applied());
    },
    [self, kind, reply](caf::error err) {
      log_request(self, kind, reply.request_id(), &err);
      reply(std::move(err));
    });
}

/// Like `commit`, but the record shares one WAL append with every record
/// committed this way until the actor handles its next `flush_atom`
/// message (see `tenant_actor_state::batch`). For records whose callers do
/// not wait (attempt outcomes): one append and one reply instead of one per
/// record.
void commit_batched(self_ptr self, record rec, std::function<void()> on_applied,
                    std::function<void(caf::error)> on_error);

/// Sends the gathered records to the WAL writer as one append; applies them
/// in order once it is durable.
void flush_batch(self_ptr self);

} // namespace wi::tenant_shell
