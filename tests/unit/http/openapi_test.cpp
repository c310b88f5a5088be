// The embedded OpenAPI document (docs/openapi.json) against the router.

#include "http/routes.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

using namespace wi::http;
namespace json = boost::json;

namespace {

/// (lower-case method, path template), as OpenAPI spells an operation.
using operation_key = std::pair<std::string, std::string>;

/// The keys of an OpenAPI path item that are operations.
const std::set<std::string>& operation_names() {
  static const std::set<std::string> names{"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};
  return names;
}

std::string lower(std::string_view x) {
  std::string result{x};
  for (auto& c : result)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

const json::value& document() {
  static const json::value doc = [] {
    json::error_code ec;
    auto result = json::parse(openapi_document(), ec);
    EXPECT_FALSE(ec) << "docs/openapi.json does not parse: " << ec.message();
    return result;
  }();
  return doc;
}

/// Every operation in the document.
std::map<operation_key, const json::object*> document_operations() {
  std::map<operation_key, const json::object*> result;
  const auto* paths = document().as_object().if_contains("paths");
  if (paths == nullptr || !paths->is_object())
    return result;
  for (const auto& [path, item] : paths->as_object())
    for (const auto& [key, op] : item.as_object())
      if (operation_names().count(std::string{key}) > 0)
        result.emplace(operation_key{std::string{key}, std::string{path}},
                       &op.as_object());
  return result;
}

/// Resolves a local `$ref` ("#/components/..."); nullptr if it dangles.
const json::value* resolve(std::string_view ref) {
  if (ref.substr(0, 1) != "#")
    return nullptr;
  json::error_code ec;
  return document().find_pointer(ref.substr(1), ec);
}

/// Follows `$ref` once if `x` is a reference object.
const json::object* deref(const json::value& x) {
  if (!x.is_object())
    return nullptr;
  const auto& obj = x.as_object();
  if (const auto* ref = obj.if_contains("$ref")) {
    const auto* target = ref->is_string() ? resolve(ref->as_string()) : nullptr;
    return target != nullptr && target->is_object() ? &target->as_object()
                                                    : nullptr;
  }
  return &obj;
}

/// Calls `f` with every `$ref` string in `x`.
template <class F>
void for_each_ref(const json::value& x, F& f) {
  if (x.is_object()) {
    for (const auto& [key, val] : x.as_object()) {
      if (key == "$ref" && val.is_string())
        f(std::string_view{val.as_string()});
      else
        for_each_ref(val, f);
    }
  } else if (x.is_array()) {
    for (const auto& val : x.as_array())
      for_each_ref(val, f);
  }
}

} // namespace

TEST(openapi, document_is_openapi_3_json) {
  ASSERT_TRUE(document().is_object());
  const auto& doc = document().as_object();
  ASSERT_TRUE(doc.contains("openapi"));
  EXPECT_EQ(doc.at("openapi"), "3.0.3");
  ASSERT_TRUE(doc.contains("info"));
  EXPECT_TRUE(doc.at("info").as_object().contains("version"));
  ASSERT_TRUE(doc.contains("paths"));
  EXPECT_TRUE(doc.at("paths").is_object());
  ASSERT_TRUE(doc.contains("components"));
  for (auto name : {"schemas", "responses", "securitySchemes"})
    EXPECT_TRUE(doc.at("components").as_object().contains(name)) << name;
}

TEST(openapi, the_route_is_in_the_router) {
  auto res = match_route(http_method::get, "/openapi.json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->id, route_id::openapi);
  EXPECT_EQ(allowed_methods("/openapi.json"), "GET");
}

TEST(openapi, every_route_of_the_router_is_documented) {
  auto ops = document_operations();
  for (const auto& r : all_routes()) {
    operation_key key{lower(to_string(r.method)), std::string{r.path_template}};
    EXPECT_EQ(ops.count(key), 1u)
      << to_string(r.method) << ' ' << r.path_template
      << " is routed but not in docs/openapi.json";
  }
}

TEST(openapi, every_documented_operation_is_routed) {
  std::set<operation_key> routed;
  for (const auto& r : all_routes())
    routed.emplace(lower(to_string(r.method)), std::string{r.path_template});
  auto ops = document_operations();
  EXPECT_FALSE(ops.empty());
  for (const auto& [key, op] : ops)
    EXPECT_EQ(routed.count(key), 1u)
      << key.first << ' ' << key.second
      << " is in docs/openapi.json but not routed";
  EXPECT_EQ(ops.size(), all_routes().size());
}

TEST(openapi, every_operation_has_responses_and_a_unique_id) {
  std::set<std::string> ids;
  for (const auto& [key, op] : document_operations()) {
    SCOPED_TRACE(key.first + ' ' + key.second);
    const auto* responses = op->if_contains("responses");
    ASSERT_NE(responses, nullptr);
    ASSERT_TRUE(responses->is_object());
    EXPECT_FALSE(responses->as_object().empty());
    for (const auto& [status, response] : responses->as_object()) {
      const auto* resp = deref(response);
      ASSERT_NE(resp, nullptr) << status;
      EXPECT_TRUE(resp->contains("description")) << status;
    }
    const auto* id = op->if_contains("operationId");
    ASSERT_NE(id, nullptr);
    ASSERT_TRUE(id->is_string());
    EXPECT_TRUE(ids.emplace(std::string{id->as_string()}).second)
      << "duplicate operationId " << id->as_string();
    EXPECT_TRUE(op->contains("security"));
  }
}

TEST(openapi, path_parameters_match_the_template) {
  for (const auto& [key, op] : document_operations()) {
    SCOPED_TRACE(key.first + ' ' + key.second);
    std::set<std::string> in_template;
    const auto& path = key.second;
    for (size_t pos = path.find('{'); pos != std::string::npos;
         pos = path.find('{', pos + 1))
      in_template.insert(path.substr(pos + 1, path.find('}', pos) - pos - 1));
    std::set<std::string> declared;
    if (const auto* params = op->if_contains("parameters")) {
      for (const auto& p : params->as_array()) {
        const auto* param = deref(p);
        ASSERT_NE(param, nullptr);
        if (param->at("in") == "path") {
          EXPECT_EQ(param->at("required"), true);
          declared.emplace(param->at("name").as_string());
        }
      }
    }
    EXPECT_EQ(declared, in_template);
  }
}

TEST(openapi, every_reference_resolves) {
  size_t count = 0;
  auto check = [&count](std::string_view ref) {
    ++count;
    EXPECT_NE(resolve(ref), nullptr) << "dangling $ref " << ref;
  };
  for_each_ref(document(), check);
  EXPECT_GT(count, 0u);
}

TEST(openapi, the_spec_routes_keep_the_spec_status_codes_and_ids) {
  // From shared/spec/webhook-ingress.swagger.yaml.
  struct spec_op {
    const char* method;
    const char* path;
    const char* operation_id;
    std::set<std::string> statuses;
  };
  const spec_op spec[] = {
    {"post",
     "/v1/webhook/endpoints",
     "create_endpoint",
     {"201", "400", "422", "503"}},
    {"get",
     "/v1/webhook/endpoints/list",
     "list_endpoints",
     {"200", "204", "400", "422", "503"}},
    {"get",
     "/v1/webhook/endpoints/{id}",
     "get_endpoint_by_id",
     {"200", "400", "404", "422", "503"}},
    {"put",
     "/v1/webhook/endpoints/{id}/disable",
     "disable_endpoint",
     {"204", "400", "422", "503"}},
    {"put",
     "/v1/webhook/endpoints/{id}/enable",
     "enable_endpoint",
     {"204", "400", "422", "503"}},
    {"put",
     "/v1/webhook/endpoints/{id}/statistics",
     "get_endpoint_statistics",
     {"200", "400", "422", "503"}},
  };
  auto ops = document_operations();
  for (const auto& x : spec) {
    SCOPED_TRACE(std::string{x.method} + ' ' + x.path);
    auto i = ops.find(operation_key{x.method, x.path});
    ASSERT_NE(i, ops.end());
    const auto& op = *i->second;
    EXPECT_EQ(op.at("operationId"), x.operation_id);
    const auto& responses = op.at("responses").as_object();
    for (const auto& status : x.statuses)
      EXPECT_TRUE(responses.contains(status)) << "missing " << status;
    // Every status besides the spec's is one of the documented extensions.
    for (const auto& [status, response] : responses) {
      std::string s{status};
      if (x.statuses.count(s) == 0) {
        EXPECT_TRUE(s == "401" || s == "404" || s == "413" || s == "414" ||
                    s == "500")
          << "unexpected " << s;
      }
    }
  }
}

TEST(openapi, the_spec_definitions_are_components) {
  const auto& schemas = document().at("components").at("schemas").as_object();
  for (auto name :
       {"CreateEndpointRequest", "ErrorInfo", "Meta",
        "PaginatedResponse-WebhookEndpoint", "Pagination", "Response-any",
        "Response-api_WebhookEndpoint", "Response-api_WebhookStatistics",
        "WebhookEndpoint", "WebhookEndpointStatus", "WebhookStatistics"})
    EXPECT_TRUE(schemas.contains(name)) << name;
  const auto& endpoint = schemas.at("WebhookEndpoint").as_object();
  for (auto field : {"identifier", "url", "secret", "event_types", "headers",
                     "status", "create_timestamp", "last_modified"})
    EXPECT_TRUE(endpoint.at("properties").as_object().contains(field)) << field;
}
