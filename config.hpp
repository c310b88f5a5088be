#pragma once

// The settings of the webhook-ingress binary and where they come from:
// built-in defaults < a TOML file (`--config FILE`) < environment variables
// `WEBHOOK_INGRESS_<OPTION>` < command-line flags. Also sets up the default
// spdlog logger (`--log-format`, `--log-level`).
//
// Everything here runs on the main thread before any other thread starts,
// except the formatter of `make_log_formatter`, which is thread-safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/formatter.h>

#include "actors/delivery/retry_policy.hpp"
#include "webhook_ingress/limits.hpp"

namespace wi {

/// Every setting of the service. Each field is the option of the same name
/// with dashes instead of underscores (`data_dir` is `--data-dir`, TOML key
/// `data-dir`, variable `WEBHOOK_INGRESS_DATA_DIR`), except `wal_max_batch`,
/// which only the command line sets. The initial values are the defaults.
struct config {
  /// `HOST:PORT` (or `[V6]:PORT`) to serve on; port 0 picks a free one.
  std::string listen = "127.0.0.1:8080";
  /// Directory of the embedded store.
  std::string data_dir = "./data";
  /// Admin bearer token; empty: the one kept in the store, else a generated
  /// one. A secret: never logged, never printed.
  std::string admin_token;
  /// Largest request body accepted (413 beyond); 1 B .. 64 MiB.
  size_t max_body_bytes = size_t{1} << 20;
  /// RESTinio I/O threads; 1 .. 64.
  size_t http_threads = 2;
  /// Open HTTP connections; new ones beyond are closed at once; 1 .. 1e7.
  /// The server raises its descriptor limit (RLIMIT_NOFILE) to the hard
  /// limit at start and warns when this does not leave room for the store
  /// and outgoing deliveries.
  size_t max_connections = 10'000;
  /// Bytes that request bodies being received may hold together (declared
  /// Content-Length, or max_body_bytes for a chunked body); beyond, requests
  /// get 503 OVERLOADED before their body is read; 1 .. 1 TiB.
  uint64_t max_body_memory_bytes = uint64_t{64} << 20;
  /// Snapshot a tenant after this many of its WAL records; 1 .. 1e8.
  uint64_t snapshot_every = 10'000;
  /// Seconds to finish in-flight work on SIGTERM/SIGINT; 0 .. 3600.
  unsigned shutdown_grace = 10;
  /// Delays between delivery attempts; each 1 ms .. 7 days, at least one.
  std::vector<std::chrono::milliseconds> retry_schedule =
    default_retry_schedule();
  /// Allow deliveries to loopback, private and link-local addresses.
  bool allow_private_targets = false;
  /// Connect timeout of one delivery attempt (ms); 1 .. 600 000.
  uint32_t delivery_connect_timeout_ms = 5'000;
  /// Total timeout of one delivery attempt (ms); 1 .. 600 000.
  uint32_t delivery_timeout_ms = 15'000;
  /// Pending deliveries per tenant before publishes get 429; 1 .. 1e8.
  uint64_t max_pending_deliveries = 100'000;
  /// Delivery attempts in flight over all endpoints; 1 .. 100 000.
  size_t delivery_concurrency = 256;
  /// Delivery attempts in flight per endpoint; 1 .. 1000.
  size_t endpoint_concurrency = 8;
  /// Delivery attempts one tenant has under way at once (the rest wait in
  /// its actor); 1 .. 100 000.
  size_t tenant_concurrency = 1024;
  /// Consecutive failed attempts that disable an endpoint; 1 .. 1e6.
  uint32_t breaker_failures = 10;
  /// First wait before probing a disabled endpoint; 1 ms .. 7 days.
  std::chrono::milliseconds breaker_cooldown = std::chrono::seconds{60};
  /// Longest wait between probes; 1 ms .. 7 days.
  std::chrono::milliseconds breaker_max_cooldown = std::chrono::hours{1};
  /// Pending deliveries older than this fail as expired; 1 ms .. 7 days.
  std::chrono::milliseconds retention = std::chrono::hours{168};
  /// How often each tenant removes delivered history (events without a
  /// pending delivery, created more than `retention` ago); 1 ms .. 7 days.
  std::chrono::milliseconds prune_interval = std::chrono::seconds{60};
  /// Cluster mode: etcd client URLs, comma-separated (`http://h:2379,...`);
  /// empty (the default) runs a single node without etcd.
  std::string etcd;
  /// Cluster mode: this node's id (letters, digits, `_`, `-`, `.`; at most
  /// 64); empty: the id kept in the data directory.
  std::string node_id;
  /// Cluster mode: `HOST:PORT` of the node-to-node (CAF) listener; port 0
  /// picks a free one.
  std::string peer_listen = "127.0.0.1:0";
  /// Cluster mode: the host other nodes and clients reach this node at,
  /// where `listen` is a wildcard; empty: the host of `listen`.
  std::string advertise_host;
  /// Cluster mode: TTL of the node's etcd lease; whole seconds, 2 s .. 60 s.
  std::chrono::milliseconds lease_ttl = std::chrono::seconds{5};
  /// Cluster mode: on SIGTERM/SIGINT, the longest wait for this node's
  /// tenants to move to the others (a drain) before it stops; 0 .. 7 days,
  /// 0 skips the drain.
  std::chrono::milliseconds drain_grace = std::chrono::seconds{30};
  // -- per-tenant limits (issue 13): node defaults, each overridable per
  // tenant by the admin API; 0 means no limit except for the burst.
  /// Most endpoints per tenant; 0 .. 1e7.
  uint64_t tenant_max_endpoints = tenant_limits{}.max_endpoints;
  /// Most bytes of stored event payloads per tenant; 0 .. 2^50.
  uint64_t tenant_max_stored_bytes = tenant_limits{}.max_stored_bytes;
  /// Publishes per second per tenant (token bucket); 0 .. 1e6.
  uint64_t tenant_publish_rate = tenant_limits{}.publish_rate;
  /// Publishes at once per tenant (the bucket's size); 1 .. 1e6.
  uint64_t tenant_publish_burst = tenant_limits{}.publish_burst;
  /// Serve `GET /metrics` without the admin token.
  bool metrics_public = false;
  /// `text` or `json`.
  std::string log_format = "text";
  /// `trace`, `debug`, `info`, `warn`, `error` or `off`.
  std::string log_level = "info";
  /// Benchmark only, command line only: most records per synced WAL batch;
  /// 1 .. 65 536.
  size_t wal_max_batch = 1024;
};

/// Where a setting's value came from, lowest precedence first.
enum class config_source { defaults, file, env, flag };

/// `"default"`, `"file"`, `"env"` or `"flag"`.
[[nodiscard]] std::string_view to_string(config_source x) noexcept;

/// The source of each option (by name, e.g. `"data-dir"`) that did not keep
/// its default.
using config_sources = std::map<std::string, config_source, std::less<>>;

/// Environment variables by name. Only `WEBHOOK_INGRESS_*` ones matter.
using environment = std::map<std::string, std::string, std::less<>>;

/// Returns the process's `WEBHOOK_INGRESS_*` environment variables.
[[nodiscard]] environment process_environment();

/// What `load_config` decided.
struct config_load {
  /// The effective configuration (meaningful only without `exit_code`).
  config cfg;
  /// Which layer set which option.
  config_sources sources;
  /// Set: the process must exit at once with this code: 0 after `--help`,
  /// `--version` or `--print-config`, non-zero after an error (already
  /// reported on `err`). Unset: run with `cfg`.
  std::optional<int> exit_code;
};

/// Builds the configuration from the defaults, then the TOML file of
/// `--config` (else of `WEBHOOK_INGRESS_CONFIG`, else none), then `env`, then
/// the flags in `args` (without the program name); later layers win key by
/// key. Every layer is checked completely, even where a later one overrides
/// it: an unknown TOML key or `WEBHOOK_INGRESS_*` variable, a value of the
/// wrong type, out of range or not a valid duration is an error whose
/// message names the key (but never shows the value of a secret). Help,
/// version and `--print-config` (the effective config as TOML, see
/// `format_config`) go to `out`; errors to `err`, as one line each,
/// prefixed with `webhook-ingress: `.
[[nodiscard]] config_load load_config(const std::vector<std::string>& args,
                                      const environment& env, std::ostream& out,
                                      std::ostream& err);

/// Renders `cfg` as a TOML document that `load_config` accepts as a config
/// file: every option in documentation order, one `key = value` line each,
/// with a `# file`, `# env` or `# flag` comment when `sources` says so.
/// Secrets are redacted: a set `admin-token` appears only as a comment
/// saying it is set (and where from), never its value. `wal-max-batch` is
/// left out.
[[nodiscard]] std::string format_config(const config& cfg,
                                        const config_sources& sources = {});

/// The option names a config file, the environment and `--print-config`
/// know, in documentation order.
[[nodiscard]] const std::vector<std::string_view>& config_keys();

/// `WEBHOOK_INGRESS_` + `key` upper-cased, dashes to underscores.
[[nodiscard]] std::string env_name(std::string_view key);

/// Splits `HOST:PORT` or `[V6]:PORT` (port 0-65535); nullopt when malformed.
[[nodiscard]] std::optional<std::pair<std::string, uint16_t>>
parse_listen(std::string_view x);

/// Splits `--etcd`'s comma-separated URLs (empty items dropped).
[[nodiscard]] std::vector<std::string> split_etcd_urls(std::string_view x);

/// Renders a duration the way the config takes it back: the largest of
/// `h`, `m`, `s`, `ms` that divides it, e.g. `168h`, `90s`, `250ms`.
[[nodiscard]] std::string format_duration(std::chrono::milliseconds x);

/// Returns the formatter of one log format: `text` (spdlog's default
/// pattern) or `json` (one object per line: `time` in UTC RFC 3339 with
/// milliseconds, `level`, `msg`, then fields). A message that ends in
/// logfmt pairs, `msg key=value key="quoted value"`, keeps the text in
/// `msg` and gets one JSON member per pair: unquoted values that are JSON
/// numbers become numbers, everything else strings. Nullptr for an unknown
/// format. The formatter is thread-safe.
[[nodiscard]] std::unique_ptr<spdlog::formatter>
make_log_formatter(std::string_view format);

/// Replaces spdlog's default logger by one that writes `cfg.log_format` to
/// stderr at `cfg.log_level`. Call before any thread logs.
void install_logger(const config& cfg);

} // namespace wi
