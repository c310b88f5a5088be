#pragma once

#include <cstdint>
#include <optional>

namespace wi_crash {

/// Settings of one harness run.
struct crash_options {
  /// Kill-and-restart rounds (`--rounds N`, else `$WI_CRASH_ROUNDS`, else 20).
  int rounds = 20;
  /// Seed of every random choice the harness makes (`--seed S`); none picks
  /// a random one, which the run prints.
  std::optional<uint64_t> seed;
};

/// Parses and removes `--rounds N`, `--rounds=N`, `--seed S` and `--seed=S`
/// from `argv` (shifting the rest down and updating `argc`), so GoogleTest
/// sees only its own flags. `env_rounds` is `$WI_CRASH_ROUNDS` (may be null);
/// the command line wins over it. Throws `std::invalid_argument` on a missing
/// or malformed value.
crash_options parse_crash_options(int& argc, char** argv,
                                  const char* env_rounds);

/// The options `main` parsed (defaults until `set_options` is called).
const crash_options& options();

/// Stores the options for the tests of this binary.
void set_options(const crash_options& x);

} // namespace wi_crash
