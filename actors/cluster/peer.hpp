#pragma once

// The peer layer of cluster mode: how a node that received a request for a
// tenant it does not own hands it to the owner node and gets the answer back,
// through CAF's network layer (`caf::io` middleman, remote actors).
//
// - Every node spawns a `peer_actor` (`spawn_peer`) and publishes it on its
//   peer address (`publish_peer`). It runs each forwarded request through a
//   `local_handler` (the HTTP layer's entry point for forwarded requests,
//   `http::server::serve_forwarded`) and sends the answers back.
// - Every node spawns one `forwarder_actor` (`spawn_forwarder`): given a
//   peer address and a request, it connects to that address once (cached;
//   again after the connection went down), sends the request and calls the
//   continuation exactly once with the owner's answer or with
//   `errc::tenant_unavailable`.
//
// CAF is no failure detector (../shared/CLUSTER.md): requests to a peer
// that died are not failed by CAF and a stopped peer gives no `down_msg`.
// So every forward has a timeout, and on a `down_msg` the forwarder fails
// its in-flight requests to that peer at once. Timeouts are checked by one
// periodic sweep over what is in flight (each entry against its own
// deadline), not by a CAF timer per request (a round trip through CAF's
// clock thread each).
//
// Thread hand-offs, not work, are what a forward costs (docs/benchmarks.md,
// "Cluster"), so the layer keeps them few and shares them between requests
// (docs/architecture.md, "Forwarding"):
// - the HTTP threads put forwards into a queue (`forward_function`) and
//   wake the forwarder only when the queue was empty;
// - the forwarder is a broker on the middleman's network thread: it sends
//   everything queued for a peer as one batch message (`forward_item`s), and
//   the answers reach the continuations on that same thread;
// - the owner's peer actor queues the answers the same way and sends them
//   back as batches (`answer_item`s), no CAF request/response per forward.
// Batches are bounded (`batch_limits`); the queues hold only requests the
// HTTP layer counts as in flight.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/cluster/forward_batch.hpp"
#include "webhook_ingress/transfer.hpp"

