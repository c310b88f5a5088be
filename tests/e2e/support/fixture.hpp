#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

namespace wi_e2e {

/// Starts one server per test on a fresh temp data directory with a known
/// admin token. Subclasses add command-line flags via `extra_args()`.
/// On failure, TearDown prints the tail of the server's stderr.
class server_test : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Flags after `--listen`, `--data-dir` and `--admin-token`.
  virtual std::vector<std::string> extra_args() const { return {}; }

  server_process& server() { return *server_; }

  /// A client for the current run (the port changes on restart).
  const http_client& client() const { return *client_; }

  /// SIGKILL, then start again on the same data directory.
  void restart_after_kill9();

  /// SIGTERM (expects exit code 0), then start again on the same directory.
  void restart_graceful();

  /// Creates a tenant with a unique name.
  tenant new_tenant(const std::string& name = "");

  /// The admin token passed with `--admin-token`.
  const std::string admin_token_ = "e2e-admin-" + random_hex(24);

  temp_dir dir_;
  std::unique_ptr<server_process> server_;
  std::unique_ptr<http_client> client_;
  int tenant_count_ = 0;
};

} // namespace wi_e2e
