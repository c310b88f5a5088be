// Operations: the configuration layers (TOML file < WEBHOOK_INGRESS_* <
// flags) and the logs (JSON format, access lines, no secrets) of the real
// binary.

#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/assertions.hpp"
#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/receiver.hpp"
#include "support/server_process.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

/// Runs the server binary with `args` (at most 10 s).
run_result run_server(std::vector<std::string> args,
                      const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), server_binary().string());
  return run_to_exit(args, 10s, env);
}

std::string describe(const run_result& r) {
  return (r.timed_out ? std::string{"timed out"}
                      : describe_wait_status(r.status)) +
         "\n--- stdout ---\n" + r.out + "\n--- stderr ---\n" + r.err;
}

fs::path write_file(const fs::path& path, const std::string& content) {
  std::ofstream{path} << content;
  return path;
}

/// `webhook-ingress.example.toml` at the repository root.
fs::path example_file() {
  return wi_e2e::source_dir() / "webhook-ingress.example.toml";
}

/// The `key = value` lines of a `--print-config` output, value without the
/// trailing `# source` comment.
std::map<std::string, std::string> printed_values(const std::string& out) {
  std::map<std::string, std::string> values;
  std::istringstream in{out};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto eq = line.find(" = ");
    if (eq == std::string::npos)
      continue;
    auto value = line.substr(eq + 3);
    if (auto comment = value.find("  # "); comment != std::string::npos)
      value.resize(comment);
    values[line.substr(0, eq)] = value;
  }
  return values;
}

/// The source comment of `key` in a `--print-config` output, or "".
std::string printed_source(const std::string& out, const std::string& key) {
  std::istringstream in{out};
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(key + " = ")) {
      auto comment = line.find("  # ");
      return comment == std::string::npos ? "" : line.substr(comment + 4);
    }
  return "";
}

/// Expects a prompt non-zero exit whose stderr names `what`, without the
/// server having started.
void expect_rejected_naming(const run_result& r, const std::string& what) {
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_TRUE(r.exited()) << describe(r);
  EXPECT_NE(r.exit_code(), 0) << describe(r);
  EXPECT_NE(r.err.find(what), std::string::npos)
    << "stderr does not name " << what << "\n"
    << describe(r);
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << describe(r);
}

} // namespace

TEST(ops_config, print_config_shows_file_then_env_then_flag_precedence) {
  temp_dir dir;
  auto file = write_file(dir.path() / "wi.toml", R"(
http-threads = 3
snapshot-every = 111
max-body-bytes = 1000
breaker-cooldown = "2m"
data-dir = "/from/the/file"
)");
  auto data_dir = dir.path() / "never-created";
  auto r = run_server({"--config", file.string(), "--max-body-bytes", "3000",
                       "--data-dir", data_dir.string(), "--print-config"},
                      {{"WEBHOOK_INGRESS_SNAPSHOT_EVERY", "222"},
                       {"WEBHOOK_INGRESS_MAX_BODY_BYTES", "2000"},
                       {"WEBHOOK_INGRESS_LOG_FORMAT", "json"}});
  ASSERT_TRUE(r.exited()) << describe(r);
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  auto values = printed_values(r.out);
  EXPECT_EQ(values["http-threads"], "3") << r.out; // file
  EXPECT_EQ(printed_source(r.out, "http-threads"), "file") << r.out;
  EXPECT_EQ(values["breaker-cooldown"], "\"2m\"") << r.out; // file
  EXPECT_EQ(values["snapshot-every"], "222") << r.out;      // env over file
  EXPECT_EQ(printed_source(r.out, "snapshot-every"), "env") << r.out;
  EXPECT_EQ(values["log-format"], "\"json\"") << r.out; // env
  EXPECT_EQ(values["max-body-bytes"], "3000") << r.out; // flag over both
  EXPECT_EQ(printed_source(r.out, "max-body-bytes"), "flag") << r.out;
  EXPECT_EQ(values["data-dir"], "\"" + data_dir.string() + "\"") << r.out;
  EXPECT_EQ(values["endpoint-concurrency"], "8") << r.out; // default
  EXPECT_EQ(printed_source(r.out, "endpoint-concurrency"), "") << r.out;
  // Printing does not start anything.
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(data_dir));

  // The printed configuration is a valid config file with the same values.
  auto printed = write_file(dir.path() / "printed.toml", r.out);
  auto again = run_server({"--config", printed.string(), "--print-config"});
  ASSERT_EQ(again.exit_code(), 0) << describe(again);
  EXPECT_EQ(printed_values(again.out), values) << again.out;
}