namespace wi::cluster {

/// A header of a forwarded request or answer: (name, value).
using header_list = std::vector<std::pair<std::string, std::string>>;

/// A request a node hands to a tenant's owner: what the HTTP handlers read
/// of the original request. Crosses the wire.
struct forwarded_request {
  /// The method as received, e.g. `"POST"`.
  std::string method;
  /// Path and query as received, e.g. `/v1/webhook/endpoints?page=2`.
  std::string target;
  /// The headers the handlers read (`Authorization`, `Content-Type`,
  /// `Idempotency-Key`, `X-Request-Id`); see `forwarded_header_names`.
  header_list headers;
  /// The body as received.
  std::string body;
  /// The tenant the sender forwards for (from the token or the admin path).
  std::string tenant;
  /// The placement epoch of the tenant the sender knew.
  uint64_t epoch = 0;
  /// Set on the sender's fan-out of `GET /admin/v1/tenants`: the receiver
  /// answers with its own tenants only.
  bool local_only = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forwarded_request& x) {
  return f(caf::meta::type_name("wi_fwd_req"), x.method, x.target, x.headers,
           x.body, x.tenant, x.epoch, x.local_only);
}

/// The owner's answer, returned unchanged to the client. Crosses the wire.
struct forwarded_response {
  uint16_t status = 500;
  /// The answer's headers the client reads: `Content-Type`, `Retry-After`,
  /// `Location`, `X-Request-Id`, `Allow` (see `answer_header_names`).
  header_list headers;
  std::string body;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forwarded_response& x) {
  return f(caf::meta::type_name("wi_fwd_resp"), x.status, x.headers, x.body);
}

/// The request headers a forward carries (the ones the handlers read).
[[nodiscard]] const std::vector<std::string>& forwarded_header_names();

/// The answer headers a forward returns.
[[nodiscard]] const std::vector<std::string>& answer_header_names();

/// Returns the value of the header `name` (ASCII case-insensitive), if any.
[[nodiscard]] const std::string* find_header(const header_list& headers,
                                             std::string_view name) noexcept;

/// One forwarded request of a batch: the sender's id for it (the answer
/// carries it back) and the request. Crosses the wire.
struct forward_item {
  uint64_t id = 0;
  forwarded_request req;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_item& x) {
  return f(caf::meta::type_name("wi_fwd_item"), x.id, x.req);
}

/// One answer of a batch: the id of the `forward_item` it answers. Crosses
/// the wire.
struct answer_item {
  uint64_t id = 0;
  forwarded_response resp;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, answer_item& x) {
  return f(caf::meta::type_name("wi_fwd_answer"), x.id, x.resp);
}

/// A planned move's offer from a tenant's old owner to the new one: the
/// frozen tenant and the guard of the owner change (docs/cluster.md,
/// "Moves"). Crosses the wire.
struct move_offer {
  /// The old owner's node id.
  std::string from;
  /// The tenant as frozen on the old owner.
  tenant_export state;
  /// The placement epoch read by the old owner; the new owner commits
  /// `epoch + 1`.
  uint64_t epoch = 0;
  /// The placement key's `mod_revision` read by the old owner: the guard of
  /// the new owner's commit.
  int64_t mod_revision = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, move_offer& x) {
  return f(caf::meta::type_name("wi_move_offer"), x.from, x.state, x.epoch,
           x.mod_revision);
}

/// The new owner's answer to a `move_offer`. Crosses the wire.
struct move_reply {
  /// Whether this node committed the owner change in etcd and serves the
  /// tenant now. False: it holds no copy (or will discard it once it knows
  /// the outcome); the old owner resolves through etcd.
  bool committed = false;
  /// Why not, for the old owner's log and the move's error.
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, move_reply& x) {
  return f(caf::meta::type_name("wi_move_reply"), x.committed, x.reason);
}

using peer_fwd_atom = caf::atom_constant<caf::atom("peerfwd")>;
using peer_answer_atom = caf::atom_constant<caf::atom("peerans")>;
using peer_done_atom = caf::atom_constant<caf::atom("peerdone")>;
using peer_move_atom = caf::atom_constant<caf::atom("peermove")>;
using peer_discard_atom = caf::atom_constant<caf::atom("peerdisc")>;

/// What a node publishes on its peer address: batches of forwarded requests
/// (answered by `(peer_answer_atom, std::vector<answer_item>)` messages to
/// the batch's sender, in batches of their own, in any order), move offers,
/// and "discard your copy of this tenant" after an aborted move (tenant,
/// epoch of the abort; no answer).
using peer_actor = caf::typed_actor<
  caf::reacts_to<peer_fwd_atom, std::vector<forward_item>>,
  caf::replies_to<peer_move_atom, move_offer>::with<move_reply>,
  caf::reacts_to<peer_discard_atom, std::string, uint64_t>>;

/// Registers the types that cross the wire; call on the config of every node
/// of a cluster (both sides need them), before the actor system starts.
/// Also loads the `caf::io` middleman.
void configure_peer_layer(caf::actor_system_config& cfg);

/// Runs a forwarded request through the local path (exactly as a direct
/// request, without forwarding it again) and calls the continuation exactly
/// once with the answer, from any thread. Must not block.
using local_handler = std::function<void(
  forwarded_request, std::function<void(forwarded_response)>)>;

/// What a node does with incoming moves (the move coordinator's side of
/// the new owner). Both must not block; `offer` calls its continuation
/// exactly once, from any thread. Unset: offers are answered "not
/// committed" and discards ignored.
struct move_handlers {
  std::function<void(move_offer, std::function<void(move_reply)>)> offer;
  std::function<void(std::string tenant, uint64_t epoch)> discard;
};

/// Spawns the actor that answers forwarded requests with `handler` (the
/// answers go back in batches within `limits`) and move offers with
/// `moves`.
[[nodiscard]] peer_actor spawn_peer(caf::actor_system& sys,
                                    local_handler handler,
                                    move_handlers moves = {},
                                    batch_limits limits = {});

/// Publishes `peer` on `host:port` (port 0 picks a free one) through the
/// middleman; returns the bound port, or `errc::internal` naming the address.
[[nodiscard]] caf::expected<uint16_t> publish_peer(caf::actor_system& sys,
                                                   const peer_actor& peer,
                                                   const std::string& host,
                                                   uint16_t port);

/// Splits `host:port` (a peer address of a `cluster::member`); nothing for a
/// malformed one.
[[nodiscard]] std::optional<std::pair<std::string, uint16_t>>
parse_peer_address(std::string_view address);

/// The continuation of a forward: the owner's answer, or
/// `errc::tenant_unavailable` (peer unreachable, down, or no answer in time).
/// Called exactly once, from the forwarder's thread (the middleman's network
/// thread); must not block.
struct forward_done {
  std::function<void(caf::expected<forwarded_response>)> fn;
};

/// Settings of the forwarder.
struct forwarder_config {
  /// Longest time from the forward to the owner's answer, connecting
  /// included. Default 10 s.
  std::chrono::milliseconds timeout{10'000};
  /// How often the forwarder looks for forwards and offers past their own
  /// deadline (only while some are in flight): one that gets no answer
  /// fails between its timeout and its timeout + `sweep_period`. Default
  /// 100 ms.
  std::chrono::milliseconds sweep_period{100};
  /// The bounds of each batch of requests sent to a peer.
  batch_limits batches{};
};

/// The queue between the HTTP threads and the forwarder (opaque; made by
/// `forward_function`).
struct forward_queue;

/// The continuation of a move offer: the new owner's answer, or
/// `errc::tenant_unavailable` (unreachable, down, or no answer within the
/// offer's timeout). Called exactly once, from the forwarder's thread; must
/// not block.
struct move_done {
  std::function<void(caf::expected<move_reply>)> fn;
  /// Longest wait for the answer, connecting included.
  std::chrono::milliseconds timeout{10'000};
};

/// Forwards requests to peers: `(peer_fwd_atom, queue)` takes every forward
/// waiting in the queue (see `forward_function`); ships move offers
/// `(peer_move_atom, peer address, offer, continuation)` and discards
/// `(peer_discard_atom, peer address, tenant, epoch)` (best effort) over the
/// same connections.
using forwarder_actor = caf::typed_actor<
  caf::reacts_to<peer_fwd_atom, std::shared_ptr<forward_queue>>,
  caf::reacts_to<peer_move_atom, std::string, move_offer, move_done>,
  caf::reacts_to<peer_discard_atom, std::string, std::string, uint64_t>>;

/// Spawns the node's forwarder. Needs the middleman (`configure_peer_layer`).
[[nodiscard]] forwarder_actor spawn_forwarder(caf::actor_system& sys,
                                              forwarder_config cfg);

/// Returns a function that hands a forward to `forwarder`: it joins a queue
/// of the function's own, and the forwarder gets one message per time the
/// queue stops being empty (never blocks; a short lock). The shape
/// `http::backend::forward` takes. The forward's timeout counts from the
/// call.
[[nodiscard]] std::function<void(std::string, forwarded_request, forward_done)>
forward_function(forwarder_actor forwarder);

} // namespace wi::cluster

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::cluster::forward_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<wi::cluster::forward_queue>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(wi::cluster::move_done)
