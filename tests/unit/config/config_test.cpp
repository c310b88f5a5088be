// Configuration layers: defaults < TOML file < WEBHOOK_INGRESS_* < flags,
// errors that name the key, and redaction of secrets.

#include "config.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

using namespace wi;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// The repository's example file, under `$WI_SOURCE_DIR` (set by ctest).
fs::path example_file() {
  const char* root = std::getenv("WI_SOURCE_DIR");
  if (root == nullptr)
    throw std::runtime_error("WI_SOURCE_DIR is not set (ctest sets it)");
  return fs::path{root} / "webhook-ingress.example.toml";
}

/// A TOML file in a fresh temporary directory, removed afterwards.
class temp_file {
 public:
  explicit temp_file(const std::string& content) {
    std::string tmpl = "/tmp/wi-config-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::ofstream{path()} << content;
  }
  ~temp_file() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  fs::path path() const { return dir_ / "config.toml"; }

 private:
  fs::path dir_;
};

/// One `load_config` call with its output.
struct run {
  config_load result;
  std::string out;
  std::string err;

  bool ok() const { return !result.exit_code.has_value(); }
  int code() const { return result.exit_code.value_or(-1); }
};

run load(const std::vector<std::string>& args, const environment& env = {}) {
  std::ostringstream out;
  std::ostringstream err;
  run r;
  r.result = load_config(args, env, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

/// Loads with `content` as the config file.
run load_file(const std::string& content, std::vector<std::string> args = {},
              const environment& env = {}) {
  temp_file file{content};
  args.insert(args.begin(), {"--config", file.path().string()});
  return load(args, env);
}

/// Expects a failed load whose message names `what`.
void expect_error(const run& r, const std::string& what) {
  EXPECT_FALSE(r.ok()) << r.out;
  EXPECT_NE(r.code(), 0);
  EXPECT_NE(r.err.find(what), std::string::npos)
    << "message does not name '" << what << "':\n"
    << r.err;
  EXPECT_EQ(r.err.rfind("webhook-ingress: ", 0), 0u) << r.err;
}

} // namespace

TEST(config, defaults_apply_without_file_env_or_flags) {
  auto r = load({});
  ASSERT_TRUE(r.ok()) << r.err;
  const auto& c = r.result.cfg;
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.admin_token, "");
  EXPECT_EQ(c.max_body_bytes, size_t{1} << 20);
  EXPECT_EQ(c.http_threads, 2u);
  EXPECT_EQ(c.retry_schedule, default_retry_schedule());
  EXPECT_EQ(c.breaker_cooldown, 60s);
  EXPECT_EQ(c.retention, 168h);
  EXPECT_EQ(c.prune_interval, 60s);
  EXPECT_EQ(c.log_format, "text");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.wal_max_batch, 1024u);
  EXPECT_TRUE(r.result.sources.empty());
}

TEST(config, file_overrides_defaults) {
  auto r = load_file(R"(
listen = "0.0.0.0:9000"
http-threads = 4
retry-schedule = ["1s", "2m"]
allow-private-targets = true
breaker-cooldown = "90s"
log-format = "json"
)");
  ASSERT_TRUE(r.ok()) << r.err;
  const auto& c = r.result.cfg;
  EXPECT_EQ(c.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.http_threads, 4u);
  EXPECT_EQ(c.retry_schedule,
            (std::vector<std::chrono::milliseconds>{1s, 2min}));
  EXPECT_TRUE(c.allow_private_targets);
  EXPECT_EQ(c.breaker_cooldown, 90s);
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.data_dir, "./data"); // untouched key keeps its default
  EXPECT_EQ(r.result.sources.at("http-threads"), config_source::file);
  EXPECT_EQ(r.result.sources.count("data-dir"), 0u);
}