TEST(ops_config, example_file_parses_and_documents_the_defaults) {
  ASSERT_TRUE(fs::exists(example_file())) << example_file();
  auto r = run_server({"--config", example_file().string(), "--print-config"});
  ASSERT_TRUE(r.exited()) << describe(r);
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  auto defaults = run_server({"--print-config"});
  ASSERT_EQ(defaults.exit_code(), 0) << describe(defaults);
  auto values = printed_values(r.out);
  EXPECT_EQ(values, printed_values(defaults.out)) << r.out;
  EXPECT_GE(values.size(), 19u) << r.out;
}

TEST(ops_config, bad_config_exits_non_zero_naming_the_key) {
  temp_dir dir;
  struct bad_file {
    std::string toml;
    std::string key;
  };
  for (const auto& c :
       std::vector<bad_file>{{"http-threads = \"many\"\n", "http-threads"},
                             {"http-threads = 0\n", "http-threads"},
                             {"no-such-key = 1\n", "no-such-key"},
                             {"retention = \"5 weeks\"\n", "retention"},
                             {"log-level = \"loud\"\n", "log-level"},
                             {"listen = \n", "line 1"}}) {
    SCOPED_TRACE(c.toml);
    auto file = write_file(dir.path() / "bad.toml", c.toml);
    expect_rejected_naming(
      run_server({"--config", file.string(), "--listen", "127.0.0.1:0",
                  "--data-dir", (dir.path() / "data").string(), "--admin-token",
                  "t0k3n"}),
      c.key);
  }
  for (const auto& [name, value] : std::map<std::string, std::string>{
         {"WEBHOOK_INGRESS_BREAKER_COOLDOWN", "soon"},
         {"WEBHOOK_INGRESS_HTTP_THREADS", "-1"},
         {"WEBHOOK_INGRESS_NO_SUCH_OPTION", "1"}}) {
    SCOPED_TRACE(name);
    expect_rejected_naming(
      run_server({"--listen", "127.0.0.1:0", "--data-dir",
                  (dir.path() / "data").string(), "--admin-token", "t0k3n"},
                 {{name, value}}),
      name);
  }
  expect_rejected_naming(run_server({"--print-config", "--config",
                                     (dir.path() / "missing.toml").string()}),
                         "missing.toml");
}

TEST(ops_config, print_config_never_shows_the_admin_token) {
  temp_dir dir;
  const std::string token = "adm-" + random_hex(24);
  auto file = write_file(dir.path() / "wi.toml",
                         "admin-token = \"" + token + "-file\"\n");
  for (auto args : std::vector<std::vector<std::string>>{
         {"--print-config"},
         {"--print-config", "--config", file.string()},
         {"--print-config", "--admin-token", token + "-flag"}}) {
    auto r = run_server(args, {{"WEBHOOK_INGRESS_ADMIN_TOKEN", token}});
    ASSERT_EQ(r.exit_code(), 0) << describe(r);
    EXPECT_EQ(r.out.find(token), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find(token), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("admin-token is set"), std::string::npos) << r.out;
  }
}

