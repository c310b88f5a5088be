#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "actors/cluster/peer.hpp"
#include "actors/directory/tenant_table.hpp"
#include "webhook_ingress/cluster.hpp"
#include "webhook_ingress/messages.hpp"

namespace wi::http {

/// Settings of the HTTP front end.
struct server_config {
  /// Address to bind. Default: 127.0.0.1.
  std::string host = "127.0.0.1";
  /// Port to bind; 0 picks a free one (see `server::start`). Default: 8080.
  uint16_t port = 8080;
  /// I/O threads. Default: 2.
  size_t threads = 2;
  /// Largest request body accepted; larger ones get 413. Default: 1 MiB.
  size_t max_body_bytes = size_t{1} << 20;
  /// Most requests handed to actors and not yet answered; past it new ones
  /// get 503 OVERLOADED. Default: 10 000.
  size_t max_in_flight = 10'000;
  /// Most open connections; past it new ones are closed at once and counted
  /// in `webhook_ingress_http_connections_refused_total{reason="limit"}`.
  /// Default: 10 000.
  size_t max_connections = 10'000;
  /// Most bytes that request bodies being received may hold together
  /// (declared `Content-Length`, or `max_body_bytes` for a chunked body),
  /// from their headers until the body is complete; past it requests get
  /// 503 OVERLOADED with `Retry-After` before their body is read.
  /// Default: 64 MiB.
  uint64_t max_body_memory_bytes = uint64_t{64} << 20;
  /// SHA-256 (32 raw bytes) of the admin token.
  std::string admin_token_hash;
  /// What `GET /admin/v1/node` reports besides the directory's live view.
  node_identity node;
  /// Serve `GET /metrics` without the admin token.
  bool metrics_public = false;
};

/// What the handlers talk to once recovery has finished.
struct backend {
  directory_actor directory;
  std::shared_ptr<tenant_table> tenants;
  /// Renders the Prometheus text of `GET /metrics`; called on an I/O thread,
  /// must not block.
  std::function<std::string()> metrics_text;
  /// Cluster mode (`--etcd`); null on a single node. Adds `GET
  /// /admin/v1/cluster`, the placement claim of created tenants, `owner`
  /// from the placement map, and its readiness to `/readyz`.
  std::shared_ptr<cluster::control> cluster;
  /// Cluster mode: hands a request to the peer at a `host:port` peer
  /// address; see `cluster::forward_function`. Must not block.
  std::function<void(std::string, cluster::forwarded_request,
                     cluster::forward_done)>
    forward;
  /// Cluster mode: starts draining this node (`POST
  /// /admin/v1/cluster/nodes/{id}/drain` for this node's id); returns at
  /// once, the state changes and moves run elsewhere. Null: nothing to do.
  std::function<void()> drain;
  /// Cluster mode: the move coordinator behind `POST
  /// /admin/v1/tenants/{id}/move` and `data.moves` of `GET
  /// /admin/v1/cluster`; null on a single node.
  std::shared_ptr<cluster::mover> mover;
};

/// The RESTinio front end: matches routes, authenticates, validates input,
/// hands each request to one actor with a `reply_fn`, and writes the answer
/// in the envelope when the actor calls it. Handlers never block: they
/// return `request_accepted()` after one message send, and responses are
/// completed from actor threads (RESTinio moves the write onto the
/// connection's strand).
///
/// Before `set_ready`, `/healthz` answers 200, `/readyz` 503, and every other
/// route 503 NOT_READY.
///
/// A request with a body is checked as soon as its headers are in (route,
/// readiness, token, `Content-Length` against `max_body_bytes`, the body
/// memory budget): a refusal is answered at once, without reading the body,
/// and the connection closes after it. This needs the RESTinio patch in
/// third_party/restinio-patch, which also keeps the acceptor accepting
/// after the process ran out of file descriptors.
class server {
 public:
  explicit server(server_config cfg);
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and starts serving on the I/O thread pool. Returns the bound
  /// port (useful with port 0); a bind failure is `errc::internal` with the
  /// reason.
  [[nodiscard]] caf::expected<uint16_t> start();

  /// Connects the handlers to the actors; `/readyz` answers 200 from now on.
  /// Call once, after recovery.
  void set_ready(backend b);

  /// Cluster mode: answers a request another node forwarded here, through
  /// exactly the path a direct request takes (readiness, limits,
  /// authentication, validation, the same answers), except that it is
  /// forwarded again only to a placement with a newer epoch than the sender
  /// knew (a move the sender has not seen yet); otherwise, if this node's
  /// view places the tenant elsewhere, or the sender knew a newer epoch than
  /// this node, the answer is 503 TENANT_UNAVAILABLE. Calls `reply` exactly
  /// once, from any thread. Never blocks; safe from any thread (the peer actor
  /// calls it).
  void serve_forwarded(cluster::forwarded_request req,
                       std::function<void(cluster::forwarded_response)> reply);

  /// Starts refusing new requests (503 NOT_READY, "shutting down") except
  /// `/healthz`, and waits until every request already handed to an actor
  /// was answered or `deadline` passed. Blocks the calling thread: call it
  /// from main, never from an I/O or scheduler thread.
  void drain(std::chrono::steady_clock::time_point deadline);

  /// Stops accepting connections and closes open ones; waits for the I/O
  /// threads to finish. Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace wi::http
