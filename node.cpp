#include "node.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster/membership.hpp"
#include "actors/cluster/mover.hpp"
#include "actors/cluster/peer.hpp"
#include "actors/cluster/rebalancer.hpp"
#include "actors/common/crypto.hpp"
#include "actors/common/metrics.hpp"
#include "actors/delivery/delivery_engine.hpp"
#include "actors/delivery/retry_policy.hpp"
#include "actors/directory/directory_actor.hpp"
#include "actors/directory/recovery.hpp"
#include "actors/directory/transfer.hpp"
#include "actors/tenant/tenant_actor.hpp"
#include "config.hpp"
#include "http/server.hpp"
#include "http/time_format.hpp"
#include "persistence/payload_reader.hpp"
#include "persistence/storage.hpp"
#include "persistence/wal_reader.hpp"
#include "persistence/wal_writer.hpp"
#include "webhook_ingress/cluster.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

using steady_time = std::chrono::steady_clock::time_point;

constexpr const char* admin_hash_key = "admin_token_sha256";
constexpr const char* node_id_key = "node_id";

/// Resolves the admin token's hash: the configured token (flag, environment
/// or config file), else the hash kept in the store, else a fresh token that
/// is printed once on stdout (never logged).
caf::expected<std::string> admin_token_hash(const config& cfg,
                                            persistence::storage& store) {
  if (!cfg.admin_token.empty())
    return crypto::sha256(cfg.admin_token);
  auto stored = store.get_meta(admin_hash_key);
  if (!stored)
    return stored.error();
  if (*stored)
    return **stored;
  auto token = crypto::make_admin_token();
  auto hash = crypto::sha256(token);
  if (auto err = store.put_meta(admin_hash_key, hash))
    return err;
  std::cout << "admin token: " << token
            << "\n(shown once; only its SHA-256 is stored)" << std::endl;
  return hash;
}

/// Returns the node id kept in the store, generating it at the first start.
caf::expected<std::string> stored_node_id(persistence::storage& store) {
  auto stored = store.get_meta(node_id_key);
  if (!stored)
    return stored.error();
  if (*stored)
    return **stored;
  auto id = "node_" + crypto::make_tenant_id();
  if (auto err = store.put_meta(node_id_key, id))
    return err;
  return id;
}

/// Cluster mode: where the peer layer listens and how long a forward waits.
struct peer_settings {
  std::string host = "127.0.0.1";
  /// 0 picks a free port.
  uint16_t port = 0;
  std::chrono::milliseconds forward_timeout{10'000};
};

/// Cluster mode: the actors of the peer layer.
struct peer_layer {
  cluster::peer_actor peer;
  cluster::forwarder_actor forwarder;
  /// The bound peer port, to advertise in the member record.
  uint16_t port = 0;
};

/// Cluster mode: the move coordinator once `start_moves` made it; the peer
/// layer takes offers before, and refuses them until then.
class mover_slot {
 public:
  void set(std::shared_ptr<cluster::move_coordinator> m) {
    std::lock_guard guard{mtx_};
    mover_ = std::move(m);
  }

  std::shared_ptr<cluster::move_coordinator> get() const {
    std::lock_guard guard{mtx_};
    return mover_;
  }

  /// The peer layer's move handlers, through the slot `self`.
  static cluster::move_handlers handlers(std::shared_ptr<mover_slot> self) {
    cluster::move_handlers h;
    h.offer = [self](cluster::move_offer offer,
                     std::function<void(cluster::move_reply)> reply) {
      if (auto m = self->get())
        m->accept(std::move(offer), std::move(reply));
      else
        reply({false, "the node is still starting"});
    };
    h.discard = [self](std::string tenant, uint64_t epoch) {
      if (auto m = self->get())
        m->discard_copy(std::move(tenant), epoch);
    };
    return h;
  }

