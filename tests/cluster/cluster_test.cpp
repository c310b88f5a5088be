// Cluster mode end to end: a real etcd (tests/cluster/support) and real
// webhook-ingress binaries on 127.0.0.1, lease TTL 2 s.

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/etcd_process.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
using wi_cluster_test::eventually;
namespace json = boost::json;

namespace {

class cluster_test : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_ = std::make_unique<wi_cluster_test::etcd_process>();
  }

  void TearDown() override {
    if (HasFailure())
      for (auto& n : nodes_)
        std::cerr << "--- node stderr (tail) ---\n"
                  << n->stderr_tail() << "\n--- end ---\n";
    nodes_.clear();
  }

  std::vector<std::string> cluster_args(const std::string& etcd_url) const {
    return {"--etcd", etcd_url,        "--lease-ttl",
            "2s",     "--peer-listen", "127.0.0.1:0"};
  }

  /// Starts a node in cluster mode on a fresh data directory.
  server_process& start_node(std::vector<std::string> more = {}) {
    dirs_.push_back(std::make_unique<temp_dir>());
    server_config cfg;
    cfg.data_dir = dirs_.back()->path();
    cfg.admin_token = admin_token_;
    cfg.extra_args = cluster_args(etcd_->client_url());
    cfg.extra_args.insert(cfg.extra_args.end(), more.begin(), more.end());
    nodes_.push_back(std::make_unique<server_process>(std::move(cfg)));
    nodes_.back()->start();
    return *nodes_.back();
  }

  header_list admin() const {
    return {{"Authorization", "Bearer " + admin_token_}};
  }

  /// `GET /admin/v1/cluster` on `node`; its `data`.
  json::object cluster_of(server_process& node) const {
    auto r = http_client{node.base_url()}.get("/admin/v1/cluster", admin());
    EXPECT_EQ(r.status, 200) << r;
    return r.data().as_object();
  }

  /// Member ids in `node`'s view.
  std::set<std::string> member_ids(server_process& node) const {
    std::set<std::string> ids;
    auto c = cluster_of(node); // alive through the loop
    for (const auto& m : c.at("members").as_array())
      ids.insert(std::string{m.at("id").as_string()});
    return ids;
  }

  /// Nodes "a" and "b", once "a" sees both.
  std::pair<server_process&, server_process&> start_pair() {
    auto& a = start_node({"--node-id", "a"});
    auto& b = start_node({"--node-id", "b"});
    EXPECT_TRUE(eventually(
      [&] {
        return member_ids(a) == std::set<std::string>{"a", "b"};
      },
      3s));
    return {a, b};
  }

  long readyz(server_process& node) const {
    return http_client{node.base_url(), 2s}.get("/readyz").status;
  }

  const std::string admin_token_ = "cluster-admin-" + random_hex(16);
  std::unique_ptr<wi_cluster_test::etcd_process> etcd_;
  std::vector<std::unique_ptr<temp_dir>> dirs_;
  std::vector<std::unique_ptr<server_process>> nodes_;
};

} // namespace

TEST_F(cluster_test, three_nodes_register_and_appear_on_every_node) {
  std::vector<server_process*> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(&start_node({"--node-id", "node-" + std::to_string(i)}));
  std::set<std::string> all{"node-0", "node-1", "node-2"};
  for (auto* n : nodes) {
    ASSERT_TRUE(eventually(
      [&] {
        auto c = cluster_of(*n);
        if (c.at("members").as_array().size() != 3)
          return false;
        for (const auto& m : c.at("members").as_array())
          if (m.at("state").as_string() != "active")
            return false;
        return true;
      },
      5s));
    auto c = cluster_of(*n);
    EXPECT_EQ(member_ids(*n), all);
    EXPECT_EQ(c.at("cluster_mode").as_bool(), true);
    EXPECT_EQ(c.at("moves"),
              (json::object{{"under_way", json::array{}}, {"done", 0}}));
  }
  // Each member advertises its own HTTP address, and it answers there.
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto c = cluster_of(*nodes[i]);
    EXPECT_EQ(c.at("node").as_string(), "node-" + std::to_string(i));
    for (const auto& m : c.at("members").as_array()) {
      auto id = std::string{m.at("id").as_string()};
      auto index = static_cast<size_t>(id.back() - '0');
      EXPECT_EQ(m.at("http").as_string(),
                "127.0.0.1:" + std::to_string(nodes[index]->port()));
    }
  }
  // A tenant created through each node is placed on that node (moves and
  // forwarding come later) and every node counts it.
  std::vector<tenant> tenants;
  for (auto* n : nodes)
    tenants.push_back(
      create_tenant(http_client{n->base_url()}, admin_token_, "t"));
  for (size_t i = 0; i < nodes.size(); ++i)
    EXPECT_EQ(tenants[i].data.at("owner").as_string(),
              "node-" + std::to_string(i));
  json::object expected{{"node-0", 1}, {"node-1", 1}, {"node-2", 1}};
  for (auto* n : nodes)
    EXPECT_TRUE(eventually(
      [&] { return cluster_of(*n).at("tenants_by_node") == expected; }, 3s))
      << json::serialize(cluster_of(*n));
  auto got = http_client{nodes[1]->base_url()}.get(
    "/admin/v1/tenants/" + tenants[1].id, admin());
  ASSERT_EQ(got.status, 200) << got;
  EXPECT_EQ(got.data().at("owner").as_string(), "node-1");
}