TEST(ops_config, running_server_uses_file_env_and_flag_values) {
  temp_dir dir;
  // The body limit from the file is overridden by the environment; the
  // level from the file by the flag (warn: no access lines).
  auto file = write_file(dir.path() / "wi.toml",
                         "max-body-bytes = 100\nlog-level = \"info\"\n");
  server_config cfg;
  cfg.data_dir = dir.path() / "data";
  cfg.admin_token = "adm-" + random_hex(16);
  cfg.extra_args = {"--config", file.string(), "--log-level", "warn"};
  cfg.env["WEBHOOK_INGRESS_MAX_BODY_BYTES"] = "200";
  server_process server{cfg};
  server.start();
  http_client client{server.base_url()};
  auto ok = client.post("/admin/v1/tenants",
                        R"({"name":")" + std::string(150, 'a') + R"("})",
                        bearer(*cfg.admin_token));
  EXPECT_NE(ok.status, 413) << ok;
  auto big = client.post("/admin/v1/tenants",
                         R"({"name":")" + std::string(250, 'a') + R"("})",
                         bearer(*cfg.admin_token));
  EXPECT_EQ(big.status, 413) << big;
  auto status = server.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
    << describe_wait_status(status);
  EXPECT_EQ(server.stderr_text().find("route="), std::string::npos)
    << server.stderr_text();
}