 private:
  mutable std::mutex mtx_;
  std::shared_ptr<cluster::move_coordinator> mover_;
};

/// Cluster mode: the move coordinator over the directory, etcd (the
/// membership) and the forwarder, with its journal in the data directory
/// and the test-only fault hook from the environment.
std::shared_ptr<cluster::move_coordinator>
make_mover(const std::shared_ptr<cluster::membership>& members,
           const directory_actor& directory,
           const cluster::forwarder_actor& forwarder,
           std::shared_ptr<cluster::thread_runner> runner,
           const std::filesystem::path& data_dir) {
  cluster::mover_config mc;
  mc.journal_path = (data_dir / "cluster-moves").string();
  mc.crash_at = cluster::crash_hook_from_environment();
  if (!mc.crash_at.empty())
    spdlog::warn("test fault hook WEBHOOK_INGRESS_TEST_CRASH_AT={} is set: "
                 "this process exits at that step of a move",
                 mc.crash_at);
  cluster::mover_deps d;
  d.local = local_tenants_of(directory);
  d.store.read = [members](const std::string& t) {
    return members->read_placement(t);
  };
  d.store.swap = [members](const std::string& t, int64_t rev,
                           const std::string& owner, uint64_t epoch) {
    return members->move(t, rev, owner, epoch);
  };
  d.cluster = members;
  d.note_placement = [members](const std::string& t,
                               const cluster::placement& x) {
    members->note_placement(t, x);
  };
  d.ship = [forwarder](std::string peer, cluster::move_offer offer,
                       cluster::move_done done) {
    caf::anon_send(forwarder, cluster::peer_move_atom::value, std::move(peer),
                   std::move(offer), std::move(done));
  };
  d.tell_discard = [forwarder](std::string peer, std::string tenant,
                               uint64_t epoch) {
    caf::anon_send(forwarder, cluster::peer_discard_atom::value,
                   std::move(peer), std::move(tenant), epoch);
  };
  d.runner = std::move(runner);
  return std::make_shared<cluster::move_coordinator>(std::move(mc),
                                                     std::move(d));
}

/// Cluster mode: publishes the actor that answers requests other nodes
/// forward here (through `http.serve_forwarded`, which answers NOT_READY
/// until `set_ready`) and move offers (through `moves`), and spawns the
/// forwarder.
caf::expected<peer_layer> start_peer_layer(caf::actor_system& sys,
                                           http::server& http,
                                           const peer_settings& settings,
                                           cluster::move_handlers moves) {
  peer_layer layer;
  layer.peer = cluster::spawn_peer(
    sys,
    [&http](cluster::forwarded_request req,
            std::function<void(cluster::forwarded_response)> reply) {
      http.serve_forwarded(std::move(req), std::move(reply));
    },
    std::move(moves));
  auto port =
    cluster::publish_peer(sys, layer.peer, settings.host, settings.port);
  if (!port) {
    caf::anon_send_exit(layer.peer, caf::exit_reason::user_shutdown);
    return port.error();
  }
  layer.port = *port;
  layer.forwarder = cluster::spawn_forwarder(sys, {settings.forward_timeout});
  spdlog::info("peer layer listening address={}:{}", settings.host, *port);
  return layer;
}

/// The actor system's settings: our error category, no sleep-polling
/// workers, and in cluster mode the middleman of the peer layer.
void configure_actor_system(caf::actor_system_config& caf_cfg, bool cluster) {
  caf_cfg.add_error_category(
    error_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      return to_string(static_cast<errc>(code)) + " " + caf::to_string(ctx);
    });
  // An idle CAF worker polls its queue 100 times, then (by default) 500
  // more times with a 50 us sleep between polls, and only then waits on a
  // condition variable that every enqueue from outside the scheduler
  // signals. Those sleep-polls cost context switches on every worker that
  // briefly runs dry, which is most of the time under our load (each
  // request hops I/O thread -> actor -> WAL thread -> actor): skipping them
  // raised ingest at 64 connections by ~25% on 2 cores
  // (docs/benchmarks.md, Deliveries).
  caf_cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  // Cluster mode: the middleman carries forwarded requests between nodes;
  // single node: no middleman, nothing listens for peers.
  if (cluster)
    cluster::configure_peer_layer(caf_cfg);
}

