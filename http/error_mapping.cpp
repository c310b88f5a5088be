#include "http/error_mapping.hpp"

namespace wi::http {

http_error map_error(wi::errc code) noexcept {
  switch (code) {
  case errc::invalid_json:
    return {400, "INVALID_JSON"};
  case errc::invalid_parameter:
    return {400, "INVALID_PARAMETER"};
  case errc::validation_failed:
    return {422, "VALIDATION_FAILED"};
  case errc::unauthorized:
    return {401, "UNAUTHORIZED"};
  case errc::forbidden:
    return {403, "FORBIDDEN"};
  case errc::not_found:
    return {404, "NOT_FOUND"};
  case errc::route_not_found:
    return {404, "ROUTE_NOT_FOUND"};
  case errc::method_not_allowed:
    return {405, "METHOD_NOT_ALLOWED"};
  case errc::payload_too_large:
    return {413, "PAYLOAD_TOO_LARGE"};
  case errc::uri_too_long:
    return {414, "URI_TOO_LONG"};
  case errc::storage_unavailable:
    return {503, "STORAGE_UNAVAILABLE"};
  case errc::not_ready:
    return {503, "NOT_READY"};
  case errc::overloaded:
    return {503, "OVERLOADED"};
  case errc::too_many_pending:
    return {429, "TOO_MANY_PENDING"};
  case errc::tenant_unavailable:
    return {503, "TENANT_UNAVAILABLE"};
  case errc::rate_limited:
    return {429, "RATE_LIMITED"};
  case errc::quota_exceeded:
    return {429, "QUOTA_EXCEEDED"};
  case errc::endpoint_limit_reached:
    return {422, "ENDPOINT_LIMIT_REACHED"};
  case errc::none:
  case errc::corrupt_data:
  case errc::internal:
    break;
  }
  return {500, "INTERNAL"};
}

http_error map_error(const caf::error& err) {
  return map_error(wi::code_of(err));
}

} // namespace wi::http
