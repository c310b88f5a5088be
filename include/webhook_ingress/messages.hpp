#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/unit.hpp>

#include "webhook_ingress/admin.hpp"
#include "webhook_ingress/delivery.hpp"
#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/history.hpp"
#include "webhook_ingress/limits.hpp"
#include "webhook_ingress/state.hpp"
#include "webhook_ingress/transfer.hpp"

namespace wi {

// -- atoms --------------------------------------------------------------------

using create_atom = caf::atom_constant<caf::atom("create")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using append_atom = caf::atom_constant<caf::atom("append")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using checkpoint_atom = caf::atom_constant<caf::atom("checkpoint")>;
using listen_atom = caf::atom_constant<caf::atom("listen")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using attempts_atom = caf::atom_constant<caf::atom("attempts")>;
using resend_atom = caf::atom_constant<caf::atom("resend")>;
using due_atom = caf::atom_constant<caf::atom("due")>;
/// An endpoint's rate limit has a token again (issue 17).
using throttle_atom = caf::atom_constant<caf::atom("throttle")>;
using attempted_atom = caf::atom_constant<caf::atom("attempted")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
using rotate_atom = caf::atom_constant<caf::atom("rotate")>;
using deactivate_atom = caf::atom_constant<caf::atom("deactivate")>;
using purge_atom = caf::atom_constant<caf::atom("purge")>;
using node_atom = caf::atom_constant<caf::atom("node")>;
using warm_atom = caf::atom_constant<caf::atom("warm")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using limits_atom = caf::atom_constant<caf::atom("limits")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
using secret_atom = caf::atom_constant<caf::atom("secret")>;
using freeze_atom = caf::atom_constant<caf::atom("freeze")>;
using thaw_atom = caf::atom_constant<caf::atom("thaw")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using import_atom = caf::atom_constant<caf::atom("import")>;
using activate_atom = caf::atom_constant<caf::atom("activate")>;
using discard_atom = caf::atom_constant<caf::atom("discard")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using recover_atom = caf::atom_constant<caf::atom("recover")>;

// -- replies to non-actor callers ---------------------------------------------

/// The continuation of a request that came from outside the actor system
/// (an HTTP handler). The actor that computes the answer calls it exactly
/// once, from its own thread; the callee must not block. This keeps the HTTP
/// hot path to one actor hop: no bridge actor, no blocking requester.
///
/// It carries the request's id, so that actor-side log lines about the
/// request name it (`request_id=...`, as the access log does).
template <class T>
class reply_fn {
 public:
  using function_type = std::function<void(caf::expected<T>)>;

  reply_fn() = default;

  /// A continuation without a request id (tests, internal callers). Not a
  /// copy or move: those keep the request id.
  template <class F, class = std::enable_if_t<
                       !std::is_same_v<std::decay_t<F>, reply_fn> &&
                       std::is_constructible_v<function_type, F&&>>>
  reply_fn(F&& f) : fn_(std::forward<F>(f)) {
    // nop
  }

  reply_fn(std::string request_id, function_type f)
    : request_id_(std::move(request_id)), fn_(std::move(f)) {
    // nop
  }

  /// Answers the request.
  void operator()(caf::expected<T> x) const { fn_(std::move(x)); }

  /// The id of the request this answers; empty if none.
  [[nodiscard]] const std::string& request_id() const noexcept {
    return request_id_;
  }

  explicit operator bool() const noexcept { return static_cast<bool>(fn_); }