TEST(config, precedence_is_file_then_env_then_flag_key_by_key) {
  auto r = load_file(R"(
http-threads = 3
snapshot-every = 111
max-body-bytes = 1000
data-dir = "/from/file"
)",
                     {"--max-body-bytes", "3000"},
                     {{"WEBHOOK_INGRESS_SNAPSHOT_EVERY", "222"},
                      {"WEBHOOK_INGRESS_MAX_BODY_BYTES", "2000"},
                      {"WEBHOOK_INGRESS_LOG_LEVEL", "warn"},
                      {"UNRELATED_VARIABLE", "ignored"}});
  ASSERT_TRUE(r.ok()) << r.err;
  const auto& c = r.result.cfg;
  const auto& s = r.result.sources;
  EXPECT_EQ(c.http_threads, 3u); // file only
  EXPECT_EQ(s.at("http-threads"), config_source::file);
  EXPECT_EQ(c.snapshot_every, 222u); // env beats file
  EXPECT_EQ(s.at("snapshot-every"), config_source::env);
  EXPECT_EQ(c.max_body_bytes, 3000u); // flag beats env and file
  EXPECT_EQ(s.at("max-body-bytes"), config_source::flag);
  EXPECT_EQ(c.log_level, "warn"); // env only
  EXPECT_EQ(c.data_dir, "/from/file");
  EXPECT_EQ(c.endpoint_concurrency, 8u); // default
}

TEST(config, admin_token_comes_from_env_unless_a_flag_sets_it) {
  environment env{{"WEBHOOK_INGRESS_ADMIN_TOKEN", "from-env"}};
  auto r = load_file("admin-token = \"from-file\"\n", {}, env);
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.result.cfg.admin_token, "from-env");
  auto f = load_file("admin-token = \"from-file\"\n",
                     {"--admin-token", "from-flag"}, env);
  ASSERT_TRUE(f.ok()) << f.err;
  EXPECT_EQ(f.result.cfg.admin_token, "from-flag");
}

TEST(config, config_file_may_come_from_the_environment) {
  temp_file file{"http-threads = 7\n"};
  auto r = load({}, {{"WEBHOOK_INGRESS_CONFIG", file.path().string()}});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.result.cfg.http_threads, 7u);
  // --config wins over the variable.
  temp_file other{"http-threads = 9\n"};
  auto f = load({"--config", other.path().string()},
                {{"WEBHOOK_INGRESS_CONFIG", file.path().string()}});
  ASSERT_TRUE(f.ok()) << f.err;
  EXPECT_EQ(f.result.cfg.http_threads, 9u);
}

TEST(config, booleans_from_env_and_flags) {
  auto r = load({}, {{"WEBHOOK_INGRESS_ALLOW_PRIVATE_TARGETS", "true"}});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_TRUE(r.result.cfg.allow_private_targets);
  auto f = load({"--allow-private-targets=false"},
                {{"WEBHOOK_INGRESS_ALLOW_PRIVATE_TARGETS", "1"}});
  ASSERT_TRUE(f.ok()) << f.err;
  EXPECT_FALSE(f.result.cfg.allow_private_targets);
  auto g = load({"--allow-private-targets"});
  ASSERT_TRUE(g.ok()) << g.err;
  EXPECT_TRUE(g.result.cfg.allow_private_targets);
  expect_error(load({}, {{"WEBHOOK_INGRESS_ALLOW_PRIVATE_TARGETS", "maybe"}}),
               "WEBHOOK_INGRESS_ALLOW_PRIVATE_TARGETS");
}

TEST(config, wal_max_batch_is_a_flag_only) {
  auto r = load({"--wal-max-batch", "1"});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.result.cfg.wal_max_batch, 1u);
  expect_error(load({}, {{"WEBHOOK_INGRESS_WAL_MAX_BATCH", "1"}}),
               "WEBHOOK_INGRESS_WAL_MAX_BATCH");
  expect_error(load_file("wal-max-batch = 1\n"), "wal-max-batch");
}

