// webhook-ingress: wires the persistence, actors and http libraries together.
// Everything here runs on the main thread, which may block (opening the
// store, recovery, waiting for a signal); no request is handled here.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/crypto.hpp"
#include "actors/delivery_engine.hpp"
#include "actors/directory_actor.hpp"
#include "actors/recovery.hpp"
#include "actors/retry_policy.hpp"
#include "actors/tenant_actor.hpp"
#include "http/server.hpp"
#include "persistence/payload_reader.hpp"
#include "persistence/storage.hpp"
#include "persistence/wal_writer.hpp"
#include "webhook_ingress/error.hpp"

namespace {

constexpr const char* admin_hash_key = "admin_token_sha256";

struct options {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./data";
  std::string admin_token;
  size_t max_body_bytes = size_t{1} << 20;
  size_t http_threads = 2;
  /// Benchmark-only: most records per synced WAL batch (1 = one fsync per
  /// mutation, the baseline group commit is measured against).
  size_t wal_max_batch = 1024;
  uint64_t snapshot_every = 10'000;
  unsigned shutdown_grace_s = 10;
  std::string retry_schedule;
  bool allow_private_targets = false;
  uint32_t connect_timeout_ms = 5'000;
  uint32_t delivery_timeout_ms = 15'000;
  uint64_t max_pending_deliveries = 100'000;
  size_t delivery_concurrency = 256;
  size_t endpoint_concurrency = 8;
  uint32_t breaker_failures = 10;
  std::string breaker_cooldown = "60s";
  std::string breaker_max_cooldown = "1h";
  std::string retention = "168h";
};

/// Parses one duration such as `250ms`, `60s`, `5m` or `168h`.
caf::expected<std::chrono::milliseconds> parse_duration(const std::string& flag,
                                                        const std::string& x) {
  auto items = wi::parse_retry_schedule(x);
  if (!items || items->size() != 1)
    return wi::make_error(wi::errc::invalid_parameter, flag,
                          flag +
                            " must be one duration like 250ms, 60s, 5m "
                            "or 2h, got '" +
                            x + "'");
  return items->front();
}

/// Splits `HOST:PORT` (or `[V6]:PORT`); nullopt when malformed.
std::optional<std::pair<std::string, uint16_t>>
parse_listen(const std::string& x) {
  auto colon = x.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == x.size())
    return std::nullopt;
  auto host = x.substr(0, colon);
  if (host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port_text = x.substr(colon + 1);
  if (host.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  auto port = std::stoul(port_text);
  if (port > 65535)
    return std::nullopt;
  return std::make_pair(host, static_cast<uint16_t>(port));
}

int fail(const std::string& what) {
  std::cerr << "webhook-ingress: " << what << '\n';
  return EXIT_FAILURE;
}

/// Resolves the admin token's hash: the flag, else the environment, else the
/// hash kept in the store, else a fresh token that is printed once.
caf::expected<std::string> admin_token_hash(const options& opts,
                                            wi::persistence::storage& store) {
  if (!opts.admin_token.empty())
    return wi::crypto::sha256(opts.admin_token);
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

} // namespace

int main(int argc, char** argv) {
  options opts;
  if (const char* env = std::getenv("WEBHOOK_INGRESS_ADMIN_TOKEN"))
    opts.admin_token = env;
  CLI::App app{"webhook-ingress: multi-tenant webhook service"};
  app.set_version_flag("--version",
                       std::string{"webhook-ingress "} + WI_VERSION);
  app.add_option("--listen", opts.listen, "HOST:PORT to serve HTTP on")
    ->capture_default_str();
  app
    .add_option("--data-dir", opts.data_dir, "directory of the embedded store")
    ->capture_default_str();
  app.add_option("--admin-token", opts.admin_token,
                 "admin bearer token (else env WEBHOOK_INGRESS_ADMIN_TOKEN, "
                 "else generated on first start)");
  app
    .add_option("--max-body-bytes", opts.max_body_bytes,
                "largest request body accepted (413 beyond)")
    ->capture_default_str()
    ->check(CLI::Range(size_t{1}, size_t{64} << 20));
  app.add_option("--http-threads", opts.http_threads, "HTTP I/O threads")
    ->capture_default_str()
    ->check(CLI::Range(size_t{1}, size_t{64}));
  app
    .add_option("--snapshot-every", opts.snapshot_every,
                "snapshot a tenant after this many of its WAL records")
    ->capture_default_str()
    ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  app
    .add_option("--shutdown-grace", opts.shutdown_grace_s,
                "seconds to finish in-flight work and write snapshots on "
                "SIGTERM/SIGINT")
    ->capture_default_str()
    ->check(CLI::Range(0u, 3600u));
  app.add_option("--retry-schedule", opts.retry_schedule,
                 "delays between delivery attempts, e.g. 5s,5m,30m,2h "
                 "(default 5s,5m,30m,2h,5h,10h,10h; +-20% jitter)");
  app.add_flag("--allow-private-targets", opts.allow_private_targets,
               "allow deliveries to loopback, private and link-local "
               "addresses (local use and tests only)");
  app
    .add_option("--delivery-connect-timeout-ms", opts.connect_timeout_ms,
                "connect timeout of one delivery attempt")
    ->capture_default_str()
    ->check(CLI::Range(1u, 600'000u));
  app
    .add_option("--delivery-timeout-ms", opts.delivery_timeout_ms,
                "total timeout of one delivery attempt")
    ->capture_default_str()
    ->check(CLI::Range(1u, 600'000u));
  app
    .add_option("--max-pending-deliveries", opts.max_pending_deliveries,
                "pending deliveries per tenant before publishes get 429")
    ->capture_default_str()
    ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  app
    .add_option("--delivery-concurrency", opts.delivery_concurrency,
                "delivery attempts in flight over all endpoints")
    ->capture_default_str()
    ->check(CLI::Range(size_t{1}, size_t{100'000}));
  app
    .add_option("--endpoint-concurrency", opts.endpoint_concurrency,
                "delivery attempts in flight per endpoint")
    ->capture_default_str()
    ->check(CLI::Range(size_t{1}, size_t{1'000}));
  app
    .add_option("--breaker-failures", opts.breaker_failures,
                "consecutive failed attempts that disable an endpoint")
    ->capture_default_str()
    ->check(CLI::Range(1u, 1'000'000u));
  app
    .add_option("--breaker-cooldown", opts.breaker_cooldown,
                "first wait before probing a disabled endpoint (doubles "
                "after each failed probe)")
    ->capture_default_str();
  app
    .add_option("--breaker-max-cooldown", opts.breaker_max_cooldown,
                "longest wait between probes")
    ->capture_default_str();
  app
    .add_option("--retention", opts.retention,
                "pending deliveries older than this fail as expired")
    ->capture_default_str();
  app
    .add_option("--wal-max-batch", opts.wal_max_batch,
                "benchmark only: most records per synced WAL batch")
    ->capture_default_str()
    ->check(CLI::Range(size_t{1}, size_t{65536}))
    ->group(""); // hidden from --help
  CLI11_PARSE(app, argc, argv);

  auto retries =
    opts.retry_schedule.empty()
      ? caf::expected<
          std::vector<std::chrono::milliseconds>>{wi::default_retry_schedule()}
      : wi::parse_retry_schedule(opts.retry_schedule);
  if (!retries)
    return fail("--retry-schedule: " + wi::text_of(retries.error()));
  auto cooldown = parse_duration("--breaker-cooldown", opts.breaker_cooldown);
  auto max_cooldown =
    parse_duration("--breaker-max-cooldown", opts.breaker_max_cooldown);
  auto retention = parse_duration("--retention", opts.retention);
  for (const auto* x : {&cooldown, &max_cooldown, &retention})
    if (!*x)
      return fail(wi::text_of(x->error()));
  auto listen = parse_listen(opts.listen);
  if (!listen)
    return fail("--listen must be HOST:PORT with a port 0-65535, got '" +
                opts.listen + "'");

  // Block the shutdown signals before any thread starts: every thread
  // inherits the mask and the main thread alone takes them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  spdlog::set_default_logger(spdlog::stderr_color_mt("webhook-ingress"));

  auto opened = wi::persistence::open_rocksdb_storage(opts.data_dir);
  if (!opened)
    return fail(wi::text_of(opened.error()));
  std::shared_ptr<wi::persistence::storage> store = std::move(*opened);

  auto admin_hash = admin_token_hash(opts, *store);
  if (!admin_hash)
    return fail(wi::text_of(admin_hash.error()));

  wi::http::server_config http_cfg;
  http_cfg.host = listen->first;
  http_cfg.port = listen->second;
  http_cfg.threads = opts.http_threads;
  http_cfg.max_body_bytes = opts.max_body_bytes;
  http_cfg.admin_token_hash = *admin_hash;
  // Declared before the actor system: it is destroyed after every actor,
  // so no late reply can reach a destroyed server.
  wi::http::server http{http_cfg};
  auto port = http.start();
  if (!port)
    return fail(wi::text_of(port.error()));
  std::cout << "webhook-ingress listening on http://" << listen->first << ':'
            << *port << std::endl;

  caf::actor_system_config caf_cfg;
  caf_cfg.add_error_category(
    wi::error_category,
    [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      return wi::to_string(static_cast<wi::errc>(code)) + " " +
             caf::to_string(ctx);
    });
  caf::actor_system sys{caf_cfg};

  auto node = wi::recover(*store);
  if (!node) {
    http.stop();
    return fail(wi::text_of(node.error()));
  }
  spdlog::info("recovered {} tenants up to WAL sequence {}",
               node->directory.tenants.size(), node->last_sequence);
  wi::persistence::wal_writer_config wal_cfg;
  wal_cfg.max_batch = opts.wal_max_batch;
  wal_cfg.max_tail_per_owner = opts.snapshot_every;
  std::unordered_map<std::string, std::vector<uint64_t>> uncovered;
  for (const auto& [owner, log] : node->logs)
    if (!log.uncovered.empty())
      uncovered.emplace(owner, log.uncovered);
  auto wal = wi::persistence::spawn_wal_writer(sys, store, wal_cfg,
                                               std::move(uncovered));
  wi::delivery_engine_config engine_cfg;
  engine_cfg.max_in_flight = opts.delivery_concurrency;
  engine_cfg.max_per_key = opts.endpoint_concurrency;
  engine_cfg.allow_private_targets = opts.allow_private_targets;
  auto engine = std::make_shared<wi::delivery_engine>(engine_cfg);
  auto delivery = std::make_shared<wi::delivery_settings>();
  delivery->engine = engine;
  delivery->payloads = wi::persistence::spawn_payload_reader(sys, store);
  delivery->retries = wi::retry_policy{std::move(*retries)};
  delivery->connect_timeout =
    std::chrono::milliseconds{opts.connect_timeout_ms};
  delivery->total_timeout = std::chrono::milliseconds{opts.delivery_timeout_ms};
  delivery->max_pending = opts.max_pending_deliveries;
  delivery->breaker_failures = opts.breaker_failures;
  delivery->breaker_cooldown = *cooldown;
  delivery->breaker_max_cooldown = std::max(*max_cooldown, *cooldown);
  delivery->retention = *retention;
  auto table = std::make_shared<wi::tenant_table>();
  auto directory = wi::spawn_directory(sys, std::move(*node), wal, table,
                                       opts.snapshot_every, delivery);
  http.set_ready(wi::http::backend{directory, table});
  spdlog::info("ready; create a tenant with: curl -X POST -H 'Authorization: "
               "Bearer <admin token>' -d '{{\"name\":\"acme\"}}' "
               "http://{}:{}/admin/v1/tenants",
               listen->first, *port);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {} received, shutting down", sig);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::seconds{opts.shutdown_grace_s};
  http.drain(deadline);
  http.stop();
  // Let attempts under way finish; whatever is still running at the
  // deadline ends as "shutdown" and is sent again after the restart.
  while (engine->in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  engine->stop();
  snapshot_all(sys, directory, deadline);
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
