#pragma once

#include <string_view>

#include <caf/error.hpp>

#include "webhook_ingress/error.hpp"

namespace wi::http {

/// The HTTP rendering of an error: a status code and a stable upper-case
/// error code for the envelope's `error.code`.
struct http_error {
  /// HTTP status code, e.g. 422.
  int status;
  /// Stable upper-case code, e.g. `"VALIDATION_FAILED"`; points to static
  /// storage.
  std::string_view code;
};

/// Maps a project error code to its HTTP status and error code. This is the
/// ONE place that does so. `corrupt_data`, `internal`, `none` and any value
/// outside the enum map to 500 `INTERNAL`.
[[nodiscard]] http_error map_error(wi::errc code) noexcept;

/// Maps any error: errors of another category than `wi` (CAF system errors)
/// map to 500 `INTERNAL`, see `wi::code_of`.
[[nodiscard]] http_error map_error(const caf::error& err);

} // namespace wi::http
