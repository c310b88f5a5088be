// webhook-ingress: wires the persistence, actors and http libraries together.
// Everything here runs on the main thread, which may block (opening the
// store, recovery, waiting for a signal); no request is handled here.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster/membership.hpp"
#include "actors/cluster/mover.hpp"
#include "actors/cluster/peer.hpp"
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

namespace {

constexpr const char* admin_hash_key = "admin_token_sha256";
constexpr const char* node_id_key = "node_id";

/// Logs a fatal error (the logger is installed by then) and returns the exit
/// code.
int fail(const std::string& what) {
  spdlog::error("{}", what);
  return EXIT_FAILURE;
}

/// Resolves the admin token's hash: the configured token (flag, environment
/// or config file), else the hash kept in the store, else a fresh token that
/// is printed once on stdout (never logged).
caf::expected<std::string> admin_token_hash(const wi::config& cfg,
                                            wi::persistence::storage& store) {
  if (!cfg.admin_token.empty())
    return wi::crypto::sha256(cfg.admin_token);
  auto stored = store.get_meta(admin_hash_key);
  if (!stored)
    return stored.error();
  if (*stored)
    return **stored;
  auto token = wi::crypto::make_admin_token();
  auto hash = wi::crypto::sha256(token);
  if (auto err = store.put_meta(admin_hash_key, hash))
    return err;
  std::cout << "admin token: " << token
            << "\n(shown once; only its SHA-256 is stored)" << std::endl;
  return hash;
}

/// Returns the node id kept in the store, generating it at the first start.
caf::expected<std::string> node_id(wi::persistence::storage& store) {
  auto stored = store.get_meta(node_id_key);
  if (!stored)
    return stored.error();
  if (*stored)
    return **stored;
  auto id = "node_" + wi::crypto::make_tenant_id();
  if (auto err = store.put_meta(node_id_key, id))
    return err;
  return id;
}

/// Cluster mode (`--etcd`): the membership, checked to reach etcd. Refuses
/// (with a message naming the URLs) when no etcd member answers.
caf::expected<std::shared_ptr<wi::cluster::membership>>
connect_cluster(const wi::config& cfg, const std::string& node) {
  wi::cluster::membership_config mcfg;
  mcfg.etcd.endpoints = wi::split_etcd_urls(cfg.etcd);
  mcfg.node_id = node;
  mcfg.lease_ttl = cfg.lease_ttl;
  auto m = std::make_shared<wi::cluster::membership>(std::move(mcfg));
  if (auto err = m->connect())
    return err;
  return m;
}

/// Registers the node (state `joining`) once its HTTP and peer ports are
/// bound: advertised as `--advertise-host` (else the listen hosts) with the
/// bound ports. Refuses when another live node has the same id.
caf::error join_cluster(wi::cluster::membership& m, const wi::config& cfg,
                        const std::string& listen_host, uint16_t http_port,
                        uint16_t peer_port) {
  const auto& host =
    cfg.advertise_host.empty() ? listen_host : cfg.advertise_host;
  auto peer = wi::parse_listen(cfg.peer_listen); // checked by load_config
  auto peer_host =
    cfg.advertise_host.empty() ? peer->first : cfg.advertise_host;
  if (auto err = m.set_addresses(host + ":" + std::to_string(http_port),
                                 peer_host + ":" + std::to_string(peer_port)))
    return err;
  return m.join();
}

/// Asks the directory to snapshot everything and waits until it is durable
/// or `deadline` passes. Blocking is fine: this is the main thread.
void snapshot_all(caf::actor_system& sys, const wi::directory_actor& directory,
                  std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - std::chrono::steady_clock::now());
  caf::scoped_actor self{sys};
  self
    ->request(directory, std::max(left, std::chrono::milliseconds{100}),
              wi::shutdown_atom::value)
    .receive([](uint64_t n) { spdlog::info("wrote {} snapshots", n); },
             [](caf::error& err) {
               spdlog::warn("snapshots at shutdown incomplete: {}",
                            wi::text_of(err));
             });
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
  wi::cluster::peer_actor peer;
  wi::cluster::forwarder_actor forwarder;
  /// The bound peer port, to advertise in the member record.
  uint16_t port = 0;

  /// Ends both actors (at shutdown, before awaiting all actors).
  void stop() {
    caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(forwarder, caf::exit_reason::user_shutdown);
    peer = nullptr;
    forwarder = nullptr;
  }
};

/// Cluster mode: the move coordinator, once recovery made it (the peer
/// layer takes offers before: they are refused until then).
class mover_slot {
 public:
  void set(std::shared_ptr<wi::cluster::move_coordinator> m) {
    std::lock_guard guard{mtx_};
    mover_ = std::move(m);
  }