TEST(config, unknown_file_key_is_an_error_naming_it) {
  auto r = load_file("http-threads = 2\nno-such-key = 1\n");
  expect_error(r, "no-such-key");
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  // Underscores are not the documented spelling; the message says so.
  auto u = load_file("data_dir = \"/x\"\n");
  expect_error(u, "data_dir");
  EXPECT_NE(u.err.find("did you mean 'data-dir'"), std::string::npos) << u.err;
  // Tables are not part of the format.
  expect_error(load_file("[server]\nlisten = \"127.0.0.1:1\"\n"), "server");
}

TEST(config, unknown_environment_variable_is_an_error_naming_it) {
  expect_error(load({}, {{"WEBHOOK_INGRESS_NO_SUCH_OPTION", "1"}}),
               "WEBHOOK_INGRESS_NO_SUCH_OPTION");
}

TEST(config, test_only_fault_hooks_are_not_options) {
  auto r = load({}, {{"WEBHOOK_INGRESS_TEST_CRASH_AT", "move:frozen:old"}});
  EXPECT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(config, bad_values_in_the_file_are_errors_naming_the_key) {
  struct bad_case {
    std::string toml;
    std::string key;
  };
  std::vector<bad_case> cases{
    {"http-threads = \"many\"", "http-threads"},         // wrong type
    {"http-threads = 0", "http-threads"},                // below range
    {"max-body-bytes = 999999999999", "max-body-bytes"}, // above range
    {"snapshot-every = -1", "snapshot-every"},
    {"shutdown-grace = 1.5", "shutdown-grace"},
    {"retention = \"5 weeks\"", "retention"},      // bad duration
    {"breaker-cooldown = 60", "breaker-cooldown"}, // duration as integer
    {"breaker-max-cooldown = \"8d\"", "breaker-max-cooldown"},
    {"retry-schedule = \"5s,,5m\"", "retry-schedule"},
    {"retry-schedule = [5, 10]", "retry-schedule"},
    {"allow-private-targets = \"yes\"", "allow-private-targets"},
    {"listen = \"localhost\"", "listen"},
    {"listen = \"127.0.0.1:70000\"", "listen"},
    {"data-dir = \"\"", "data-dir"},
    {"log-format = \"xml\"", "log-format"},
    {"log-level = \"verbose\"", "log-level"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.toml);
    expect_error(load_file(c.toml + "\n"), "'" + c.key + "'");
  }
}

TEST(config, bad_values_in_env_and_flags_are_errors_naming_them) {
  expect_error(load({}, {{"WEBHOOK_INGRESS_HTTP_THREADS", "lots"}}),
               "WEBHOOK_INGRESS_HTTP_THREADS");
  expect_error(load({}, {{"WEBHOOK_INGRESS_BREAKER_COOLDOWN", "soon"}}),
               "WEBHOOK_INGRESS_BREAKER_COOLDOWN");
  expect_error(load({"--http-threads", "65"}), "--http-threads");
  expect_error(load({"--retention", "1y"}), "--retention");
  expect_error(load({"--log-format", "yaml"}), "--log-format");
  expect_error(load({"--no-such-flag"}), "--no-such-flag");
}

// Found by tests/fuzz/config.cpp: a data dir of bytes that are not UTF-8
// (a valid Linux path) was accepted from the environment, and then
// --print-config wrote a file that TOML cannot read back.
TEST(config, text_values_must_be_utf8_so_print_config_loads_back) {
  expect_error(load({}, {{"WEBHOOK_INGRESS_DATA_DIR", "/var/lib/wi-\xff"}}),
               "WEBHOOK_INGRESS_DATA_DIR");
  expect_error(load({"--data-dir", "/tmp/\xC3"}), "--data-dir");
  expect_error(load({"--admin-token", "tok\xED\xA0\x80"
                                      "en"}),
               "--admin-token");
  expect_error(load({"--listen", "\xF5:80"}), "--listen");
  auto ok = load({"--data-dir", "/tmp/d\xC3\xA9j\xC3\xA0-\xF0\x9F\x9A\x80"});
  ASSERT_TRUE(ok.ok()) << ok.err;
  EXPECT_EQ(ok.result.cfg.data_dir, "/tmp/d\xC3\xA9j\xC3\xA0-\xF0\x9F\x9A\x80");
  auto printed = load({"--print-config"},
                      {{"WEBHOOK_INGRESS_DATA_DIR", "/tmp/\xE6\x9D\xB1"}});
  auto back = load_file(printed.out);
  ASSERT_TRUE(back.ok()) << back.err;
  EXPECT_EQ(back.result.cfg.data_dir, "/tmp/\xE6\x9D\xB1");
}

TEST(config, every_layer_is_checked_even_when_a_later_one_overrides) {
  expect_error(load_file("http-threads = 0\n", {"--http-threads", "2"}),
               "'http-threads'");
  expect_error(
    load({"--http-threads", "2"}, {{"WEBHOOK_INGRESS_HTTP_THREADS", "zero"}}),
    "WEBHOOK_INGRESS_HTTP_THREADS");
}

TEST(config, malformed_or_missing_file_is_an_error_naming_it) {
  auto r = load_file("http-threads = \n");
  expect_error(r, "config.toml");
  EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
  expect_error(load({"--config", "/nonexistent/wi.toml"}),
               "/nonexistent/wi.toml");
}

TEST(config, print_config_redacts_the_admin_token) {
  const std::string secret = "sup3r-s3cret-admin-t0ken";
  for (auto [args, env] :
       std::vector<std::pair<std::vector<std::string>, environment>>{
         {{"--admin-token", secret, "--print-config"}, {}},
         {{"--print-config"}, {{"WEBHOOK_INGRESS_ADMIN_TOKEN", secret}}}}) {
    auto r = load(args, env);
    EXPECT_EQ(r.code(), 0) << r.err;
    EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("admin-token is set"), std::string::npos) << r.out;
  }
  auto from_file =
    load_file("admin-token = \"" + secret + "\"\n", {"--print-config"});
  EXPECT_EQ(from_file.code(), 0) << from_file.err;
  EXPECT_EQ(from_file.out.find(secret), std::string::npos) << from_file.out;
  EXPECT_NE(from_file.out.find("admin-token is set (file)"), std::string::npos)
    << from_file.out;
  config c;
  c.admin_token = secret;
  EXPECT_EQ(format_config(c).find(secret), std::string::npos);
  c.admin_token.clear();
  EXPECT_NE(format_config(c).find("admin-token is not set"), std::string::npos);
}

