#pragma once

// One webhook-ingress node: the pieces `main` wires together, each started by
// a named step and stopped by its paired one. Everything here runs on the
// main thread, which may block (opening the store, recovery, shutdown);
// no request is handled here.
//
//   start (in this order)        stop (in this order, `stop`)
//   open_store                   (the store closes with the node)
//   connect_cluster              leave_cluster
//   start_http                   drain_http, stop_http
//   start_actor_system           stop_peers, stop_actors
//   join_cluster                 leave_cluster
//   recover                      drain_deliveries, write_snapshots,
//                                stop_actors
//   start_moves                  stop_moves
//   serve                        (drain_http)

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/error.hpp>

namespace wi {

struct config;

/// The running parts of one node. Each start step returns an error that
/// refuses the start (the caller logs it and exits; the destructor stops
/// whatever had started). Not thread-safe: the main thread drives it.
class node {
 public:
  /// `cfg` (as loaded and checked by `load_config`) must outlive the node;
  /// `build` describes the binary (GET /admin/v1/node).
  node(const config& cfg, std::string build);
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Stops at once whatever is still running (no draining): the end of a
  /// refused start. After `stop` it has nothing left to do.
  ~node();

  // -- starting ---------------------------------------------------------------

  /// Opens the store in the data directory, and reads (or makes, at the
  /// first start) the admin token's hash and the node id.
  [[nodiscard]] caf::error open_store();

  /// Cluster mode (`--etcd`): connects the membership; refuses when no etcd
  /// member answers. Nothing to do on a single node.
  [[nodiscard]] caf::error connect_cluster();

  /// Binds the HTTP listener and prints where; every request answers
  /// NOT_READY until `serve`.
  [[nodiscard]] caf::error start_http();

  /// Starts the actor system and, in cluster mode, the peer layer (its port
  /// is bound before the node registers itself).
  [[nodiscard]] caf::error start_actor_system();

  /// Cluster mode: registers the node (state `joining`) with its bound HTTP
  /// and peer ports; refuses when another live node has the same id.
  [[nodiscard]] caf::error join_cluster();

  /// Recovers the tenants from the store (in their stored form) and spawns
  /// the WAL writer, the delivery engine and the directory.
  [[nodiscard]] caf::error recover();

  /// Cluster mode: starts the move coordinator (docs/cluster.md, "Moves"):
  /// discards the tenants held here that the placement map gives to other
  /// nodes, activates the imports not activated yet whose move committed
  /// (discards the others), and fences the moves from here that a stop
  /// left unfinished, then takes offers. Refuses the start when etcd fails
  /// meanwhile. Single-node mode: activates any import not activated yet.
  [[nodiscard]] caf::error start_moves();

  /// Hands the actors to the HTTP server (requests are served from now on),
  /// marks a cluster node active and starts warming tenants.
  void serve();

  // -- stopping ---------------------------------------------------------------

  /// Cluster mode, before `stop` on SIGTERM/SIGINT: drains this node (its
  /// tenants move to the other active members) for up to `--drain-grace`;
  /// see `cluster::drain_before_stop`. Nothing to do on a single node.
  void drain_tenants();

  /// The orderly shutdown: runs the stop steps below in this order, all
  /// within `deadline`. Add a step here, in its place in the order.
  void stop(std::chrono::steady_clock::time_point deadline);

  /// Stops accepting, and lets requests under way finish until `deadline`.
  void drain_http(std::chrono::steady_clock::time_point deadline);

  /// Closes the HTTP listener and its threads.
  void stop_http();

  /// Cluster mode: stops the move coordinator's threads (moves under way
  /// end here; their journal fences them at the next start) and refuses
  /// offers.
  void stop_moves();

  /// Cluster mode: revokes the lease; the member key goes at once.
  void leave_cluster();

  /// Lets attempts under way finish until `deadline`, then stops the
  /// engine; whatever still runs ends as "shutdown" and is sent again after
  /// the restart.
  void drain_deliveries(std::chrono::steady_clock::time_point deadline);

  /// Asks the directory to snapshot every tenant and waits until they are
  /// durable or `deadline` passes.
  void write_snapshots(std::chrono::steady_clock::time_point deadline);

  /// Cluster mode: ends the peer layer's actors.
  void stop_peers();

  /// Ends the directory, the WAL writer and the payload reader, and waits
  /// for every actor to finish.
  void stop_actors();

 private:
  struct parts;
  std::unique_ptr<parts> parts_;
};

} // namespace wi