 private:
  std::string request_id_;
  function_type fn_;
};

/// An answer without content (HTTP 204).
using no_content = caf::unit_t;

// -- typed actor interfaces ---------------------------------------------------

/// Reads event payloads from the store on its own thread (see
/// `persistence/payload_reader.hpp`); replies with the payload, or
/// `errc::not_found` / `errc::storage_unavailable`.
using payload_reader_actor =
  caf::typed_actor<caf::replies_to<get_atom, std::string>::with<std::string>>;

/// Reads WAL records back on its own thread (see
/// `persistence/wal_reader.hpp`): given lists of sequence numbers, each
/// ascending, replies with one packed string of records per list, or
/// `errc::corrupt_data` / `errc::storage_unavailable`.
///
/// Also, given payload keys, replies with (key, bytes) of each stored one,
/// in the order asked (absent keys are left out): a planned move reads a
/// tenant's payloads through it.
using wal_reader_actor = caf::typed_actor<
  caf::replies_to<read_atom, std::vector<std::vector<uint64_t>>>::with<
    std::vector<std::string>>,
  caf::replies_to<read_atom, get_atom, std::vector<std::string>>::with<
    std::vector<std::pair<std::string, std::string>>>>;

/// Takes a snapshot of a WAL owner when the WAL writer asks (the directory
/// actor implements it).
using checkpoint_actor =
  caf::typed_actor<caf::reacts_to<checkpoint_atom, std::string>>;

/// One append to the WAL writer: records of one owner, written in one
/// synced batch with consecutive sequence numbers, all or none, together
/// with the payload writes and deletes that must share their fate.
struct wal_append {
  /// The tenant id, or `directory_owner`.
  std::string owner;
  /// Encoded records (`persistence::encode`), at least one.
  std::vector<std::string> records;
  /// A payload stored in the same batch (an accepted event's); empty key if
  /// none.
  std::string payload_key;
  std::string payload;
  /// Payload keys deleted in the same batch (history pruning).
  std::vector<std::string> erased_payloads;
  /// More payloads stored in the same batch: (key, bytes) (a planned move's
  /// import).
  std::vector<std::pair<std::string, std::string>> payloads;
  /// The WAL owner of each record when they differ (an import: the
  /// directory's `tenant_imported`, then the tenant's
  /// `tenant_state_imported`); empty: every record is `owner`'s.
  std::vector<std::string> owners;
  /// Set by an import: a purged (discarded) `owner` comes back, its appends
  /// are taken again.
  bool revives = false;

