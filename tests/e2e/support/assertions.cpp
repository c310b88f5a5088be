#include "support/assertions.hpp"

#include <sstream>
#include <stdexcept>

#include <boost/json/serialize.hpp>

#include "support/time_util.hpp"

namespace wi_e2e {

namespace {

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

AssertionResult fail(const http_response& r, const std::string& why) {
  return AssertionFailure() << why << "\n" << r;
}

/// Checks content type, `success`, `meta` and the request id header.
AssertionResult check_envelope(const http_response& r, long status,
                               bool success) {
  if (r.status != status)
    return fail(r, "expected status " + std::to_string(status) + ", got " +
                     std::to_string(r.status));
  if (!r.header("content-type").starts_with("application/json"))
    return fail(r, "content-type is not application/json");
  if (!r.is_json || !r.json.is_object())
    return fail(r, "body is not a JSON object");
  const auto& obj = r.json.get_object();
  auto* ok = obj.if_contains("success");
  if (ok == nullptr || !ok->is_bool() || ok->get_bool() != success)
    return fail(r, std::string{"\"success\" is not "} +
                     (success ? "true" : "false"));
  auto* meta = obj.if_contains("meta");
  if (meta == nullptr || !meta->is_object())
    return fail(r, "no \"meta\" object");
  const auto& m = meta->get_object();
  auto* rid = m.if_contains("request_id");
  if (rid == nullptr || !rid->is_string() ||
      !is_valid_request_id(rid->get_string()))
    return fail(r, "meta.request_id missing or not a valid request id");
  auto* ts = m.if_contains("timestamp");
  if (ts == nullptr || !ts->is_string() || !parse_rfc3339(ts->get_string()))
    return fail(r, "meta.timestamp missing or not RFC 3339");
  auto* version = m.if_contains("version");
  if (version == nullptr || !version->is_string() ||
      version->get_string() != "1.0")
    return fail(r, "meta.version is not \"1.0\"");
  if (r.header("x-request-id") != std::string_view{rid->get_string()})
    return fail(r, "X-Request-Id header differs from meta.request_id");
  return AssertionSuccess();
}

} // namespace

bool is_valid_request_id(std::string_view x) {
  if (x.empty() || x.size() > 128)
    return false;
  for (char c : x) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-';
    if (!ok)
      return false;
  }
  return true;
}

AssertionResult is_success(const http_response& r, long status) {
  if (auto res = check_envelope(r, status, true); !res)
    return res;
  const auto& obj = r.json.get_object();
  if (!obj.contains("data"))
    return fail(r, "no \"data\" member");
  if (obj.contains("error"))
    return fail(r, "success envelope has an \"error\" member");
  return AssertionSuccess();
}

AssertionResult is_error(const http_response& r, long status,
                         std::string_view code) {
  if (auto res = check_envelope(r, status, false); !res)
    return res;
  const auto& obj = r.json.get_object();
  if (auto* data = obj.if_contains("data"); data && !data->is_null())
    return fail(r, "error envelope has non-null \"data\"");
  auto* err = obj.if_contains("error");
  if (err == nullptr || !err->is_object())
    return fail(r, "no \"error\" object");
  const auto& e = err->get_object();
  auto* c = e.if_contains("code");
  if (c == nullptr || !c->is_string() || c->get_string() != code)
    return fail(r, "expected error.code " + std::string{code});
  auto* msg = e.if_contains("message");
  if (msg == nullptr || !msg->is_string() || msg->get_string().empty())
    return fail(r, "error.message missing or empty");
  if (auto* field = e.if_contains("field"); field && !field->is_string())
    return fail(r, "error.field is not a string");
  return AssertionSuccess();
}

AssertionResult is_field_error(const http_response& r, long status,
                               std::string_view code, std::string_view field) {
  if (auto res = is_error(r, status, code); !res)
    return res;
  const auto& e = r.json.get_object().at("error").get_object();
  auto* f = e.if_contains("field");
  if (f == nullptr || f->get_string() != field)
    return fail(r, "expected error.field \"" + std::string{field} + "\"");
  std::string_view msg = e.at("message").get_string();
  if (msg.find(field) == std::string_view::npos)
    return fail(r,
                "error.message does not name \"" + std::string{field} + "\"");
  return AssertionSuccess();
}

AssertionResult is_no_content(const http_response& r) {
  if (r.status != 204)
    return fail(r, "expected status 204, got " + std::to_string(r.status));
  if (!r.body.empty())
    return fail(r, "204 with a body");
  return AssertionSuccess();
}

AssertionResult is_endpoint(const boost::json::value& v) {
  auto bad = [&](const std::string& why) {
    return AssertionFailure() << why << " in " << boost::json::serialize(v);
  };
  if (!v.is_object())
    return bad("not an object");
  const auto& o = v.get_object();
  auto* id = o.if_contains("identifier");
  if (id == nullptr || !(id->is_int64() || id->is_uint64()) || as_int(*id) < 1)
    return bad("identifier not an integer >= 1");
  for (auto key :
       {"url", "secret", "status", "create_timestamp", "last_modified"})
    if (auto* x = o.if_contains(key); x == nullptr || !x->is_string())
      return bad(std::string{key} + " missing or not a string");
  auto* types = o.if_contains("event_types");
  if (types == nullptr || !types->is_array() || types->get_array().empty())
    return bad("event_types missing or empty");
  for (const auto& t : types->get_array())
    if (!t.is_string())
      return bad("event_types has a non-string");
  auto* headers = o.if_contains("headers");
  if (headers == nullptr || !headers->is_object())
    return bad("headers missing or not an object");
  for (const auto& kv : headers->get_object())
    if (!kv.value().is_string())
      return bad("headers has a non-string value");
  std::string_view status = o.at("status").get_string();
  if (status != "active" && status != "inactive" && status != "disabled")
    return bad("status not in the enum");
  auto created = o.at("create_timestamp").get_string();
  auto modified = o.at("last_modified").get_string();
  if (!is_rfc3339_utc(created) || !is_rfc3339_utc(modified))
    return bad("timestamps not RFC 3339 UTC");
  if (*parse_rfc3339(modified) < *parse_rfc3339(created))
    return bad("last_modified before create_timestamp");
  return AssertionSuccess();
}

boost::json::value spec_fields(boost::json::value endpoint) {
  if (auto* obj = endpoint.if_object())
    for (auto key : {"status_reason", "consecutive_failures", "disabled_at",
                     "next_probe_at"})
      obj->erase(key);
  return endpoint;
}

boost::json::value without_meta(const http_response& r) {
  auto v = r.json;
  if (auto* obj = v.if_object())
    obj->erase("meta");
  return v;
}

int64_t as_int(const boost::json::value& v) {
  if (v.is_int64())
    return v.get_int64();
  if (v.is_uint64())
    return static_cast<int64_t>(v.get_uint64());
  throw std::runtime_error("not an integer: " + boost::json::serialize(v));
}

std::string str_at(const boost::json::value& v, std::string_view key) {
  if (auto* obj = v.if_object())
    if (auto* x = obj->if_contains(key); x && x->is_string())
      return std::string{x->get_string()};
  throw std::runtime_error("no string \"" + std::string{key} +
                           "\" in: " + boost::json::serialize(v));
}

} // namespace wi_e2e
