#include "http/error_mapping.hpp"

#include <gtest/gtest.h>

#include <caf/sec.hpp>

using namespace wi::http;
using wi::errc;

TEST(map_error, every_code) {
  struct row {
    errc code;
    int status;
    std::string_view name;
  };
  for (auto [code, status, name] : {
         row{errc::invalid_json, 400, "INVALID_JSON"},
         row{errc::invalid_parameter, 400, "INVALID_PARAMETER"},
         row{errc::validation_failed, 422, "VALIDATION_FAILED"},
         row{errc::unauthorized, 401, "UNAUTHORIZED"},
         row{errc::forbidden, 403, "FORBIDDEN"},
         row{errc::not_found, 404, "NOT_FOUND"},
         row{errc::route_not_found, 404, "ROUTE_NOT_FOUND"},
         row{errc::method_not_allowed, 405, "METHOD_NOT_ALLOWED"},
         row{errc::payload_too_large, 413, "PAYLOAD_TOO_LARGE"},
         row{errc::storage_unavailable, 503, "STORAGE_UNAVAILABLE"},
         row{errc::not_ready, 503, "NOT_READY"},
         row{errc::overloaded, 503, "OVERLOADED"},
         row{errc::tenant_unavailable, 503, "TENANT_UNAVAILABLE"},
         row{errc::corrupt_data, 500, "INTERNAL"},
         row{errc::internal, 500, "INTERNAL"},
         row{errc::none, 500, "INTERNAL"},
         row{static_cast<errc>(200), 500, "INTERNAL"},
       }) {
    auto res = map_error(code);
    EXPECT_EQ(res.status, status) << wi::to_string(code);
    EXPECT_EQ(res.code, name) << wi::to_string(code);
  }
}

TEST(map_error, from_caf_error) {
  auto res = map_error(wi::make_error(errc::validation_failed, "url", "x"));
  EXPECT_EQ(res.status, 422);
  EXPECT_EQ(res.code, "VALIDATION_FAILED");
  // Errors of another category are bugs here.
  res = map_error(caf::make_error(caf::sec::request_timeout));
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.code, "INTERNAL");
}