  /// One record of `owner`, nothing else.
  [[nodiscard]] static wal_append one(std::string owner, std::string bytes) {
    wal_append result;
    result.owner = std::move(owner);
    result.records.push_back(std::move(bytes));
    return result;
  }
};

/// Appends encoded WAL records durably and keeps the WAL bounded (see
/// `persistence/wal_writer.hpp`).
/// - `(append, wal_append)`: replies with the sequence number of the first
///   record once its batch is synced (record `i` has first + `i`), or with
///   `errc::storage_unavailable` / `errc::overloaded` (nothing written).
/// - `(snapshot, owner, covered_seq, bytes)`: stores the owner's snapshot
///   (synced), then deletes WAL records no owner needs any more; replies
///   with `covered_seq`.
/// - `(listen, checkpointer)`: whom to ask for a snapshot when one owner
///   holds back truncation for too long.
/// - `(stats)`: where the log stands.
/// - `(purge, owner)`: forgets a purged tenant: its records no longer hold
///   back truncation, later appends for it are refused (`errc::not_found`;
///   an append with `revives` set takes it back: a discarded tenant
///   imported again),
///   and its snapshot and payloads are deleted; replies whether the
///   deletion succeeded.
using wal_writer_actor =
  caf::typed_actor<caf::replies_to<append_atom, wal_append>::with<uint64_t>,
                   caf::replies_to<snapshot_atom, std::string, uint64_t,
                                   std::string>::with<uint64_t>,
                   caf::reacts_to<listen_atom, checkpoint_actor>,
                   caf::replies_to<stats_atom>::with<wal_status>,
                   caf::replies_to<purge_atom, std::string>::with<bool>>;

/// The answers to a batch publish, one per event in order: its receipt,
/// or why it was refused (issue 19).
using batch_receipts = std::vector<caf::expected<event_receipt>>;

/// A tenant actor's answer to `freeze`: its state as durably applied once
/// every WAL commit it had under way completed, and where it stands in the
/// WAL (`commit_log`: last applied sequence, records since its snapshot).
struct frozen_tenant {
  tenant_state data;
  uint64_t last_seq = 0;
  uint64_t uncovered = 0;
};

/// Continuations of the planned-move steps (see `local_tenants`), wrapped
/// so that their message types are this project's own.
struct export_done {
  std::function<void(caf::expected<tenant_export>)> fn;
};
struct transfer_done {
  std::function<void(caf::error)> fn;
};

/// One per tenant: owns the tenant's endpoints and serializes every mutation
/// and status transition (see `actors/tenant/tenant_actor.hpp`).
using tenant_actor = caf::typed_actor<
  caf::reacts_to<create_atom, new_endpoint, reply_fn<endpoint>>,
  caf::reacts_to<get_atom, endpoint_id, reply_fn<endpoint_view>>,
  caf::reacts_to<status_atom, endpoint_id, endpoint_status,
                 reply_fn<no_content>>,
  caf::reacts_to<stats_atom, endpoint_id, reply_fn<endpoint_stats>>,
  caf::reacts_to<list_atom, list_query, reply_fn<endpoint_page>>,
  caf::reacts_to<publish_atom, new_event, reply_fn<event_receipt>>,
  // A batch (`POST /v1/webhook/events/batch`, issue 19): the answer of each
  // event in order, in one WAL append.
  caf::reacts_to<publish_atom, std::vector<new_event>,
                 reply_fn<batch_receipts>>,
  caf::reacts_to<get_atom, std::string, reply_fn<event_state>>,
  caf::reacts_to<attempts_atom, endpoint_id, uint32_t, uint32_t,
                 reply_fn<attempt_page>>,
  caf::reacts_to<resend_atom, endpoint_id, std::string,
                 reply_fn<delivery_state>>,
  // Internal: a delivery's attempt is due (timer), and an attempt ended
  // (from the delivery engine): event id, endpoint, attempt number, start
  // time, outcome.
  caf::reacts_to<due_atom, std::string, endpoint_id>,
  caf::reacts_to<throttle_atom, endpoint_id>,
  caf::reacts_to<attempted_atom, std::string, endpoint_id, uint32_t,
                 unix_millis, delivery_outcome>,
  // Internal: the breaker's cool-down of an endpoint ended (timer).
  caf::reacts_to<probe_atom, endpoint_id>,
  // Internal: time to prune delivered history (timer).
  caf::reacts_to<prune_atom>,
  // Admin (from the directory): the tenant's summary (without its registry
  // fields), and one endpoint's internal view (`errc::not_found` on `eid`
  // if none).
  caf::replies_to<inspect_atom>::with<tenant_summary>,
  caf::replies_to<inspect_atom, endpoint_id>::with<endpoint_internal>,
  // The tenant was deactivated: start no further attempt or probe.
  caf::reacts_to<deactivate_atom>,
  // Internal: send the records gathered for one WAL append (attempt
  // outcomes) to the WAL writer.
  caf::reacts_to<flush_atom>,
  // Writes a snapshot now if any record is not yet covered; replies with
  // the covered sequence number once it is durable, or 0 if the latest
  // snapshot already covered everything.
  caf::replies_to<checkpoint_atom>::with<uint64_t>,
  // Admin (from the directory): change the tenant's limits durably
  // (`tenant_limits_set`); replies with its summary once applied.
  caf::replies_to<limits_atom, limits_patch>::with<tenant_summary>,
  // Endpoint lifecycle (issue 17): update answers the endpoint as GET does,
  // delete answers once durable, rotate answers the new secret and the
  // previous one's expiry, (secret) answers the secrets.
  caf::reacts_to<update_atom, endpoint_id, endpoint_patch,
                 reply_fn<endpoint_view>>,
  caf::reacts_to<delete_atom, endpoint_id, reply_fn<no_content>>,
  caf::reacts_to<rotate_atom, endpoint_id, secret_rotation,
                 reply_fn<secret_info>>,
  caf::reacts_to<secret_atom, endpoint_id, reply_fn<secret_info>>,
  // Event history (issue 17): a page of the tenant's events, newest first;
  // a page of one event's attempts on all endpoints (`errc::not_found` on
  // `event_id` if none); recover re-queues the endpoint's deliveries that
  // failed for good at or after a time (unix ms) and answers how many.
  caf::reacts_to<list_atom, event_query, reply_fn<event_page>>,
  caf::reacts_to<attempts_atom, std::string, uint32_t, uint32_t,
                 reply_fn<event_attempt_page>>,
  caf::reacts_to<recover_atom, endpoint_id, unix_millis, reply_fn<uint64_t>>,
  // A planned move (from the directory): finish what is in the mailbox
  // before this and every WAL commit under way, then stop: no further
  // attempt, probe or prune; outcomes arriving later are dropped; mutations
  // answer `errc::tenant_unavailable`, reads answer from the frozen state.
  // Replies with the state. The directory ends the actor afterwards.
  caf::replies_to<freeze_atom>::with<frozen_tenant>>;

/// Called with the tenant's actor once it runs.
using tenant_continuation = std::function<void(tenant_actor)>;

/// Owns the tenant registry, spawns tenant actors on first use and publishes
/// the routing table (see `actors/directory/directory_actor.hpp`).
using directory_actor = caf::typed_actor<
  caf::reacts_to<create_atom, std::string, reply_fn<tenant_info>>,
  // Cluster mode: create a tenant under an id the receiving node chose
  // (its rendezvous owner is this node); fails VALIDATION_FAILED if the id
  // is taken, tombstones included.
  caf::reacts_to<create_atom, std::string, std::string, reply_fn<tenant_info>>,
  // Admin: one page of tenants by id, filtered on `created_at` like
  // endpoints.
  caf::reacts_to<list_atom, list_query, reply_fn<tenant_page>>,
  caf::reacts_to<get_atom, std::string, reply_fn<tenant_summary>>,
  caf::reacts_to<inspect_atom, std::string, endpoint_id,
                 reply_fn<endpoint_internal>>,
  // Admin: a new token; the old one works for `grace_seconds` more.
  caf::reacts_to<rotate_atom, std::string, int64_t, reply_fn<issued_token>>,
  // Admin: deactivate a tenant, and purge its data if the flag is set.
  caf::reacts_to<deactivate_atom, std::string, bool, reply_fn<tenant_summary>>,
  // Admin: change a tenant's limits; answers its summary once durable.
  caf::reacts_to<limits_atom, std::string, limits_patch,
                 reply_fn<tenant_summary>>,
  // Admin: snapshot every owner with uncovered records now; answers how
  // many snapshots were written once all are durable.
  caf::reacts_to<snapshot_atom, reply_fn<uint64_t>>,
  caf::reacts_to<node_atom, reply_fn<node_status>>,
  caf::reacts_to<spawn_atom, std::string, tenant_continuation>,
  // Sent once the node is ready: start every tenant still in its stored
  // form, so each decodes in the background (warm-up).
  caf::reacts_to<warm_atom>,
  // From the WAL writer: snapshot this owner (a tenant id or
  // `directory_owner`) so the WAL can be truncated.
  caf::reacts_to<checkpoint_atom, std::string>,
  // Graceful shutdown: snapshot every tenant and the registry; replies with
  // the number of snapshots written once all are durable.
  caf::replies_to<shutdown_atom>::with<uint64_t>,
  // Planned moves (`local_tenants`, actors/directory/transfer.hpp): freeze,
  // thaw, release_to (tenant, node), import (export, epoch), activate
  // (tenant, epoch), discard.
  caf::reacts_to<freeze_atom, std::string, export_done>,
  caf::reacts_to<thaw_atom, std::string, transfer_done>,
  caf::reacts_to<release_atom, std::string, std::string, transfer_done>,
  caf::reacts_to<import_atom, tenant_export, uint64_t, transfer_done>,
  caf::reacts_to<activate_atom, std::string, uint64_t, transfer_done>,
  caf::reacts_to<discard_atom, std::string, transfer_done>,
  // Internal: answer parked requests that waited too long (timer, while
  // any is parked).
  caf::reacts_to<expire_atom>>;

} // namespace wi

// Local-only message types: they never cross a node boundary.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::new_endpoint)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::limits_patch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::list_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::endpoint_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::endpoint>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::no_content>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::endpoint_stats>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::endpoint_page>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::tenant_info>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::tenant_page>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::tenant_summary>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::endpoint_internal>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::issued_token>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<uint64_t>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::node_status>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::tenant_summary)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::endpoint_internal)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::wal_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::wal_append)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::tenant_continuation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::new_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::delivery_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::event_receipt>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<wi::new_event>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::batch_receipts>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::event_state>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::attempt_page>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::delivery_state>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::endpoint_view>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::endpoint_patch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::secret_rotation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::secret_info>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::event_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::event_page>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::reply_fn<wi::event_attempt_page>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::frozen_tenant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::export_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::transfer_done)