TEST_F(cluster_test, etcd_unreachable_at_start_refuses_naming_the_url) {
  temp_dir dir;
  auto url = "http://127.0.0.1:" + std::to_string(wi_cluster_test::free_port());
  auto r = run_to_exit({server_binary().string(), "--listen", "127.0.0.1:0",
                        "--data-dir", dir.path().string(), "--admin-token",
                        admin_token_, "--etcd", url},
                       10s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_NE(r.err.find("refusing to start: etcd unreachable at " + url),
            std::string::npos)
    << r.err;
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << r.out;
}

TEST_F(cluster_test, a_second_node_with_the_same_id_refuses_to_start) {
  auto& first = start_node({"--node-id", "twin"});
  temp_dir dir;
  auto args = std::vector<std::string>{server_binary().string(),
                                       "--listen",
                                       "127.0.0.1:0",
                                       "--data-dir",
                                       dir.path().string(),
                                       "--admin-token",
                                       admin_token_,
                                       "--node-id",
                                       "twin"};
  for (auto& a : cluster_args(etcd_->client_url()))
    args.push_back(a);
  auto r = run_to_exit(args, 15s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_NE(r.err.find("node id twin is already a live member of the cluster "
                       "(HTTP 127.0.0.1:" +
                       std::to_string(first.port()) + ")"),
            std::string::npos)
    << r.err;
  // The first one is untouched.
  EXPECT_EQ(member_ids(first), (std::set<std::string>{"twin"}));
  EXPECT_EQ(readyz(first), 200);
}

TEST_F(cluster_test, a_killed_node_leaves_the_members_within_ttl_plus_1s) {
  auto [a, b] = start_pair();
  b.kill9();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually(
    [&] { return member_ids(a) == std::set<std::string>{"a"}; }, 5s));
  auto took = std::chrono::steady_clock::now() - t0;
  std::cout
    << "killed node left the member list after "
    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
    << " ms (lease TTL 2 s)\n";
  EXPECT_LT(took, 3s);
  // Restarted on its data directory, it is the same node again.
  b.start();
  EXPECT_TRUE(eventually(
    [&] {
      return member_ids(a) == std::set<std::string>{"a", "b"};
    },
    3s));
}

TEST_F(cluster_test, a_graceful_stop_leaves_the_members_at_once) {
  auto [a, b] = start_pair();
  b.stop();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually(
    [&] { return member_ids(a) == std::set<std::string>{"a"}; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST_F(cluster_test, etcd_lost_makes_readyz_not_ready_and_recovers) {
  auto& node = start_node();
  http_client client{node.base_url()};
  auto t = create_tenant(client, admin_token_, "kept");
  etcd_->stop();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return readyz(node) == 503; }, 5s));
  std::cout << "readyz not ready "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count()
            << " ms after etcd stopped\n";
  auto r = client.get("/readyz");
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.error().at("code").as_string(), "NOT_READY");
  // It keeps serving the tenants it holds with the placement it knows.
  auto got = client.get("/admin/v1/tenants/" + t.id, admin());
  EXPECT_EQ(got.status, 200) << got;
  auto metrics = client.get("/metrics", admin());
  ASSERT_EQ(metrics.status, 200);
  EXPECT_TRUE(eventually(
    [&] {
      return client.get("/metrics", admin())
               .body.find("webhook_ingress_cluster_etcd_up 0\n") !=
             std::string::npos;
    },
    3s));
  EXPECT_NE(client.get("/metrics", admin())
              .body.find("webhook_ingress_cluster_placement_map_age_seconds "),
            std::string::npos);
  etcd_->start();
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return readyz(node) == 200; }, 10s));
  std::cout << "ready again "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count()
            << " ms after etcd came back\n";
  auto text = client.get("/metrics", admin()).body;
  EXPECT_NE(text.find("webhook_ingress_cluster_etcd_up 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("webhook_ingress_cluster_placement_map_age_seconds 0\n"),
            std::string::npos);
  EXPECT_EQ(member_ids(node).size(), 1u);
}

TEST(single_node_cluster_view, shows_the_node_alone) {
  temp_dir dir;
  server_config cfg;
  cfg.data_dir = dir.path();
  cfg.admin_token = "single-admin";
  server_process node{cfg};
  node.start();
  auto r = http_client{node.base_url()}.get(
    "/admin/v1/cluster", {{"Authorization", "Bearer single-admin"}});
  ASSERT_EQ(r.status, 200) << r;
  const auto& d = r.data().as_object();
  EXPECT_EQ(d.at("cluster_mode").as_bool(), false);
  ASSERT_EQ(d.at("members").as_array().size(), 1u);
  const auto& m = d.at("members").as_array()[0].as_object();
  EXPECT_EQ(m.at("id"), d.at("node"));
  EXPECT_EQ(m.at("http").as_string(),
            "127.0.0.1:" + std::to_string(node.port()));
  EXPECT_EQ(m.at("state").as_string(), "active");
  EXPECT_TRUE(d.at("tenants_by_node").as_object().empty());
  auto t = create_tenant(http_client{node.base_url()}, "single-admin", "x");
  EXPECT_EQ(t.data.at("owner"), d.at("node"));
  auto unauth = http_client{node.base_url()}.get("/admin/v1/cluster");
  EXPECT_EQ(unauth.status, 401);
}

