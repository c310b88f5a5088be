// GET /openapi.json: the embedded OpenAPI document, served by the binary.

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/child_process.hpp"
#include "support/delivery_fixture.hpp"
#include "support/fixture.hpp"
#include "support/server_process.hpp"

using namespace wi_e2e;
namespace json = boost::json;

namespace {

class openapi : public server_test {};

using operation_key = std::pair<std::string, std::string>;

/// The router's table (http/routes.cpp), as OpenAPI operations.
const std::set<operation_key> routed{
  {"get", "/healthz"},
  {"get", "/readyz"},
  {"post", "/admin/v1/tenants"},
  {"get", "/admin/v1/tenants"},
  {"get", "/admin/v1/tenants/{id}"},
  {"delete", "/admin/v1/tenants/{id}"},
  {"patch", "/admin/v1/tenants/{id}"},
  {"post", "/admin/v1/tenants/{id}/tokens"},
  {"post", "/admin/v1/tenants/{id}/move"},
  {"delete", "/admin/v1/tenants/{id}/pin"},
  {"get", "/admin/v1/tenants/{id}/endpoints/{eid}"},
  {"post", "/admin/v1/snapshot"},
  {"get", "/admin/v1/node"},
  {"get", "/admin/v1/cluster"},
  {"post", "/admin/v1/cluster/nodes/{id}/drain"},
  {"post", "/v1/webhook/endpoints"},
  {"get", "/v1/webhook/endpoints/list"},
  {"get", "/v1/webhook/endpoints/{id}"},
  {"put", "/v1/webhook/endpoints/{id}/disable"},
  {"put", "/v1/webhook/endpoints/{id}/enable"},
  {"put", "/v1/webhook/endpoints/{id}/statistics"},
  {"get", "/v1/webhook/endpoints/{id}/statistics"},
  {"get", "/v1/webhook/endpoints/{id}/attempts"},
  {"post", "/v1/webhook/endpoints/{id}/resend/{event_id}"},
  {"post", "/v1/webhook/events"},
  {"get", "/v1/webhook/events/{id}"},
  {"get", "/openapi.json"},
  {"get", "/metrics"},
  // Endpoint lifecycle (issue 17).
  {"patch", "/v1/webhook/endpoints/{id}"},
  {"delete", "/v1/webhook/endpoints/{id}"},
  {"post", "/v1/webhook/endpoints/{id}/secret/rotate"},
  {"get", "/v1/webhook/endpoints/{id}/secret"},
  // The admin dashboard's (issue 18).
  {"get", "/admin/v1/tenants/{id}/endpoints"},
  {"put", "/admin/v1/tenants/{id}/endpoints/{eid}/disable"},
  {"put", "/admin/v1/tenants/{id}/endpoints/{eid}/enable"},
  {"post", "/admin/v1/tenants/{id}/endpoints/{eid}/resend"},
  {"post", "/v1/webhook/events/batch"}, // issue 19
  // Event history and recover (issue 17).
  {"get", "/v1/webhook/events"},
  {"get", "/v1/webhook/events/{id}/attempts"},
  {"post", "/v1/webhook/endpoints/{id}/recover"},
};

/// docs/openapi.json in the source tree.
std::string source_document() {
  std::ifstream in{wi_e2e::source_dir() / "docs" / "openapi.json",
                   std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

TEST_F(openapi, serves_the_document_without_a_token) {
  auto r = client().get("/openapi.json");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_TRUE(is_valid_request_id(r.header("x-request-id")));
  ASSERT_TRUE(r.is_json) << r;
  ASSERT_TRUE(r.json.is_object());
  const auto& doc = r.json.as_object();
  EXPECT_EQ(doc.at("openapi"), "3.0.3");
  EXPECT_FALSE(doc.contains("success")) << "the document has no envelope";
  std::set<operation_key> documented;
  for (const auto& [path, item] : doc.at("paths").as_object())
    for (const auto& [method, op] : item.as_object())
      if (op.is_object() && op.as_object().contains("responses"))
        documented.emplace(std::string{method}, std::string{path});
  EXPECT_EQ(documented, routed);
}

TEST_F(openapi, serves_docs_openapi_json_byte_for_byte) {
  auto expected = source_document();
  ASSERT_FALSE(expected.empty()) << "docs/openapi.json not found";
  auto r = client().get("/openapi.json", bearer("wi_nope_nope"));
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_TRUE(r.body == expected)
    << "the binary embeds a stale docs/openapi.json; rebuild";
  json::error_code ec;
  json::parse(r.body, ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST_F(openapi, other_methods_are_405_with_allow) {
  auto r = client().post("/openapi.json", "{}");
  EXPECT_TRUE(is_error(r, 405, "METHOD_NOT_ALLOWED")) << r;
  EXPECT_EQ(r.header("allow"), "GET");
}

// An implementation independent of the service checks the served document:
// @apidevtools/swagger-parser (tests/e2e/verifier/validate_openapi.js)
// validates it against the OpenAPI 3.0 schema and resolves every $ref.
TEST_F(openapi, an_independent_validator_accepts_the_served_document) {
  auto script =
    source_dir() / "tests" / "e2e" / "verifier" / "validate_openapi.js";
  ASSERT_TRUE(std::filesystem::exists(script.parent_path() / "node_modules" /
                                      "@apidevtools" / "swagger-parser"))
    << "run scripts/install-deps.sh (npm ci in tests/e2e/verifier)";
  auto r = client().get("/openapi.json");
  ASSERT_EQ(r.status, 200) << r;
  temp_dir dir;
  auto file = dir.path() / "openapi.json";
  {
    std::ofstream out{file, std::ios::binary};
    out << r.body;
  }
  child_process node{
    {wi_e2e::delivery_fixture::node_binary(), script.string(), file.string()}};
  auto status = node.wait_exit(std::chrono::seconds{60});
  ASSERT_TRUE(status.has_value()) << "the validator did not finish";
  node.drain(std::chrono::seconds{5});
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
    << node.stdout_text() << node.stderr_text();
  EXPECT_EQ(node.stdout_text(), "valid\n") << node.stderr_text();
}
