#include "support/api.hpp"

#include <random>
#include <sstream>
#include <stdexcept>

#include <boost/json/serialize.hpp>

#include "support/assertions.hpp"

namespace wi_e2e {

namespace {

[[noreturn]] void unexpected(const http_response& r, std::string_view what) {
  std::ostringstream os;
  os << what << " failed\n" << r;
  throw std::runtime_error(os.str());
}

} // namespace

std::string endpoint_path(std::string_view id, std::string_view suffix) {
  std::string result{endpoints_path};
  result += '/';
  result += id;
  result += suffix;
  return result;
}

std::string endpoint_path(int64_t id, std::string_view suffix) {
  return endpoint_path(std::to_string(id), suffix);
}

tenant create_tenant(const http_client& client, std::string_view admin_token,
                     std::string_view name) {
  boost::json::object body;
  body["name"] = name;
  auto r = client.post("/admin/v1/tenants", boost::json::serialize(body),
                       bearer(admin_token));
  if (!is_success(r, 201) || !r.data().is_object())
    unexpected(r, "create tenant");
  tenant result;
  result.data = r.data().get_object();
  result.id = str_at(r.data(), "id");
  result.name = str_at(r.data(), "name");
  result.token = str_at(r.data(), "token");
  return result;
}

boost::json::object endpoint_request(std::string_view url,
                                     std::string_view secret,
                                     const std::vector<std::string>& types) {
  boost::json::object result;
  result["url"] = url;
  result["secret"] = secret;
  boost::json::array arr;
  for (const auto& t : types)
    arr.emplace_back(t);
  result["event_types"] = std::move(arr);
  return result;
}

boost::json::object create_endpoint(const http_client& client,
                                    std::string_view token,
                                    const boost::json::object& body) {
  auto r =
    client.post(endpoints_path, boost::json::serialize(body), bearer(token));
  if (!is_success(r, 201) || !is_endpoint(r.data()))
    unexpected(r, "create endpoint");
  return r.data().get_object();
}

boost::json::object get_endpoint(const http_client& client,
                                 std::string_view token, int64_t id) {
  auto r = client.get(endpoint_path(id), bearer(token));
  if (!is_success(r, 200) || !is_endpoint(r.data()))
    unexpected(r, "get endpoint");
  return r.data().get_object();
}

std::string random_hex(size_t n) {
  static constexpr char hex[] = "0123456789abcdef";
  std::random_device rd;
  std::mt19937_64 gen{rd()};
  std::uniform_int_distribution<int> dist{0, 15};
  std::string result;
  for (size_t i = 0; i < n; ++i)
    result += hex[dist(gen)];
  return result;
}

} // namespace wi_e2e