  std::shared_ptr<wi::cluster::move_coordinator> get() const {
    std::lock_guard guard{mtx_};
    return mover_;
  }

  /// The peer layer's move handlers, through this slot.
  wi::cluster::move_handlers handlers(std::shared_ptr<mover_slot> self) {
    wi::cluster::move_handlers h;
    h.offer = [self](wi::cluster::move_offer offer,
                     std::function<void(wi::cluster::move_reply)> reply) {
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
  std::shared_ptr<wi::cluster::move_coordinator> mover_;
};

/// Cluster mode: the move coordinator over the directory, etcd (the
/// membership) and the forwarder. `crash_at`: the test-only fault hook.
std::shared_ptr<wi::cluster::move_coordinator>
make_mover(const std::shared_ptr<wi::cluster::membership>& cluster,
           const wi::directory_actor& directory,
           const wi::cluster::forwarder_actor& forwarder,
           const std::shared_ptr<wi::cluster::thread_runner>& runner,
           const std::filesystem::path& data_dir) {
  wi::cluster::mover_config mc;
  mc.journal_path = (data_dir / "cluster-moves").string();
  mc.crash_at = wi::cluster::crash_hook_from_environment();
  if (!mc.crash_at.empty())
    spdlog::warn("test fault hook WEBHOOK_INGRESS_TEST_CRASH_AT={} is set: "
                 "this process exits at that step of a move",
                 mc.crash_at);
  wi::cluster::mover_deps d;
  d.local = wi::local_tenants_of(directory);
  d.store.read = [cluster](const std::string& t) {
    return cluster->read_placement(t);
  };
  d.store.swap = [cluster](const std::string& t, int64_t rev,
                           const std::string& owner, uint64_t epoch) {
    return cluster->move(t, rev, owner, epoch);
  };
  d.cluster = cluster;
  d.note_placement = [cluster](const std::string& t,
                               const wi::cluster::placement& p) {
    cluster->note_placement(t, p);
  };
  d.ship = [forwarder](std::string peer, wi::cluster::move_offer offer,
                       wi::cluster::move_done done) {
    caf::anon_send(forwarder, wi::cluster::peer_move_atom::value,
                   std::move(peer), std::move(offer), std::move(done));
  };
  d.tell_discard = [forwarder](std::string peer, std::string tenant,
                               uint64_t epoch) {
    caf::anon_send(forwarder, wi::cluster::peer_discard_atom::value,
                   std::move(peer), std::move(tenant), epoch);
  };
  d.runner = runner;
  return std::make_shared<wi::cluster::move_coordinator>(std::move(mc),
                                                         std::move(d));
}

/// Cluster mode: publishes the actor that answers requests other nodes
/// forward here (through `http.serve_forwarded`, which answers NOT_READY
/// until `set_ready`) and move offers (through `moves`), and spawns the
/// forwarder. Call before recovery: the peer port is known before the node
/// registers itself.
caf::expected<peer_layer> start_peer_layer(caf::actor_system& sys,
                                           wi::http::server& http,
                                           const peer_settings& settings,
                                           wi::cluster::move_handlers moves) {
  peer_layer layer;
  layer.peer = wi::cluster::spawn_peer(
    sys,
    [&http](wi::cluster::forwarded_request req,
            std::function<void(wi::cluster::forwarded_response)> reply) {
      http.serve_forwarded(std::move(req), std::move(reply));
    },
    std::move(moves));
  auto port =
    wi::cluster::publish_peer(sys, layer.peer, settings.host, settings.port);
  if (!port) {
    caf::anon_send_exit(layer.peer, caf::exit_reason::user_shutdown);
    return port.error();
  }
  layer.port = *port;
  layer.forwarder =
    wi::cluster::spawn_forwarder(sys, {settings.forward_timeout});
  spdlog::info("peer layer listening address={}:{}", settings.host, *port);
  return layer;
}

/// Raises the soft limit of open descriptors to the hard one (a server
/// holds one per connection) and returns the soft limit in force.
rlim_t raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    auto raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      lim = raised;
  }
  return lim.rlim_cur;
}

/// Descriptors kept for the store, the WAL, outgoing deliveries and the
/// listener besides the connection cap.
constexpr rlim_t reserved_descriptors = 256;

} // namespace