/// The WAL writer's settings, and the records recovery left uncovered.
persistence::wal_writer_config wal_config(const config& cfg,
                                          const node_state& recovered) {
  persistence::wal_writer_config wal_cfg;
  wal_cfg.max_batch = cfg.wal_max_batch;
  wal_cfg.max_tail_per_owner = cfg.snapshot_every;
  wal_cfg.recovered_snapshot_seq = recovered.last_snapshot_sequence;
  wal_cfg.on_batch = [](size_t records, double seconds) {
    node_metrics().on_wal_batch(records, seconds);
  };
  return wal_cfg;
}

/// What the tenant actors deliver with (see `delivery_settings`).
std::shared_ptr<delivery_settings>
delivery_config(const config& cfg, std::shared_ptr<delivery_engine> engine,
                payload_reader_actor payloads) {
  auto delivery = std::make_shared<delivery_settings>();
  delivery->engine = std::move(engine);
  delivery->payloads = std::move(payloads);
  delivery->retries = retry_policy{cfg.retry_schedule};
  delivery->connect_timeout =
    std::chrono::milliseconds{cfg.delivery_connect_timeout_ms};
  delivery->total_timeout = std::chrono::milliseconds{cfg.delivery_timeout_ms};
  delivery->max_pending = cfg.max_pending_deliveries;
  delivery->max_attempts_under_way = cfg.tenant_concurrency;
  delivery->breaker_failures = cfg.breaker_failures;
  delivery->breaker_cooldown = cfg.breaker_cooldown;
  delivery->breaker_max_cooldown =
    std::max(cfg.breaker_max_cooldown, cfg.breaker_cooldown);
  delivery->retention = cfg.retention;
  delivery->prune_interval = cfg.prune_interval;
  delivery->limits =
    tenant_limits{cfg.tenant_max_endpoints, cfg.tenant_max_stored_bytes,
                  cfg.tenant_publish_rate, cfg.tenant_publish_burst};
  return delivery;
}

} // namespace

struct node::parts {
  const config& cfg;
  std::string build;
  /// `cfg.listen`, checked by `load_config`.
  std::pair<std::string, uint16_t> listen;
  std::shared_ptr<persistence::storage> store;
  std::string admin_hash;
  std::string node_id;
  std::shared_ptr<cluster::membership> cluster;
  /// Cluster mode: joins and drains (started by `serve`).
  std::unique_ptr<cluster::rebalancer> rebalance;
  /// Declared before the actor system: it is destroyed after every actor,
  /// so no late reply can reach a destroyed server.
  std::unique_ptr<http::server> http;
  bool http_running = false;
  uint16_t port = 0;
  /// Outlives the actor system, which refers to it.
  caf::actor_system_config caf_cfg;
  std::unique_ptr<caf::actor_system> sys;
  peer_layer peers;
  std::shared_ptr<delivery_engine> engine;
  std::shared_ptr<delivery_settings> delivery;
  wal_writer_actor wal;
  std::shared_ptr<tenant_table> table;
  directory_actor directory;
  /// Cluster mode: the tenants recovered here, to reconcile with placement.
  std::vector<std::string> held;
  /// The tenants a move imported here and that were not activated (with
  /// their import's epoch): not served until `start_moves` decides.
  std::vector<std::pair<std::string, uint64_t>> incoming;
  /// Cluster mode: planned moves (`start_moves`).
  std::shared_ptr<mover_slot> movers = std::make_shared<mover_slot>();
  std::shared_ptr<cluster::thread_runner> move_runner;
  std::shared_ptr<cluster::move_coordinator> mover;

  parts(const config& c, std::string b) : cfg(c), build(std::move(b)) {
    if (auto x = parse_listen(cfg.listen))
      listen = std::move(*x);
  }
};

node::node(const config& cfg, std::string build)
  : parts_(std::make_unique<parts>(cfg, std::move(build))) {}

node::~node() {
  stop_http();
  stop_moves();
  if (parts_->engine)
    parts_->engine->stop();
  stop_peers();
  stop_actors();
}

// -- starting -----------------------------------------------------------------

