#include "crash/options.hpp"

#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>

namespace wi_crash {

namespace {

crash_options global_options;

/// Parses all of `x` as an unsigned decimal number of type `T`.
template <class T>
T parse_number(std::string_view flag, std::string_view x) {
  T result{};
  auto [ptr, ec] = std::from_chars(x.data(), x.data() + x.size(), result);
  if (x.empty() || ec != std::errc{} || ptr != x.data() + x.size())
    throw std::invalid_argument(std::string{flag} +
                                " expects a non-negative integer, got '" +
                                std::string{x} + "'");
  return result;
}

int parse_rounds(std::string_view flag, std::string_view x) {
  auto n = parse_number<unsigned>(flag, x);
  if (n < 1 || n > 100'000)
    throw std::invalid_argument(std::string{flag} +
                                " must be between 1 and 100000");
  return static_cast<int>(n);
}

} // namespace

crash_options parse_crash_options(int& argc, char** argv,
                                  const char* env_rounds) {
  crash_options result;
  if (env_rounds != nullptr && *env_rounds != '\0')
    result.rounds = parse_rounds("WI_CRASH_ROUNDS", env_rounds);
  int out = argc > 0 ? 1 : 0;
  for (int i = out; i < argc; ++i) {
    std::string_view arg = argv[i];
    // Returns the flag's value (from `--flag=v` or the next argument), or
    // nullopt if `arg` is not `flag`.
    auto value_of = [&](std::string_view flag) -> std::optional<std::string> {
      if (arg == flag) {
        if (i + 1 >= argc)
          throw std::invalid_argument(std::string{flag} + " needs a value");
        return std::string{argv[++i]};
      }
      if (arg.starts_with(flag) && arg.size() > flag.size() &&
          arg[flag.size()] == '=')
        return std::string{arg.substr(flag.size() + 1)};
      return std::nullopt;
    };
    if (auto rounds = value_of("--rounds")) {
      result.rounds = parse_rounds("--rounds", *rounds);
    } else if (auto seed = value_of("--seed")) {
      result.seed = parse_number<uint64_t>("--seed", *seed);
    } else {
      argv[out++] = argv[i];
    }
  }
  if (out < argc)
    argv[out] = nullptr;
  argc = out;
  return result;
}

const crash_options& options() {
  return global_options;
}

void set_options(const crash_options& x) {
  global_options = x;
}

} // namespace wi_crash