int main(int argc, char** argv) {
  auto loaded = wi::load_config(
    {argv + 1, argv + argc}, wi::process_environment(), std::cout, std::cerr);
  if (loaded.exit_code)
    return *loaded.exit_code;
  const auto& cfg = loaded.cfg;
  // Checked by load_config.
  auto listen = wi::parse_listen(cfg.listen);
  if (!listen)
    return EXIT_FAILURE;

  // Block the shutdown signals before any thread starts: every thread
  // inherits the mask and the main thread alone takes them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  wi::install_logger(cfg);

  // Files and directories we create are the owner's alone: the store holds
  // endpoint signing secrets (see docs/security.md).
  ::umask(077);
  auto descriptors = raise_descriptor_limit();
  spdlog::info("descriptor limit {} (max-connections {})", descriptors,
               cfg.max_connections);
  if (descriptors != RLIM_INFINITY &&
      cfg.max_connections + reserved_descriptors > descriptors)
    spdlog::warn("max-connections {} leaves fewer than {} of the {} "
                 "descriptors for the store and deliveries; accepting pauses "
                 "while descriptors run out",
                 cfg.max_connections, reserved_descriptors, descriptors);

  auto opened = wi::persistence::open_rocksdb_storage(cfg.data_dir);
  if (!opened)
    return fail(wi::text_of(opened.error()));
  std::shared_ptr<wi::persistence::storage> store = std::move(*opened);

  auto admin_hash = admin_token_hash(cfg, *store);
  if (!admin_hash)
    return fail(wi::text_of(admin_hash.error()));

  auto node = cfg.node_id.empty() ? node_id(*store)
                                  : caf::expected<std::string>{cfg.node_id};
  if (!node)
    return fail(wi::text_of(node.error()));

  std::shared_ptr<wi::cluster::membership> cluster;
  if (!cfg.etcd.empty()) {
    auto connected = connect_cluster(cfg, *node);
    if (!connected)
      return fail("refusing to start: " + wi::text_of(connected.error()));
    cluster = std::move(*connected);
  }

  wi::http::server_config http_cfg;
  http_cfg.host = listen->first;
  http_cfg.port = listen->second;
  http_cfg.threads = cfg.http_threads;
  http_cfg.max_body_bytes = cfg.max_body_bytes;
  http_cfg.max_connections = cfg.max_connections;
  http_cfg.max_body_memory_bytes = cfg.max_body_memory_bytes;
  http_cfg.admin_token_hash = *admin_hash;
  http_cfg.metrics_public = cfg.metrics_public;
  http_cfg.node.version = WI_VERSION;
  http_cfg.node.build = WI_BUILD;
  http_cfg.node.node_id = *node;
  http_cfg.node.data_dir = std::filesystem::absolute(cfg.data_dir).string();
  http_cfg.node.started_at = wi::http::now_unix_millis();
  // Declared before the actor system: it is destroyed after every actor,
  // so no late reply can reach a destroyed server.
  wi::http::server http{http_cfg};
  auto port = http.start();
  if (!port)
    return fail(wi::text_of(port.error()));
  std::cout << "webhook-ingress listening on http://" << listen->first << ':'
            << *port << std::endl;
  spdlog::info("listening address=http://{}:{}", listen->first, *port);

  caf::actor_system_config caf_cfg;
  caf_cfg.add_error_category(
    wi::error_category,
    [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      return wi::to_string(static_cast<wi::errc>(code)) + " " +
             caf::to_string(ctx);
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
  peer_settings peer_cfg;
  if (cluster) {
    auto peer_listen = wi::parse_listen(cfg.peer_listen); // checked on load
    peer_cfg.host = peer_listen->first;
    peer_cfg.port = peer_listen->second;
    wi::cluster::configure_peer_layer(caf_cfg);
  }
  caf::actor_system sys{caf_cfg};
  peer_layer peers;
  auto movers = std::make_shared<mover_slot>();
  if (cluster) {
    auto started =
      start_peer_layer(sys, http, peer_cfg, movers->handlers(movers));
    if (!started) {
      http.stop();
      return fail(wi::text_of(started.error()));
    }
    peers = std::move(*started);
    if (auto err =
          join_cluster(*cluster, cfg, listen->first, *port, peers.port)) {
      http.stop();
      peers.stop();
      return fail("refusing to start: " + wi::text_of(err));
    }
    spdlog::info("cluster mode node={} etcd={} lease_ttl={}", *node, cfg.etcd,
                 wi::format_duration(cfg.lease_ttl));
  }

  // Tenants stay in their stored form until their actor starts.
  auto recovered = wi::load_node(*store);
  if (!recovered) {
    http.stop();
    peers.stop();
    return fail(wi::text_of(recovered.error()));
  }
  spdlog::info("recovered {} tenants up to WAL sequence {} ({} stored, "
               "decoded on first use)",
               recovered->directory.tenants.size(), recovered->last_sequence,
               recovered->stored.size());
  wi::persistence::wal_writer_config wal_cfg;
  wal_cfg.max_batch = cfg.wal_max_batch;
  wal_cfg.max_tail_per_owner = cfg.snapshot_every;
  wal_cfg.recovered_snapshot_seq = recovered->last_snapshot_sequence;
  wal_cfg.on_batch = [](size_t records, double seconds) {
    wi::node_metrics().on_wal_batch(records, seconds);
  };
  std::unordered_map<std::string, std::vector<uint64_t>> uncovered;
  for (const auto& [owner, log] : recovered->logs)
    if (!log.uncovered.empty())
      uncovered.emplace(owner, log.uncovered);
  auto wal = wi::persistence::spawn_wal_writer(sys, store, wal_cfg,
                                               std::move(uncovered));
  wi::delivery_engine_config engine_cfg;
  engine_cfg.max_in_flight = cfg.delivery_concurrency;
  engine_cfg.max_per_key = cfg.endpoint_concurrency;
  engine_cfg.allow_private_targets = cfg.allow_private_targets;
  auto engine = std::make_shared<wi::delivery_engine>(engine_cfg);
  auto delivery = std::make_shared<wi::delivery_settings>();
  delivery->engine = engine;
  delivery->payloads = wi::persistence::spawn_payload_reader(sys, store);
  delivery->retries = wi::retry_policy{cfg.retry_schedule};
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
  delivery->limits = wi::tenant_limits{
    cfg.tenant_max_endpoints, cfg.tenant_max_stored_bytes,
    cfg.tenant_publish_rate, cfg.tenant_publish_burst}; // issue 13
  std::vector<std::string> held;
  if (cluster)
    for (const auto& [id, entry] : recovered->directory.tenants)
      if (!entry.token_hash.empty()) // not a purge tombstone
        held.push_back(id);
  auto table = std::make_shared<wi::tenant_table>();
  auto directory = wi::spawn_directory(
    sys, std::move(*recovered), wal, table, cfg.snapshot_every, delivery,
    wi::persistence::spawn_wal_reader(sys, store));
  wi::http::backend be;
  be.directory = directory;
  be.tenants = table;
  std::shared_ptr<wi::cluster::thread_runner> move_runner;
  std::shared_ptr<wi::cluster::move_coordinator> mover;
  if (cluster) {
    // Stale copies (a move's old owner or uncommitted import that a crash
    // kept) go before this node serves; unfinished moves from here are
    // fenced (docs/cluster.md, "Moves").
    move_runner = std::make_shared<wi::cluster::thread_runner>(2);
    mover = make_mover(cluster, directory, peers.forwarder, move_runner,
                       std::filesystem::path{cfg.data_dir});
    auto discarded = mover->reconcile_at_start(held);
    if (!discarded) {
      http.stop();
      peers.stop();
      return fail("refusing to start: " + wi::text_of(discarded.error()));
    }
    if (*discarded > 0) {
      spdlog::info("discarded {} tenants placed on other nodes", *discarded);
      std::erase_if(held, [&](const std::string& t) {
        auto p = cluster->placement_of(t);
        return p && p->owner != *node;
      });
    }
    movers->set(mover);
  }
  be.metrics_text = [engine, cluster, mover] {
    auto text =
      wi::node_metrics().serialize(engine->in_flight(), engine->queued());
    if (cluster)
      text += cluster->metrics_text();
    if (mover)
      text += mover->metrics_text();
    return text;
  };
  if (cluster) {
    be.cluster = cluster;
    be.forward = wi::cluster::forward_function(peers.forwarder);
    be.mover = mover;
  }
  http.set_ready(std::move(be));
  if (cluster) {
    cluster->reconcile(held);
    if (auto err = cluster->set_state(wi::cluster::node_state::active))
      spdlog::warn("could not mark node active yet: {}", wi::text_of(err));
  }
  caf::anon_send(directory, wi::warm_atom::value);
  spdlog::info("ready; create a tenant with: curl -X POST -H 'Authorization: "
               "Bearer <admin token>' -d '{{\"name\":\"acme\"}}' "
               "http://{}:{}/admin/v1/tenants",
               listen->first, *port);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {} received, shutting down", sig);
  auto deadline =
    std::chrono::steady_clock::now() + std::chrono::seconds{cfg.shutdown_grace};
  http.drain(deadline);
  http.stop();
  if (move_runner)
    move_runner->stop(); // moves under way end with the process
  movers->set(nullptr);
  if (cluster)
    cluster->leave(); // revokes the lease: the member key goes at once
  // Let attempts under way finish; whatever is still running at the
  // deadline ends as "shutdown" and is sent again after the restart.
  while (engine->in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  engine->stop();
  snapshot_all(sys, directory, deadline);
  peers.stop();
  caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(wal, caf::exit_reason::user_shutdown);
  // A detached actor's thread ends only when its last handle is gone.
  caf::anon_send_exit(delivery->payloads, caf::exit_reason::user_shutdown);
  directory = nullptr;
  wal = nullptr;
  delivery.reset();
  sys.await_all_actors_done();
  return EXIT_SUCCESS;
}