caf::error node::open_store() {
  auto& p = *parts_;
  auto opened = persistence::open_rocksdb_storage(p.cfg.data_dir);
  if (!opened)
    return opened.error();
  p.store = std::move(*opened);
  auto hash = admin_token_hash(p.cfg, *p.store);
  if (!hash)
    return hash.error();
  p.admin_hash = std::move(*hash);
  auto id = p.cfg.node_id.empty() ? stored_node_id(*p.store)
                                  : caf::expected<std::string>{p.cfg.node_id};
  if (!id)
    return id.error();
  p.node_id = std::move(*id);
  return {};
}

caf::error node::connect_cluster() {
  auto& p = *parts_;
  if (p.cfg.etcd.empty())
    return {};
  cluster::membership_config mcfg;
  mcfg.etcd.endpoints = split_etcd_urls(p.cfg.etcd);
  mcfg.node_id = p.node_id;
  mcfg.lease_ttl = p.cfg.lease_ttl;
  // Test-only: WEBHOOK_INGRESS_TEST_IGNORE_PLACEMENTS keeps the placement
  // keys of other nodes' tenants out of this node's cache, as if its watch
  // lagged behind every create and move elsewhere.
  if (std::getenv("WEBHOOK_INGRESS_TEST_IGNORE_PLACEMENTS") != nullptr) {
    mcfg.ignore_foreign_placements = true;
    spdlog::warn("test hook WEBHOOK_INGRESS_TEST_IGNORE_PLACEMENTS is set: "
                 "the placement cache ignores other nodes' tenants");
  }
  auto m = std::make_shared<cluster::membership>(std::move(mcfg));
  if (auto err = m->connect())
    return err;
  p.cluster = std::move(m);
  return {};
}

caf::error node::start_http() {
  auto& p = *parts_;
  const auto& cfg = p.cfg;
  http::server_config http_cfg;
  http_cfg.host = p.listen.first;
  http_cfg.port = p.listen.second;
  http_cfg.threads = cfg.http_threads;
  http_cfg.max_body_bytes = cfg.max_body_bytes;
  http_cfg.max_connections = cfg.max_connections;
  http_cfg.max_body_memory_bytes = cfg.max_body_memory_bytes;
  http_cfg.admin_token_hash = p.admin_hash;
  http_cfg.metrics_public = cfg.metrics_public;
  http_cfg.node.version = WI_VERSION;
  http_cfg.node.build = p.build;
  http_cfg.node.node_id = p.node_id;
  http_cfg.node.data_dir = std::filesystem::absolute(cfg.data_dir).string();
  http_cfg.node.started_at = http::now_unix_millis();
  p.http = std::make_unique<http::server>(http_cfg);
  auto port = p.http->start();
  if (!port)
    return port.error();
  p.http_running = true;
  p.port = *port;
  std::cout << "webhook-ingress listening on http://" << p.listen.first << ':'
            << p.port << std::endl;
  spdlog::info("listening address=http://{}:{}", p.listen.first, p.port);
  return {};
}

caf::error node::start_actor_system() {
  auto& p = *parts_;
  configure_actor_system(p.caf_cfg, p.cluster != nullptr);
  p.sys = std::make_unique<caf::actor_system>(p.caf_cfg);
  if (!p.cluster)
    return {};
  peer_settings peer_cfg;
  auto peer_listen = parse_listen(p.cfg.peer_listen); // checked on load
  peer_cfg.host = peer_listen->first;
  peer_cfg.port = peer_listen->second;
  auto started =
    start_peer_layer(*p.sys, *p.http, peer_cfg, mover_slot::handlers(p.movers));
  if (!started)
    return started.error();
  p.peers = std::move(*started);
  return {};
}

caf::error node::join_cluster() {
  auto& p = *parts_;
  if (!p.cluster)
    return {};
  const auto& cfg = p.cfg;
  const auto& host =
    cfg.advertise_host.empty() ? p.listen.first : cfg.advertise_host;
  auto peer = parse_listen(cfg.peer_listen); // checked by load_config
  auto peer_host =
    cfg.advertise_host.empty() ? peer->first : cfg.advertise_host;
  if (auto err = p.cluster->set_addresses(host + ":" + std::to_string(p.port),
                                          peer_host + ":" +
                                            std::to_string(p.peers.port)))
    return err;
  if (auto err = p.cluster->join())
    return err;
  spdlog::info("cluster mode node={} etcd={} lease_ttl={}", p.node_id, cfg.etcd,
               format_duration(cfg.lease_ttl));
  return {};
}

