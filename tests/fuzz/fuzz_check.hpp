#pragma once

// Helpers of the libFuzzer targets in tests/fuzz: a check that aborts (so
// libFuzzer records the input as a crash) and the error contract every
// decoder and validator of the project promises.

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "webhook_ingress/error.hpp"

namespace wi::fuzz {

/// Aborts with `what` on stderr unless `ok`.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz check failed: %s\n", what);
    std::abort();
  }
}

/// Checks that `err` is a project error with one of `codes`, a non-empty
/// text and, when `needs_field`, a non-empty field (the envelope's contract:
/// stable code, message naming the field).
inline void check_error(const caf::error& err,
                        std::initializer_list<errc> codes,
                        bool needs_field = true) {
  auto code = code_of(err);
  bool known = false;
  for (auto c : codes)
    known = known || c == code;
  check(known, ("unexpected error code " + to_string(code)).c_str());
  check(!text_of(err).empty(), "error without text");
  if (needs_field)
    check(!field_of(err).empty(), "error without field");
}

} // namespace wi::fuzz
