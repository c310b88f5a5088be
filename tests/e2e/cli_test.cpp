// Command line and process behaviour of the real binary.

#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

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

/// Expects a prompt non-zero exit with a message on stderr.
void expect_rejected(const std::vector<std::string>& args) {
  auto started = std::chrono::steady_clock::now();
  auto r = run_server(args);
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_TRUE(r.exited()) << describe(r);
  EXPECT_NE(r.exit_code(), 0) << describe(r);
  EXPECT_FALSE(r.err.empty()) << "no message on stderr\n" << describe(r);
  EXPECT_LT(elapsed, 5s) << describe(r);
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << describe(r);
}

} // namespace

TEST(cli, version_prints_a_version_and_exits_zero) {
  auto r = run_server({"--version"});
  ASSERT_TRUE(r.exited()) << describe(r);
  EXPECT_EQ(r.exit_code(), 0) << describe(r);
  EXPECT_TRUE(std::regex_search(r.out, std::regex{R"(\d+\.\d+\.\d+)"}))
    << describe(r);
}

TEST(cli, help_lists_the_flags_and_exits_zero) {
  auto r = run_server({"--help"});
  ASSERT_TRUE(r.exited()) << describe(r);
  EXPECT_EQ(r.exit_code(), 0) << describe(r);
  for (auto flag :
       {"--listen", "--data-dir", "--admin-token", "--max-body-bytes"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << describe(r);
}

TEST(cli, unknown_flag_is_rejected) {
  temp_dir dir;
  expect_rejected({"--listen", "127.0.0.1:0", "--data-dir", dir.path().string(),
                   "--admin-token", "t0k3n", "--no-such-flag"});
}

TEST(cli, malformed_listen_address_is_rejected) {
  temp_dir dir;
  for (auto listen : {"nonsense", "127.0.0.1:99999", "127.0.0.1:", ":80x"}) {
    SCOPED_TRACE(listen);
    expect_rejected({"--listen", listen, "--data-dir", dir.path().string(),
                     "--admin-token", "t0k3n"});
  }
}

TEST(cli, non_numeric_max_body_bytes_is_rejected) {
  temp_dir dir;
  expect_rejected({"--listen", "127.0.0.1:0", "--data-dir", dir.path().string(),
                   "--admin-token", "t0k3n", "--max-body-bytes", "lots"});
}

TEST(cli, data_dir_that_is_a_regular_file_is_rejected) {
  temp_dir dir;
  auto file = dir.path() / "plain-file";
  std::ofstream{file} << "not a directory\n";
  expect_rejected({"--listen", "127.0.0.1:0", "--data-dir", file.string(),
                   "--admin-token", "t0k3n"});
  // The file is left alone.
  EXPECT_TRUE(fs::is_regular_file(file));
}

TEST(cli, data_dir_with_foreign_files_is_rejected) {
  temp_dir dir;
  std::ofstream{dir.path() / "holiday-photos.txt"} << "not ours\n";
  expect_rejected({"--listen", "127.0.0.1:0", "--data-dir", dir.path().string(),
                   "--admin-token", "t0k3n"});
  // Nothing of ours was written next to the foreign file.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator{dir.path()})
    ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST(cli, generated_admin_token_is_printed_once_and_survives_restart) {
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path();
  server_process server{cfg};
  server.start();
  auto token = server.printed_admin_token(5s);
  ASSERT_TRUE(token.has_value()) << "stdout:\n" << server.stdout_text();
  EXPECT_FALSE(token->empty());
  {
    http_client client{server.base_url()};
    auto r = client.get("/admin/v1/tenants", bearer(*token));
    EXPECT_EQ(r.status, 204) << r; // no tenant yet
    auto created =
      client.post("/admin/v1/tenants", R"({"name":"acme"})", bearer(*token));
    EXPECT_EQ(created.status, 201) << created;
    auto wrong = client.get("/admin/v1/tenants", bearer(*token + "x"));
    EXPECT_EQ(wrong.status, 401) << wrong;
  }
  auto status = server.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
    << describe_wait_status(status);
  server.start();
  // Give a late line a chance to show up before asserting its absence.
  EXPECT_FALSE(server.printed_admin_token(300ms).has_value())
    << "token printed again:\n"
    << server.stdout_text();
  http_client client{server.base_url()};
  auto r = client.get("/admin/v1/tenants", bearer(*token));
  EXPECT_EQ(r.status, 200) << r;
  // The same after a crash.
  server.kill9();
  server.start();
  EXPECT_FALSE(server.printed_admin_token(300ms).has_value())
    << server.stdout_text();
  http_client client2{server.base_url()};
  auto r2 = client2.get("/admin/v1/tenants", bearer(*token));
  EXPECT_EQ(r2.status, 200) << r2;
}

TEST(cli, admin_token_from_environment_is_used_and_not_printed) {
  temp_dir dir;
  auto token = "env-admin-" + random_hex(16);
  server_config cfg;
  cfg.data_dir = dir.path();
  cfg.env["WEBHOOK_INGRESS_ADMIN_TOKEN"] = token;
  server_process server{cfg};
  server.start();
  EXPECT_FALSE(server.printed_admin_token(300ms).has_value())
    << server.stdout_text();
  http_client client{server.base_url()};
  auto r = client.get("/admin/v1/tenants", bearer(token));
  EXPECT_EQ(r.status, 204) << r; // accepted; no tenant yet
}

TEST(cli, admin_token_flag_is_used_and_not_printed) {
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path();
  cfg.admin_token = "flag-admin-" + random_hex(16);
  server_process server{cfg};
  server.start();
  EXPECT_FALSE(server.printed_admin_token(300ms).has_value())
    << server.stdout_text();
  http_client client{server.base_url()};
  // No tenant yet: an empty page.
  auto r = client.get("/admin/v1/tenants", bearer(*cfg.admin_token));
  EXPECT_EQ(r.status, 204) << r;
  auto other = client.get("/admin/v1/tenants", bearer("some-other-token"));
  EXPECT_EQ(other.status, 401) << other;
}

TEST(cli, sigterm_exits_zero) {
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path();
  cfg.admin_token = "t0k3n-" + random_hex(8);
  server_process server{cfg};
  server.start();
  auto status = server.stop(10s);
  EXPECT_TRUE(WIFEXITED(status)) << describe_wait_status(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << describe_wait_status(status);
}