TEST(config, errors_about_a_secret_never_show_its_value) {
  auto r = load_file("admin-token = 123456789\n");
  expect_error(r, "'admin-token'");
  EXPECT_EQ(r.err.find("123456789"), std::string::npos) << r.err;
}

TEST(config, print_config_shows_sources_and_loads_back_identically) {
  auto r = load_file("http-threads = 5\nretention = \"36h\"\n",
                     {"--print-config", "--listen", "[::1]:0"},
                     {{"WEBHOOK_INGRESS_DATA_DIR", "/var/lib/\"wi\"\\x"}});
  ASSERT_EQ(r.code(), 0) << r.err;
  EXPECT_NE(r.out.find("http-threads = 5  # file\n"), std::string::npos)
    << r.out;
  EXPECT_NE(r.out.find("retention = \"36h\"  # file\n"), std::string::npos)
    << r.out;
  EXPECT_NE(r.out.find("listen = \"[::1]:0\"  # flag\n"), std::string::npos)
    << r.out;
  EXPECT_NE(r.out.find("# env\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("endpoint-concurrency = 8\n"), std::string::npos)
    << r.out;
  EXPECT_EQ(r.out.find("wal-max-batch"), std::string::npos) << r.out;
  auto back = load_file(r.out);
  ASSERT_TRUE(back.ok()) << back.err << "\n" << r.out;
  EXPECT_EQ(back.result.cfg.data_dir, "/var/lib/\"wi\"\\x");
  EXPECT_EQ(back.result.cfg.listen, "[::1]:0");
  EXPECT_EQ(format_config(back.result.cfg), format_config(r.result.cfg));
}

TEST(config, example_file_documents_every_key_with_its_default) {
  std::ifstream in{example_file()};
  ASSERT_TRUE(in) << example_file();
  std::stringstream text;
  text << in.rdbuf();
  for (auto key : config_keys()) {
    SCOPED_TRACE(std::string{key});
    // Set (or, for the secret, shown commented out) at the start of a line.
    auto set = text.str().find("\n" + std::string{key} + " = ");
    auto commented = text.str().find("\n# " + std::string{key} + " = ");
    EXPECT_TRUE(set != std::string::npos || commented != std::string::npos);
  }
  auto r = load({"--config", example_file().string()});
  ASSERT_TRUE(r.ok()) << r.err;
  // Every value in the example is the built-in default.
  EXPECT_EQ(format_config(r.result.cfg), format_config(config{}));
}

TEST(config, help_and_version_exit_zero) {
  auto h = load({"--help"});
  EXPECT_EQ(h.code(), 0);
  for (auto key : config_keys())
    EXPECT_NE(h.out.find("--" + std::string{key}), std::string::npos) << key;
  EXPECT_NE(h.out.find("--config"), std::string::npos);
  EXPECT_NE(h.out.find("--print-config"), std::string::npos);
  EXPECT_EQ(h.out.find("--wal-max-batch"), std::string::npos);
  auto v = load({"--version"});
  EXPECT_EQ(v.code(), 0);
  EXPECT_NE(v.out.find(WI_VERSION), std::string::npos) << v.out;
}

TEST(config, env_names_and_durations) {
  EXPECT_EQ(env_name("data-dir"), "WEBHOOK_INGRESS_DATA_DIR");
  EXPECT_EQ(env_name("delivery-connect-timeout-ms"),
            "WEBHOOK_INGRESS_DELIVERY_CONNECT_TIMEOUT_MS");
  EXPECT_EQ(format_duration(168h), "168h");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(5min), "5m");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(parse_listen("[::1]:80"),
            std::make_pair(std::string{"::1"}, uint16_t{80}));
  EXPECT_FALSE(parse_listen(":80"));
  EXPECT_FALSE(parse_listen("host:"));
  EXPECT_FALSE(parse_listen("host:+80"));
}

TEST(config, cluster_options) {
  auto d = load({});
  ASSERT_TRUE(d.ok()) << d.err;
  EXPECT_EQ(d.result.cfg.etcd, "");
  EXPECT_EQ(d.result.cfg.node_id, "");
  EXPECT_EQ(d.result.cfg.peer_listen, "127.0.0.1:0");
  EXPECT_EQ(d.result.cfg.advertise_host, "");
  EXPECT_EQ(d.result.cfg.lease_ttl, 5s);
  auto r = load({"--etcd", "http://127.0.0.1:2379, http://127.0.0.1:2380",
                 "--node-id", "n-1.a_b", "--peer-listen", "0.0.0.0:7000",
                 "--advertise-host", "10.0.0.5", "--lease-ttl", "2s"});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(split_etcd_urls(r.result.cfg.etcd),
            (std::vector<std::string>{"http://127.0.0.1:2379",
                                      "http://127.0.0.1:2380"}));
  EXPECT_EQ(r.result.cfg.node_id, "n-1.a_b");
  EXPECT_EQ(r.result.cfg.peer_listen, "0.0.0.0:7000");
  EXPECT_EQ(r.result.cfg.advertise_host, "10.0.0.5");
  EXPECT_EQ(r.result.cfg.lease_ttl, 2s);
  auto bad_url = load({"--etcd", "127.0.0.1:2379"});
  EXPECT_EQ(bad_url.code(), 1);
  EXPECT_NE(bad_url.err.find("etcd"), std::string::npos) << bad_url.err;
  EXPECT_NE(bad_url.err.find("http://"), std::string::npos) << bad_url.err;
  auto bad_id = load({"--node-id", "a b"});
  EXPECT_EQ(bad_id.code(), 1);
  EXPECT_NE(bad_id.err.find("node-id"), std::string::npos) << bad_id.err;
  auto bad_peer = load({"--peer-listen", "7000"});
  EXPECT_EQ(bad_peer.code(), 1);
  EXPECT_NE(bad_peer.err.find("peer-listen"), std::string::npos);
  auto not_duration = load({"--lease-ttl", "soon"});
  EXPECT_EQ(not_duration.code(), 1);
  EXPECT_NE(not_duration.err.find("lease-ttl"), std::string::npos);
  for (auto ttl : {"1s", "61s", "2500ms"}) {
    auto bad_ttl = load({"--lease-ttl", ttl});
    EXPECT_EQ(bad_ttl.code(), 1) << ttl;
    EXPECT_NE(bad_ttl.err.find("lease-ttl"), std::string::npos) << bad_ttl.err;
    EXPECT_NE(bad_ttl.err.find("whole seconds from 2s to 60s"),
              std::string::npos)
      << bad_ttl.err;
  }
  auto env = load({}, {{"WEBHOOK_INGRESS_LEASE_TTL", "3s"},
                       {"WEBHOOK_INGRESS_ETCD", "http://e:2379"}});
  ASSERT_TRUE(env.ok()) << env.err;
  EXPECT_EQ(env.result.cfg.lease_ttl, 3s);
  EXPECT_EQ(env.result.cfg.etcd, "http://e:2379");
  auto file = load_file("lease-ttl = \"4s\"\nnode-id = \"x\"\n");
  ASSERT_TRUE(file.ok()) << file.err;
  EXPECT_EQ(file.result.cfg.lease_ttl, 4s);
  EXPECT_EQ(file.result.cfg.node_id, "x");
  auto wrong_type = load_file("lease-ttl = 4\n");
  EXPECT_FALSE(wrong_type.ok());
  // The drain before a stop: flag, environment, file.
  EXPECT_EQ(d.result.cfg.drain_grace, 30s);
  EXPECT_EQ(load({"--drain-grace", "5s"}).result.cfg.drain_grace, 5s);
  EXPECT_EQ(
    load({}, {{"WEBHOOK_INGRESS_DRAIN_GRACE", "0s"}}).result.cfg.drain_grace,
    0s);
  EXPECT_EQ(load_file("drain-grace = \"2m\"\n").result.cfg.drain_grace, 2min);
  auto bad_grace = load({"--drain-grace", "soon"});
  EXPECT_EQ(bad_grace.code(), 1);
  EXPECT_NE(bad_grace.err.find("drain-grace"), std::string::npos);
}

TEST(config, connection_and_body_memory_limits_in_every_layer) {
  auto defaults = load({});
  ASSERT_TRUE(defaults.ok()) << defaults.err;
  EXPECT_EQ(defaults.result.cfg.max_connections, 10'000u);
  EXPECT_EQ(defaults.result.cfg.max_body_memory_bytes, uint64_t{64} << 20);

  auto r = load_file("max-connections = 500\nmax-body-memory-bytes = 4096\n",
                     {"--max-connections", "700"},
                     {{"WEBHOOK_INGRESS_MAX_BODY_MEMORY_BYTES", "8192"}});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.result.cfg.max_connections, 700u);
  EXPECT_EQ(r.result.sources.at("max-connections"), config_source::flag);
  EXPECT_EQ(r.result.cfg.max_body_memory_bytes, 8192u);
  EXPECT_EQ(r.result.sources.at("max-body-memory-bytes"), config_source::env);

  expect_error(load({"--max-connections", "0"}), "--max-connections");
  expect_error(load({}, {{"WEBHOOK_INGRESS_MAX_BODY_MEMORY_BYTES", "0"}}),
               "max-body-memory-bytes");
}
