// Liveness and readiness probes.

#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"

using namespace wi_e2e;

namespace {

class health : public server_test {};

} // namespace

TEST_F(health, healthz_answers_200_without_a_token) {
  auto r = client().get("/healthz");
  EXPECT_TRUE(is_success(r, 200));
}

TEST_F(health, readyz_answers_200_after_recovery_without_a_token) {
  auto r = client().get("/readyz");
  EXPECT_TRUE(is_success(r, 200));
}

TEST_F(health, probes_ignore_a_bogus_token) {
  for (auto path : {"/healthz", "/readyz"}) {
    SCOPED_TRACE(path);
    auto r = client().get(path, bearer("wi_nope_nope"));
    EXPECT_TRUE(is_success(r, 200));
  }
}

TEST_F(health, readyz_stays_200_after_a_restart_with_data) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  restart_after_kill9();
  EXPECT_TRUE(is_success(client().get("/readyz"), 200));
  EXPECT_TRUE(is_success(client().get("/healthz"), 200));
}
