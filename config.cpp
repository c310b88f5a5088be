#include "config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <sstream>
#include <string>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "actors/common/text.hpp"
#include "webhook_ingress/error.hpp"

extern char** environ;

namespace wi {

namespace {

using std::chrono::milliseconds;

constexpr std::string_view env_prefix = "WEBHOOK_INGRESS_";

/// The variable that names the config file when `--config` is absent.
constexpr std::string_view config_env = "WEBHOOK_INGRESS_CONFIG";
/// Test-only fault hooks (e.g. `WEBHOOK_INGRESS_TEST_CRASH_AT`, read by the
/// move coordinator): not options, never rejected as unknown.
constexpr std::string_view test_env_prefix = "WEBHOOK_INGRESS_TEST_";

/// Why a value was refused, e.g. "must be an integer from 1 to 64, got 0";
/// nullopt when it was accepted.
using problem = std::optional<std::string>;

/// Shows a refused value: quoted, control characters replaced, long values
/// cut.
std::string shown(std::string_view x) {
  std::string out = "'";
  for (char c : x.substr(0, 80))
    out += std::iscntrl(static_cast<unsigned char>(c)) ? '?' : c;
  if (x.size() > 80)
    out += "...";
  out += "'";
  return out;
}

/// Names the TOML type of `n` for messages, e.g. "a string".
std::string type_of(const toml::node& n) {
  switch (n.type()) {
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a float";
  case toml::node_type::boolean:
    return "a boolean";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::table:
    return "a table";
  default:
    return "a date or time";
  }
}

/// Renders `x` as a TOML basic string.
std::string toml_string(std::string_view x) {
  std::string out = "\"";
  for (char c : x) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

/// One option that the config file, the environment and the command line
/// can set.
struct key_spec {
  std::string_view name;
  std::string_view help;
  /// Placeholder of the value in `--help`.
  std::string_view type_name;
  /// Never shown: not in `--print-config`, not in error messages.
  bool secret = false;
  /// A boolean: a flag without value on the command line.
  bool boolean = false;
  /// Rendered as a TOML string (else as a bare integer or boolean).
  bool quoted = false;
  /// Sets the option from an environment variable or flag value.
  std::function<problem(config&, std::string_view)> from_text;
  /// Sets the option from a TOML value.
  std::function<problem(config&, const toml::node&)> from_toml;
  /// The value as `from_text` takes it back.
  std::function<std::string(const config&)> to_text;
};

/// An unsigned integer option in [min, max].
template <class T>
key_spec integer_key(std::string_view name, std::string_view help,
                     T config::*member, uint64_t min, uint64_t max) {
  key_spec k;
  k.name = name;
  k.help = help;
  k.type_name = "N";
  auto rule = "must be an integer from " + std::to_string(min) + " to " +
              std::to_string(max);
  k.from_text = [=](config& cfg, std::string_view x) -> problem {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(x.data(), x.data() + x.size(), value);
    if (x.empty() || ec != std::errc{} || end != x.data() + x.size() ||
        value < min || value > max)
      return rule + ", got " + shown(x);
    cfg.*member = static_cast<T>(value);
    return std::nullopt;
  };
  k.from_toml = [=](config& cfg, const toml::node& n) -> problem {
    if (!n.is_integer())
      return rule + ", got " + type_of(n);
    auto value = n.as_integer()->get();
    if (value < 0 || static_cast<uint64_t>(value) < min ||
        static_cast<uint64_t>(value) > max)
      return rule + ", got " + std::to_string(value);
    cfg.*member = static_cast<T>(value);
    return std::nullopt;
  };
  k.to_text = [=](const config& cfg) { return std::to_string(cfg.*member); };
  return k;
}

/// A string option; `check` refuses bad values.
key_spec string_key(std::string_view name, std::string_view help,
                    std::string config::*member,
                    std::function<problem(std::string_view)> check,
                    bool secret = false) {
  key_spec k;
  k.name = name;
  k.help = help;
  k.type_name = "TEXT";
  k.secret = secret;
  k.quoted = true;
  k.from_text = [=](config& cfg, std::string_view x) -> problem {
    if (!is_valid_utf8(x)) // a path or token from the environment or a flag
      return std::string{"must be valid UTF-8"};
    if (auto why = check(x))
      return why;
    cfg.*member = std::string{x};
    return std::nullopt;
  };
  k.from_toml = [k](config& cfg, const toml::node& n) -> problem {
    if (!n.is_string())
      return "must be a string, got " + type_of(n);
    return k.from_text(cfg, n.as_string()->get());
  };
  k.to_text = [=](const config& cfg) { return cfg.*member; };
  return k;
}

/// A string option that takes one of `choices`.
key_spec choice_key(std::string_view name, std::string_view help,
                    std::string config::*member,
                    std::vector<std::string_view> choices) {
  std::string rule = "must be one of";
  for (auto c : choices)
    rule += (c == choices.front() ? " " : ", ") + std::string{c};
  auto k = string_key(name, help, member, [=](std::string_view x) -> problem {
    if (std::find(choices.begin(), choices.end(), x) != choices.end())
      return std::nullopt;
    return rule + ", got " + shown(x);
  });
  k.type_name = "WORD";
  return k;
}

key_spec bool_key(std::string_view name, std::string_view help,
                  bool config::*member) {
  key_spec k;
  k.name = name;
  k.help = help;
  k.type_name = "BOOL";
  k.boolean = true;
  k.from_text = [=](config& cfg, std::string_view x) -> problem {
    if (x == "true" || x == "1" || x == "yes" || x == "on")
      cfg.*member = true;
    else if (x == "false" || x == "0" || x == "no" || x == "off")
      cfg.*member = false;
    else
      return "must be true or false (or 1/0, yes/no, on/off), got " + shown(x);
    return std::nullopt;
  };
  k.from_toml = [=](config& cfg, const toml::node& n) -> problem {
    if (!n.is_boolean())
      return "must be true or false, got " + type_of(n);
    cfg.*member = n.as_boolean()->get();
    return std::nullopt;
  };
  k.to_text = [=](const config& cfg) {
    return std::string{cfg.*member ? "true" : "false"};
  };
  return k;
}

/// Parses one duration such as `250ms`, `60s`, `5m` or `168h`.
std::optional<milliseconds> parse_one_duration(std::string_view x) {
  auto items = parse_retry_schedule(x);
  if (!items || items->size() != 1)
    return std::nullopt;
  return items->front();
}

key_spec duration_key(std::string_view name, std::string_view help,
                      milliseconds config::*member) {
  key_spec k;
  k.name = name;
  k.help = help;
  k.type_name = "DURATION";
  k.quoted = true;
  k.from_text = [=](config& cfg, std::string_view x) -> problem {
    auto value = parse_one_duration(x);
    if (!value)
      return "must be one duration like 250ms, 60s, 5m or 2h (at most 7 "
             "days), got " +
             shown(x);
    cfg.*member = *value;
    return std::nullopt;
  };
  k.from_toml = [k](config& cfg, const toml::node& n) -> problem {
    if (!n.is_string())
      return "must be a duration string like \"60s\", got " + type_of(n);
    return k.from_text(cfg, n.as_string()->get());
  };
  k.to_text = [=](const config& cfg) { return format_duration(cfg.*member); };
  return k;
}

/// Replaces the text parser of the duration key `k` by `check(cfg, x,
/// parse)`, which may call the original `parse`; TOML strings go through it.
template <class Check>
void refine_duration(key_spec& k, Check check) {
  k.from_text = [parse = k.from_text, check](config& cfg,
                                             std::string_view x) -> problem {
    return check(cfg, x, parse);
  };
  k.from_toml = [from_text = k.from_text](config& cfg,
                                          const toml::node& n) -> problem {
    if (!n.is_string())
      return "must be a duration string like \"5s\", got " + type_of(n);
    return from_text(cfg, n.as_string()->get());
  };
}

key_spec schedule_key(std::string_view name, std::string_view help,
                      std::vector<milliseconds> config::*member) {
  key_spec k;
  k.name = name;
  k.help = help;
  k.type_name = "DURATIONS";
  k.quoted = true;
  k.from_text = [=](config& cfg, std::string_view x) -> problem {
    auto value = parse_retry_schedule(x);
    if (!value)
      return "must be a comma-separated list of durations like 5s,5m,2h: " +
             text_of(value.error());
    cfg.*member = std::move(*value);
    return std::nullopt;
  };
  k.from_toml = [k](config& cfg, const toml::node& n) -> problem {
    if (n.is_string())
      return k.from_text(cfg, n.as_string()->get());
    const auto* arr = n.as_array();
    if (arr == nullptr)
      return "must be a string like \"5s,5m,2h\" or an array of duration "
             "strings, got " +
             type_of(n);
    std::string joined;
    for (const auto& item : *arr) {
      if (!item.is_string())
        return "must be an array of duration strings, got " + type_of(item) +
               " in it";
      joined += (joined.empty() ? "" : ",") + item.as_string()->get();
    }
    return k.from_text(cfg, joined);
  };
  k.to_text = [=](const config& cfg) {
    std::string out;
    for (auto x : cfg.*member)
      out += (out.empty() ? "" : ",") + format_duration(x);
    return out;
  };
  return k;
}

/// The options of the HTTP server: address, store, admin token and the
/// limits checked before a request body is read.
void add_server_keys(std::vector<key_spec>& xs) {
  auto non_empty = [](std::string_view x) -> problem {
    if (x.empty())
      return "must not be empty";
    return std::nullopt;
  };
  xs.push_back(string_key(
    "listen", "HOST:PORT to serve HTTP on; port 0 picks a free one",
    &config::listen, [](std::string_view x) -> problem {
      if (parse_listen(x))
        return std::nullopt;
      return "must be HOST:PORT with a port 0-65535, got " + shown(x);
    }));
  xs.back().type_name = "HOST:PORT";
  xs.push_back(string_key("data-dir", "directory of the embedded store",
                          &config::data_dir, non_empty));
  xs.back().type_name = "DIR";
  xs.push_back(string_key(
    "admin-token",
    "admin bearer token (else the one in the store, "
    "else generated on first start)",
    &config::admin_token, [](std::string_view) { return problem{}; }, true));
  xs.back().type_name = "TOKEN";
  xs.push_back(integer_key("max-body-bytes",
                           "largest request body accepted (413 beyond)",
                           &config::max_body_bytes, 1, uint64_t{64} << 20));
  xs.push_back(integer_key("http-threads", "HTTP I/O threads",
                           &config::http_threads, 1, 64));
  xs.push_back(integer_key("max-connections",
                           "open HTTP connections; new ones beyond are "
                           "closed at once",
                           &config::max_connections, 1, 10'000'000));
  xs.push_back(integer_key("max-body-memory-bytes",
                           "memory of request bodies being received; "
                           "beyond, 503 before the body is read",
                           &config::max_body_memory_bytes, 1,
                           uint64_t{1} << 40));
}

/// The options of the store's cadence, deliveries, the breaker and retention.
void add_delivery_keys(std::vector<key_spec>& xs) {
  xs.push_back(integer_key(
    "snapshot-every", "snapshot a tenant after this many of its WAL records",
    &config::snapshot_every, 1, 100'000'000));
  xs.push_back(integer_key("shutdown-grace",
                           "seconds to finish in-flight work and write "
                           "snapshots on SIGTERM/SIGINT",
                           &config::shutdown_grace, 0, 3600));
  xs.push_back(schedule_key("retry-schedule",
                            "delays between delivery attempts (+-20% "
                            "jitter)",
                            &config::retry_schedule));
  xs.push_back(bool_key("allow-private-targets",
                        "allow deliveries to loopback, private and "
                        "link-local addresses (local use and tests only)",
                        &config::allow_private_targets));
  xs.push_back(integer_key("delivery-connect-timeout-ms",
                           "connect timeout of one delivery attempt",
                           &config::delivery_connect_timeout_ms, 1, 600'000));
  xs.push_back(integer_key("delivery-timeout-ms",
                           "total timeout of one delivery attempt",
                           &config::delivery_timeout_ms, 1, 600'000));
  xs.push_back(
    integer_key("max-pending-deliveries",
                "pending deliveries per tenant before publishes get 429",
                &config::max_pending_deliveries, 1, 100'000'000));
  xs.push_back(integer_key("delivery-concurrency",
                           "delivery attempts in flight over all endpoints",
                           &config::delivery_concurrency, 1, 100'000));
  xs.push_back(integer_key("endpoint-concurrency",
                           "delivery attempts in flight per endpoint",
                           &config::endpoint_concurrency, 1, 1'000));
  xs.push_back(integer_key("tenant-concurrency",
                           "delivery attempts under way per tenant",
                           &config::tenant_concurrency, 1, 100'000));
  xs.push_back(integer_key(
    "breaker-failures", "consecutive failed attempts that disable an endpoint",
    &config::breaker_failures, 1, 1'000'000));
  xs.push_back(duration_key("breaker-cooldown",
                            "first wait before probing a disabled "
                            "endpoint (doubles after each failed probe)",
                            &config::breaker_cooldown));
  xs.push_back(duration_key("breaker-max-cooldown",
                            "longest wait between probes",
                            &config::breaker_max_cooldown));
  xs.push_back(duration_key("retention",
                            "pending deliveries older than this fail as "
                            "expired",
                            &config::retention));
  xs.push_back(duration_key("prune-interval",
                            "how often each tenant removes events without "
                            "a pending delivery older than the retention",
                            &config::prune_interval));
}

/// The options of cluster mode (docs/cluster.md).
void add_cluster_keys(std::vector<key_spec>& xs) {
  xs.push_back(string_key(
    "etcd",
    "etcd client URLs, comma-separated; turns cluster mode on (empty: "
    "single node)",
    &config::etcd, [](std::string_view x) -> problem {
      for (const auto& url : split_etcd_urls(x))
        if (!url.starts_with("http://") && !url.starts_with("https://"))
          return "must be http:// or https:// URLs separated by commas, "
                 "got " +
                 shown(x);
      return std::nullopt;
    }));
  xs.back().type_name = "URL[,URL...]";
  xs.push_back(string_key(
    "node-id",
    "this node's id in the cluster (default: the one kept in the data "
    "directory)",
    &config::node_id, [](std::string_view x) -> problem {
      auto ok = x.size() <= 64 && std::all_of(x.begin(), x.end(), [](char c) {
                  return std::isalnum(static_cast<unsigned char>(c)) ||
                         c == '_' || c == '-' || c == '.';
                });
      if (ok)
        return std::nullopt;
      return "must be at most 64 letters, digits, '_', '-' or '.', got " +
             shown(x);
    }));
  xs.back().type_name = "NAME";
  xs.push_back(string_key(
    "peer-listen",
    "HOST:PORT for node-to-node traffic in cluster mode; port 0 picks a "
    "free one",
    &config::peer_listen, [](std::string_view x) -> problem {
      if (parse_listen(x))
        return std::nullopt;
      return "must be HOST:PORT with a port 0-65535, got " + shown(x);
    }));
  xs.back().type_name = "HOST:PORT";
  xs.push_back(string_key(
    "advertise-host",
    "host other nodes and clients reach this node at (default: the host "
    "of --listen; needed where it is a wildcard)",
    &config::advertise_host, [](std::string_view x) -> problem {
      if (x.find_first_of(" /,") == std::string_view::npos)
        return std::nullopt;
      return "must be a host name or address, got " + shown(x);
    }));
  xs.back().type_name = "HOST";
  xs.push_back(duration_key("lease-ttl",
                            "TTL of the node's etcd lease in cluster mode "
                            "(whole seconds, 2s to 60s)",
                            &config::lease_ttl));
  refine_duration(
    xs.back(),
    [](config& cfg, std::string_view x, const auto& parse) -> problem {
      config scratch;
      if (auto why = parse(scratch, x))
        return why;
      auto v = scratch.lease_ttl;
      if (v < std::chrono::seconds{2} || v > std::chrono::seconds{60} ||
          v % std::chrono::seconds{1} != milliseconds{0})
        return "must be whole seconds from 2s to 60s, got " + shown(x);
      cfg.lease_ttl = v;
      return std::nullopt;
    });
  xs.push_back(duration_key("drain-grace",
                            "cluster mode: on SIGTERM/SIGINT, how long to "
                            "move this node's tenants to the others before "
                            "stopping (0s: no drain)",
                            &config::drain_grace));
  // A duration, or zero (no drain), which durations elsewhere refuse.
  refine_duration(
    xs.back(),
    [](config& cfg, std::string_view x, const auto& parse) -> problem {
      if (x == "0" || x == "0s" || x == "0ms") {
        cfg.drain_grace = milliseconds{0};
        return std::nullopt;
      }
      return parse(cfg, x);
    });
}

/// The per-tenant limits, metrics and logging options.
void add_limit_and_log_keys(std::vector<key_spec>& xs) {
  // -- per-tenant limits (issue 13), in `limit_kind` order; the ranges are
  // the admin API's.
  struct limit_option {
    std::string_view name;
    std::string_view help;
    uint64_t config::*member;
  };
  static constexpr std::array<limit_option, 4> limit_options{{
    {"tenant-max-endpoints", "endpoints per tenant (422 beyond; 0: no limit)",
     &config::tenant_max_endpoints},
    {"tenant-max-stored-bytes",
     "bytes of stored event payloads per tenant (429 beyond; 0: no limit)",
     &config::tenant_max_stored_bytes},
    {"tenant-publish-rate",
     "publishes per second per tenant (429 beyond; 0: no limit)",
     &config::tenant_publish_rate},
    {"tenant-publish-burst",
     "publishes per tenant at once after a quiet period",
     &config::tenant_publish_burst},
  }};
  for (size_t i = 0; i < limit_options.size(); ++i) {
    const auto& o = limit_options[i];
    xs.push_back(integer_key(o.name, o.help, o.member, limit_ranges[i].min,
                             limit_ranges[i].max));
  }
  xs.push_back(bool_key("metrics-public",
                        "serve GET /metrics without the admin token",
                        &config::metrics_public));
  xs.push_back(choice_key("log-format", "log line format on stderr",
                          &config::log_format, {"text", "json"}));
  xs.push_back(choice_key("log-level", "least severe level logged",
                          &config::log_level,
                          {"trace", "debug", "info", "warn", "error", "off"}));
}

/// Every option of the file, the environment and `--print-config`, in
/// documentation order.
const std::vector<key_spec>& specs() {
  static const std::vector<key_spec> result = [] {
    std::vector<key_spec> xs;
    add_server_keys(xs);
    add_delivery_keys(xs);
    add_cluster_keys(xs);
    add_limit_and_log_keys(xs);
    return xs;
  }();
  return result;
}

const key_spec* find_spec(std::string_view name) {
  for (const auto& k : specs())
    if (k.name == name)
      return &k;
  return nullptr;
}

/// The message of a refused value: never the value of a secret (the rules
/// put the value last, after ", got ").
std::string refusal(const key_spec& k, const std::string& why) {
  if (k.secret)
    return why.substr(0, why.find(", got ")) +
           " (the value is not shown: it is a secret)";
  return why;
}

/// Applies the TOML file at `path`; appends one message per problem.
void apply_file(const std::string& path, config& cfg, config_sources& sources,
                std::vector<std::string>& errors) {
  auto where = "config file '" + path + "'";
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << where;
    if (e.source().begin.line > 0)
      msg << " line " << e.source().begin.line << ", column "
          << e.source().begin.column;
    msg << ": " << e.description();
    errors.push_back(msg.str());
    return;
  }
  // The table is sorted by key: report in file order.
  std::vector<std::pair<uint32_t, std::string>> found;
  for (const auto& [key, node] : doc) {
    auto line_no = node.source().begin.line;
    auto line = where;
    if (line_no > 0)
      line += " line " + std::to_string(line_no);
    const auto* k = find_spec(key.str());
    if (k == nullptr) {
      std::string hint;
      std::string dashed{key.str()};
      std::replace(dashed.begin(), dashed.end(), '_', '-');
      if (find_spec(dashed) != nullptr)
        hint = " (did you mean '" + dashed + "'? keys use dashes)";
      found.emplace_back(line_no,
                         line + ": unknown key " + shown(key.str()) + hint);
      continue;
    }
    if (auto why = k->from_toml(cfg, node))
      found.emplace_back(line_no, line + ": '" + std::string{k->name} + "' " +
                                    refusal(*k, *why));
    else
      sources[std::string{k->name}] = config_source::file;
  }
  std::stable_sort(
    found.begin(), found.end(),
    [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& x : found)
    errors.push_back(std::move(x.second));
}

/// Applies the `WEBHOOK_INGRESS_*` variables; appends one message per
/// problem.
void apply_env(const environment& env, config& cfg, config_sources& sources,
               std::vector<std::string>& errors) {
  for (const auto& [name, value] : env) {
    if (!name.starts_with(env_prefix) || name == config_env ||
        name.starts_with(test_env_prefix))
      continue;
    const key_spec* k = nullptr;
    for (const auto& spec : specs())
      if (env_name(spec.name) == name)
        k = &spec;
    if (k == nullptr) {
      errors.push_back("unknown environment variable " + name +
                       " (each option X is WEBHOOK_INGRESS_X, upper case, "
                       "underscores: see --print-config for the options)");
      continue;
    }
    if (auto why = k->from_text(cfg, value))
      errors.push_back("environment variable " + name + " ('" +
                       std::string{k->name} + "') " + refusal(*k, *why));
    else
      sources[std::string{k->name}] = config_source::env;
  }
}

void report(std::ostream& err, const std::vector<std::string>& errors) {
  for (const auto& e : errors)
    err << "webhook-ingress: " << e << '\n';
}

} // namespace

std::string_view to_string(config_source x) noexcept {
  switch (x) {
  case config_source::file:
    return "file";
  case config_source::env:
    return "env";
  case config_source::flag:
    return "flag";
  default:
    return "default";
  }
}

environment process_environment() {
  environment result;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry{*e};
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || !entry.starts_with(env_prefix))
      continue;
    result.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return result;
}

const std::vector<std::string_view>& config_keys() {
  static const std::vector<std::string_view> result = [] {
    std::vector<std::string_view> xs;
    for (const auto& k : specs())
      xs.push_back(k.name);
    return xs;
  }();
  return result;
}

std::string env_name(std::string_view key) {
  std::string out{env_prefix};
  for (char c : key)
    out += c == '-'
             ? '_'
             : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::pair<std::string, uint16_t>>
parse_listen(std::string_view x) {
  auto colon = x.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == x.size())
    return std::nullopt;
  auto host = x.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port_text = x.substr(colon + 1);
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(port_text.data(),
                                   port_text.data() + port_text.size(), port);
  if (host.empty() || port_text.size() > 5 || ec != std::errc{} ||
      end != port_text.data() + port_text.size() || port > 65535)
    return std::nullopt;
  return std::make_pair(std::string{host}, static_cast<uint16_t>(port));
}

std::vector<std::string> split_etcd_urls(std::string_view x) {
  std::vector<std::string> result;
  size_t pos = 0;
  while (pos <= x.size()) {
    auto comma = x.find(',', pos);
    auto item =
      x.substr(pos, comma == std::string_view::npos ? std::string_view::npos
                                                    : comma - pos);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (!item.empty())
      result.emplace_back(item);
    if (comma == std::string_view::npos)
      break;
    pos = comma + 1;
  }
  return result;
}

std::string format_duration(milliseconds x) {
  auto ms = x.count();
  if (ms != 0 && ms % 3'600'000 == 0)
    return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0)
    return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_config(const config& cfg, const config_sources& sources) {
  std::string out =
    "# webhook-ingress " WI_VERSION " effective configuration.\n"
    "# Precedence: defaults < config file < WEBHOOK_INGRESS_* < flags.\n";
  for (const auto& k : specs()) {
    auto src = sources.find(k.name);
    auto from = src == sources.end() ? config_source::defaults : src->second;
    auto value = k.to_text(cfg);
    if (k.secret) {
      out += "# " + std::string{k.name} +
             (value.empty() ? std::string{" is not set"}
                            : " is set (" + std::string{to_string(from)} +
                                "); the value is not shown") +
             "\n";
      continue;
    }
    out +=
      std::string{k.name} + " = " + (k.quoted ? toml_string(value) : value);
    if (from != config_source::defaults)
      out += "  # " + std::string{to_string(from)};
    out += '\n';
  }
  return out;
}

config_load load_config(const std::vector<std::string>& args,
                        const environment& env, std::ostream& out,
                        std::ostream& err) {
  config_load result;
  const config defaults;
  CLI::App app{"webhook-ingress: multi-tenant webhook service.\n"
               "Every option can also come from a TOML file (--config) or "
               "the environment (WEBHOOK_INGRESS_<OPTION>);\n"
               "precedence: defaults < file < environment < flags."};
  app.name("webhook-ingress");
  app.set_version_flag("--version",
                       std::string{"webhook-ingress "} + WI_VERSION);
  std::string config_file;
  app
    .add_option("--config", config_file,
                "TOML file of options (keys as the flags without --); else "
                "env WEBHOOK_INGRESS_CONFIG")
    ->type_name("FILE");
  bool print = false;
  app.add_flag("--print-config", print,
               "print the effective configuration as TOML (secrets "
               "redacted) and exit");
  // Flag values are kept as text and converted like environment values.
  std::map<std::string_view, std::string> texts;
  std::map<std::string_view, bool> bools;
  std::vector<std::pair<const key_spec*, CLI::Option*>> flags;
  for (const auto& k : specs()) {
    auto name = "--" + std::string{k.name};
    std::string help{k.help};
    CLI::Option* opt = nullptr;
    if (k.boolean) {
      opt = app.add_flag(name, bools[k.name], help);
    } else {
      opt = app.add_option(name, texts[k.name], help);
      opt->type_name(std::string{k.type_name});
      if (!k.secret)
        opt->default_str(k.to_text(defaults));
    }
    flags.emplace_back(&k, opt);
  }
  size_t wal_max_batch = defaults.wal_max_batch;
  app
    .add_option("--wal-max-batch", wal_max_batch,
                "benchmark only: most records per synced WAL batch")
    ->check(CLI::Range(size_t{1}, size_t{65536}))
    ->group(""); // hidden from --help
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      result.exit_code = app.exit(e, out, err);
    } else {
      err << "webhook-ingress: " << e.what() << "\nRun with --help for more "
          << "information.\n";
      result.exit_code = e.get_exit_code();
    }
    return result;
  }

  std::vector<std::string> errors;
  auto& cfg = result.cfg;
  if (app.count("--config") == 0)
    if (auto i = env.find(config_env); i != env.end())
      config_file = i->second;
  if (app.count("--config") > 0 && config_file.empty())
    errors.emplace_back("--config must name a file");
  if (!config_file.empty())
    apply_file(config_file, cfg, result.sources, errors);
  apply_env(env, cfg, result.sources, errors);
  for (const auto& [k, opt] : flags) {
    if (opt->count() == 0)
      continue;
    auto why = k->boolean ? k->from_text(cfg, bools[k->name] ? "true" : "false")
                          : k->from_text(cfg, texts[k->name]);
    if (why)
      errors.push_back("--" + std::string{k->name} + " " + refusal(*k, *why));
    else
      result.sources[std::string{k->name}] = config_source::flag;
  }
  cfg.wal_max_batch = wal_max_batch;
  if (!errors.empty()) {
    report(err, errors);
    result.exit_code = EXIT_FAILURE;
    return result;
  }
  if (print) {
    out << format_config(cfg, result.sources) << std::flush;
    result.exit_code = EXIT_SUCCESS;
  }
  return result;
}

} // namespace wi
