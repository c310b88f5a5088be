#include "support/fixture.hpp"

#include <iostream>

#include <sys/wait.h>

namespace wi_e2e {

void server_test::SetUp() {
  server_config cfg;
  cfg.data_dir = dir_.path();
  cfg.admin_token = admin_token_;
  cfg.extra_args = extra_args();
  server_ = std::make_unique<server_process>(std::move(cfg));
  server_->start();
  client_ = std::make_unique<http_client>(server_->base_url());
}

void server_test::TearDown() {
  if (!server_)
    return;
  if (HasFailure())
    std::cerr << "--- server stderr (tail) ---\n"
              << server_->stderr_tail() << "\n--- end ---\n";
  server_->stop(std::chrono::seconds{5});
}

void server_test::restart_after_kill9() {
  server_->kill9();
  server_->start();
  client_ = std::make_unique<http_client>(server_->base_url());
}

void server_test::restart_graceful() {
  auto status = server_->stop(std::chrono::seconds{10});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
    << "graceful stop: " << describe_wait_status(status);
  server_->start();
  client_ = std::make_unique<http_client>(server_->base_url());
}

tenant server_test::new_tenant(const std::string& name) {
  auto n = name.empty() ? "tenant-" + std::to_string(++tenant_count_) : name;
  return create_tenant(client(), admin_token_, n);
}

} // namespace wi_e2e