// Any node answers any request: a tenant's endpoints are created, read and
// listed through every node with the owner's answers (a forwarded POST with
// a body included: its first run crashed the owner), the spec's error
// statuses are unchanged through forwarding, and a killed owner's tenant
// answers 503 TENANT_UNAVAILABLE with Retry-After through the others within
// lease TTL + 1 s, then serves again with nothing lost once it is back.
TEST_F(cluster_test,
       every_node_answers_for_every_tenant_and_a_dead_owner_503s) {
  std::vector<server_process*> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(&start_node({"--node-id", "n" + std::to_string(i)}));
  ASSERT_TRUE(
    eventually([&] { return member_ids(*nodes[0]).size() == 3; }, 5s));
  std::vector<tenant> tenants;
  for (auto* n : nodes)
    tenants.push_back(
      create_tenant(http_client{n->base_url()}, admin_token_, "t"));
  for (auto* n : nodes) // every node's placement map knows every tenant
    ASSERT_TRUE(eventually(
      [&] {
        auto by_node = cluster_of(*n).at("tenants_by_node").as_object();
        return by_node.size() == 3;
      },
      3s));

  for (size_t t = 0; t < tenants.size(); ++t) {
    const header_list auth{{"Authorization", "Bearer " + tenants[t].token},
                           {"Content-Type", "application/json"}};
    // One endpoint created through each node: identifiers 1, 2, 3.
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto body =
        endpoint_request("https://example.com/hook/" + std::to_string(i));
      auto r = http_client{nodes[i]->base_url()}.post(
        std::string{endpoints_path}, json::serialize(body), auth);
      ASSERT_EQ(r.status, 201) << r;
      EXPECT_EQ(r.data().at("identifier").as_int64(),
                static_cast<int64_t>(i + 1));
    }
    // Reads through every node are the owner's, byte for byte but `meta`.
    std::vector<json::value> seen;
    for (auto* n : nodes) {
      http_client c{n->base_url()};
      auto one = c.get(endpoint_path(2), auth);
      ASSERT_EQ(one.status, 200) << one;
      auto list = c.get("/v1/webhook/endpoints/list?page=1&pageSize=10", auth);
      ASSERT_EQ(list.status, 200) << list;
      EXPECT_EQ(list.data().as_array().size(), 3u) << list;
      seen.push_back(json::array{one.data(), list.data()});
      // The spec's errors, unchanged through forwarding.
      auto missing = c.get(endpoint_path(99), auth);
      EXPECT_EQ(missing.status, 404) << missing;
      EXPECT_EQ(missing.error().at("code").as_string(), "NOT_FOUND");
      auto invalid =
        c.post(std::string{endpoints_path}, R"({"url":"ftp://x"})", auth);
      EXPECT_EQ(invalid.status, 422) << invalid;
      auto wrong = c.get(endpoint_path(1),
                         {{"Authorization", "Bearer wi_" + tenants[t].id + "_" +
                                              random_hex(32)}});
      EXPECT_EQ(wrong.status, 401) << wrong;
    }
    EXPECT_EQ(seen[0], seen[1]);
    EXPECT_EQ(seen[0], seen[2]);
  }

  // Kill n0: its tenant answers 503 through n1 and n2, soon.
  const header_list auth0{{"Authorization", "Bearer " + tenants[0].token}};
  nodes[0]->kill9();
  auto t0 = std::chrono::steady_clock::now();
  for (auto* n : {nodes[1], nodes[2]}) {
    ASSERT_TRUE(eventually(
      [&] {
        auto r = http_client{n->base_url(), 2s}.get(endpoint_path(1), auth0);
        return r.status == 503 && r.is_json &&
               r.error().at("code").as_string() == "TENANT_UNAVAILABLE" &&
               !r.header("retry-after").empty() &&
               std::stoi(r.header("retry-after")) >= 1;
      },
      3s));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  // The other tenants are not affected.
  auto other = http_client{nodes[1]->base_url()}.get(
    endpoint_path(3), {{"Authorization", "Bearer " + tenants[2].token}});
  EXPECT_EQ(other.status, 200) << other;

  // Back on its data directory: the tenant serves again, nothing lost.
  nodes[0]->start();
  ASSERT_TRUE(eventually(
    [&] {
      auto r = http_client{nodes[1]->base_url(), 2s}.get(
        "/v1/webhook/endpoints/list?page=1&pageSize=10", auth0);
      return r.status == 200 && r.data().as_array().size() == 3;
    },
    5s));
}