caf::error node::recover() {
  auto& p = *parts_;
  const auto& cfg = p.cfg;
  // Tenants stay in their stored form until their actor starts.
  auto recovered = load_node(*p.store);
  if (!recovered)
    return recovered.error();
  spdlog::info("recovered {} tenants up to WAL sequence {} ({} stored, "
               "decoded on first use)",
               recovered->directory.tenants.size(), recovered->last_sequence,
               recovered->stored.size());
  std::unordered_map<std::string, std::vector<uint64_t>> uncovered;
  for (const auto& [owner, log] : recovered->logs)
    if (!log.uncovered.empty())
      uncovered.emplace(owner, log.uncovered);
  auto& sys = *p.sys;
  p.wal = persistence::spawn_wal_writer(
    sys, p.store, wal_config(cfg, *recovered), std::move(uncovered));
  delivery_engine_config engine_cfg;
  engine_cfg.max_in_flight = cfg.delivery_concurrency;
  engine_cfg.max_per_key = cfg.endpoint_concurrency;
  engine_cfg.allow_private_targets = cfg.allow_private_targets;
  p.engine = std::make_shared<delivery_engine>(engine_cfg);
  p.delivery = delivery_config(cfg, p.engine,
                               persistence::spawn_payload_reader(sys, p.store));
  for (const auto& [id, entry] : recovered->directory.tenants) {
    if (entry.token_hash.empty()) // a purge tombstone
      continue;
    if (p.cluster)
      p.held.push_back(id);
    if (entry.incoming)
      p.incoming.emplace_back(id, entry.epoch);
  }
  p.table = std::make_shared<tenant_table>();
  p.directory = spawn_directory(sys, std::move(*recovered), p.wal, p.table,
                                cfg.snapshot_every, p.delivery,
                                persistence::spawn_wal_reader(sys, p.store));
  return {};
}

caf::error node::start_moves() {
  auto& p = *parts_;
  if (!p.cluster) {
    // Single-node mode over a data dir that cluster mode left with imports
    // not activated: nobody else can own them here, so they serve (logged).
    // Blocks until the directory answered: main thread only.
    auto steps = local_tenants_of(p.directory);
    for (const auto& [tenant, epoch] : p.incoming) {
      if (auto err = wait_for_step(
            [&](auto done) { steps.activate(tenant, epoch, std::move(done)); }))
        return err;
      spdlog::warn("tenant={} was imported by a move that did not end "
                   "(epoch {}); not in cluster mode: activated",
                   tenant, epoch);
    }
    p.incoming.clear();
    return {};
  }
  p.move_runner = std::make_shared<cluster::thread_runner>(2);
  p.mover = make_mover(p.cluster, p.directory, p.peers.forwarder, p.move_runner,
                       std::filesystem::path{p.cfg.data_dir});
  auto discarded = p.mover->reconcile_at_start(p.held, p.incoming);
  if (!discarded)
    return discarded.error();
  if (*discarded > 0) {
    spdlog::info("discarded {} tenants placed on other nodes", *discarded);
    std::erase_if(p.held, [&p](const std::string& t) {
      auto place = p.cluster->placement_of(t);
      bool incoming = std::any_of(p.incoming.begin(), p.incoming.end(),
                                  [&t](const auto& x) { return x.first == t; });
      return place ? place->owner != p.node_id : incoming;
    });
  }
  p.incoming.clear();
  p.movers->set(p.mover);
  return {};
}