TEST(ops_logs, json_logs_carry_route_templates_and_no_secrets) {
  receiver rx;
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path();
  cfg.admin_token = "e2e-admin-" + random_hex(24);
  // Debug, so the tenant actor's lines about requests are written too.
  cfg.extra_args = {"--log-format", "json", "--allow-private-targets",
                    "--log-level", "debug"};
  server_process server{cfg};
  server.start();
  http_client client{server.base_url()};

  auto t = create_tenant(client, *cfg.admin_token, "acme");
  const std::string secret = "whsec_" + base64_encode(random_hex(32));
  auto created = client.post(
    endpoints_path,
    json::serialize(
      endpoint_request(rx.url("/hook"), secret, {"user.created"})),
    {{"Authorization", "Bearer " + t.token}, {"X-Request-Id", "ops-create-1"}});
  ASSERT_EQ(created.status, 201) << created;
  auto ep_id = created.data().at("identifier").as_int64();
  auto published = client.post(
    "/v1/webhook/events", R"({"event_type":"user.created","payload":{"n":1}})",
    bearer(t.token));
  ASSERT_EQ(published.status, 202) << published;
  ASSERT_TRUE(rx.wait_for_count("/hook", 1, 15s));
  auto signature = rx.requests("/hook").at(0).header("webhook-signature");
  ASSERT_TRUE(signature && signature->starts_with("v1,"))
    << signature.value_or("(no webhook-signature header)");

  get_endpoint(client, t.token, ep_id);
  auto with_id = client.get(
    endpoint_path(ep_id, "/statistics"),
    {{"Authorization", "Bearer " + t.token}, {"X-Request-Id", "ops-req-42"}});
  EXPECT_EQ(with_id.status, 200) << with_id;
  auto wrong = client.get(endpoint_path(ep_id), bearer(t.token + "x"));
  EXPECT_EQ(wrong.status, 401) << wrong;
  auto missing =
    client.get("/no/such/route/" + std::to_string(ep_id), bearer(t.token));
  EXPECT_EQ(missing.status, 404) << missing;
  auto not_allowed = client.request("POST", endpoint_path(ep_id), {}, "");
  EXPECT_EQ(not_allowed.status, 405) << not_allowed;
  // A rotated token, and the admin views of the endpoint and the metrics.
  auto rotated = client.post("/admin/v1/tenants/" + t.id + "/tokens",
                             R"({"grace_seconds":60})",
                             {{"Authorization", "Bearer " + *cfg.admin_token},
                              {"X-Request-Id", "ops-rotate-1"}});
  ASSERT_EQ(rotated.status, 201) << rotated;
  auto new_token = str_at(rotated.data(), "token");
  EXPECT_EQ(
    client
      .get("/admin/v1/tenants/" + t.id + "/endpoints/" + std::to_string(ep_id),
           bearer(*cfg.admin_token))
      .status,
    200);
  EXPECT_EQ(client.get("/metrics", bearer(*cfg.admin_token)).status, 200);

  // Stop cleanly so that every line is written.
  auto status = server.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
    << describe_wait_status(status);
  auto out = server.stdout_text();
  auto err = server.stderr_text();
  auto all = out + "\n" + err;

  // No secret of any kind, in any form.
  for (const auto& [what, value] : std::map<std::string, std::string>{
         {"admin token", *cfg.admin_token},
         {"tenant token", t.token},
         {"rotated tenant token", new_token},
         {"tenant token hash part", t.token.substr(t.token.rfind('_') + 1)},
         {"endpoint secret", secret},
         {"endpoint secret key", secret.substr(6)},
         {"signature", *signature},
         {"signature value", signature->substr(3)},
         {"any v1 signature", "v1,"}}) {
    EXPECT_EQ(all.find(value), std::string::npos)
      << what << " appears in the output:\n"
      << all;
  }

  // Every stderr line is one JSON object with time, level and msg.
  std::vector<json::object> access;
  std::istringstream lines{err};
  std::string line;
  size_t count = 0;
  std::set<std::pair<std::string, std::string>> actor_lines;
  while (std::getline(lines, line)) {
    if (line.empty())
      continue;
    ++count;
    boost::system::error_code ec;
    auto value = json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    ASSERT_TRUE(value.is_object()) << line;
    const auto& obj = value.as_object();
    for (auto key : {"time", "level", "msg"})
      ASSERT_TRUE(obj.contains(key) && obj.at(key).is_string())
        << key << " missing: " << line;
    // Actor-side lines about a request name it like the access log does.
    if (obj.contains("request_id") && obj.contains("record") &&
        obj.at("msg") != "request")
      actor_lines.emplace(std::string{obj.at("record").as_string()},
                          std::string{obj.at("request_id").as_string()});
    if (obj.at("msg") == "request") {
      EXPECT_EQ(obj.at("level"), "info") << line;
      for (auto key : {"method", "route", "request_id"})
        EXPECT_TRUE(obj.contains(key) && obj.at(key).is_string())
          << key << ": " << line;
      EXPECT_TRUE(obj.contains("status") && obj.at("status").is_int64())
        << line;
      EXPECT_TRUE(obj.contains("latency_ms") &&
                  obj.at("latency_ms").is_number())
        << line;
      access.push_back(obj);
    }
  }
  EXPECT_GT(count, access.size()) << "start-up lines missing:\n" << err;

  // One access line per request, with the template, never the raw path.
  std::set<std::pair<std::string, int64_t>> seen;
  for (const auto& a : access)
    seen.emplace(std::string{a.at("route").as_string()},
                 a.at("status").as_int64());
  for (const auto& expected : std::set<std::pair<std::string, int64_t>>{
         {"/admin/v1/tenants", 201},
         {"/v1/webhook/endpoints", 201},
         {"/v1/webhook/events", 202},
         {"/v1/webhook/endpoints/{id}", 200},
         {"/v1/webhook/endpoints/{id}/statistics", 200},
         {"/v1/webhook/endpoints/{id}", 401},
         {"/v1/webhook/endpoints/{id}", 405},
         {"unmatched", 404}})
    EXPECT_EQ(seen.count(expected), 1u)
      << expected.first << " " << expected.second << "\n"
      << err;
  EXPECT_EQ(err.find(endpoint_path(ep_id)), std::string::npos) << err;
  EXPECT_EQ(err.find("/no/such/route"), std::string::npos) << err;
  bool tagged = false;
  for (const auto& a : access)
    if (a.at("request_id") == "ops-req-42") {
      tagged = true;
      EXPECT_EQ(a.at("route"), "/v1/webhook/endpoints/{id}/statistics");
      EXPECT_EQ(a.at("method"), "GET");
    }
  EXPECT_TRUE(tagged) << err;
  // The tenant actor's line about the create (debug) and the directory's
  // about the rotation (info) carry the requests' ids.
  EXPECT_EQ(actor_lines.count({"endpoint_created", "ops-create-1"}), 1u) << err;
  EXPECT_EQ(actor_lines.count({"token_issued", "ops-rotate-1"}), 1u) << err;
}