void node::serve() {
  auto& p = *parts_;
  http::backend be;
  be.directory = p.directory;
  be.tenants = p.table;
  be.metrics_text = [engine = p.engine, members = p.cluster, mover = p.mover] {
    auto text = node_metrics().serialize(engine->in_flight(), engine->queued());
    if (members)
      text += members->metrics_text();
    if (mover)
      text += mover->metrics_text();
    return text;
  };
  if (p.cluster) {
    be.cluster = p.cluster;
    be.forward = cluster::forward_function(p.peers.forwarder);
    be.mover = p.mover;
    // Test-only: WEBHOOK_INGRESS_TEST_NO_REBALANCE leaves placement to the
    // move route (tests that move tenants by hand); no drains then.
    if (std::getenv("WEBHOOK_INGRESS_TEST_NO_REBALANCE") == nullptr) {
      p.rebalance = cluster::start_rebalancer(p.cluster, p.mover);
      be.drain = p.rebalance->drainer();
    } else {
      spdlog::warn("test hook WEBHOOK_INGRESS_TEST_NO_REBALANCE is set: no "
                   "rebalancing, no drains");
    }
  }
  p.http->set_ready(std::move(be));
  if (p.cluster) {
    p.cluster->reconcile(p.held);
    if (auto err = p.cluster->set_state(cluster::node_state::active))
      spdlog::warn("could not mark node active yet: {}", text_of(err));
  }
  caf::anon_send(p.directory, warm_atom::value);
  spdlog::info("ready; create a tenant with: curl -X POST -H 'Authorization: "
               "Bearer <admin token>' -d '{{\"name\":\"acme\"}}' "
               "http://{}:{}/admin/v1/tenants",
               p.listen.first, p.port);
}

// -- stopping -----------------------------------------------------------------

void node::stop(steady_time deadline) {
  drain_http(deadline);
  stop_http();
  stop_moves();
  leave_cluster();
  drain_deliveries(deadline);
  write_snapshots(deadline);
  stop_peers();
  stop_actors();
}

void node::drain_tenants() {
  auto& p = *parts_;
  if (p.rebalance)
    cluster::drain_before_stop(*p.rebalance, *p.cluster, p.cfg.drain_grace);
}

void node::drain_http(steady_time deadline) {
  if (parts_->http_running)
    parts_->http->drain(deadline);
}

void node::stop_http() {
  if (!parts_->http_running)
    return;
  parts_->http->stop();
  parts_->http_running = false;
}

void node::stop_moves() {
  auto& p = *parts_;
  if (p.move_runner)
    p.move_runner->stop(); // moves under way end with the process
  p.movers->set(nullptr);
}

void node::leave_cluster() {
  parts_->rebalance.reset(); // no state change after the lease is gone
  if (parts_->cluster)
    parts_->cluster->leave();
}

void node::drain_deliveries(steady_time deadline) {
  const auto& engine = parts_->engine;
  if (!engine)
    return;
  // Blocking is fine: this is the main thread.
  while (engine->in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  engine->stop();
}

void node::write_snapshots(steady_time deadline) {
  auto& p = *parts_;
  if (!p.directory)
    return;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - std::chrono::steady_clock::now());
  caf::scoped_actor self{*p.sys};
  self
    ->request(p.directory, std::max(left, std::chrono::milliseconds{100}),
              shutdown_atom::value)
    .receive([](uint64_t n) { spdlog::info("wrote {} snapshots", n); },
             [](caf::error& err) {
               spdlog::warn("snapshots at shutdown incomplete: {}",
                            text_of(err));
             });
}

void node::stop_peers() {
  auto& peers = parts_->peers;
  if (peers.peer)
    caf::anon_send_exit(peers.peer, caf::exit_reason::user_shutdown);
  if (peers.forwarder)
    caf::anon_send_exit(peers.forwarder, caf::exit_reason::user_shutdown);
  peers.peer = nullptr;
  peers.forwarder = nullptr;
}

void node::stop_actors() {
  auto& p = *parts_;
  if (!p.sys)
    return;
  if (p.directory)
    caf::anon_send_exit(p.directory, caf::exit_reason::user_shutdown);
  if (p.wal)
    caf::anon_send_exit(p.wal, caf::exit_reason::user_shutdown);
  // A detached actor's thread ends only when its last handle is gone.
  if (p.delivery && p.delivery->payloads)
    caf::anon_send_exit(p.delivery->payloads, caf::exit_reason::user_shutdown);
  p.directory = nullptr;
  p.wal = nullptr;
  p.delivery.reset();
  p.sys->await_all_actors_done();
}

} // namespace wi
