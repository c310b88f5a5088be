// libFuzzer target: the configuration loader (config.hpp, `load_config`).
// The first byte picks the layer the rest feeds: a TOML file (`--config`),
// `WEBHOOK_INGRESS_*` variables (lines `<key index byte><value>`), or
// command-line flags (split on NUL). Any input must end in a configuration or
// a reported error (an exit code and one line on `err`), never a crash; an
// accepted configuration, printed by `format_config`, loads back to the same
// configuration.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "fuzz_check.hpp"

using wi::fuzz::check;

namespace {

/// A file of this process for the TOML layer, rewritten for every input.
const std::string& toml_path() {
  static const std::string path = [] {
    std::atexit([] { ::unlink(toml_path().c_str()); });
    return "/tmp/wi-fuzz-config-" + std::to_string(::getpid()) + ".toml";
  }();
  return path;
}

void write_file(const std::string& path, std::string_view text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

wi::config_load load(const std::vector<std::string>& args,
                     const wi::environment& env, std::ostringstream& err) {
  std::ostringstream out;
  auto res = wi::load_config(args, env, out, err);
  if (res.exit_code && *res.exit_code != 0)
    check(!err.str().empty(), "failed without a message");
  if (!res.exit_code)
    check(err.str().empty(), "accepted with an error message");
  return res;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};
  std::vector<std::string> args;
  wi::environment env;
  switch (data[0] % 3) {
  case 0:
    write_file(toml_path(), input);
    args = {"--config", toml_path()};
    break;
  case 1: {
    const auto& keys = wi::config_keys();
    std::istringstream lines{std::string{input}};
    for (std::string line; std::getline(lines, line);) {
      if (line.empty())
        continue;
      auto key = keys[static_cast<unsigned char>(line[0]) % keys.size()];
      env[wi::env_name(key)] = line.substr(1);
    }
    break;
  }
  default: {
    size_t start = 0;
    while (start <= input.size()) {
      auto end = input.find('\0', start);
      if (end == std::string_view::npos)
        end = input.size();
      args.emplace_back(input.substr(start, end - start));
      start = end + 1;
    }
    break;
  }
  }
  std::ostringstream err;
  auto res = load(args, env, err);
  if (res.exit_code)
    return 0;
  // What --print-config shows is a config file giving the same settings
  // (but for the admin token, a secret it never shows).
  res.cfg.admin_token.clear();
  auto printed = wi::format_config(res.cfg);
  write_file(toml_path(), printed);
  std::ostringstream again_err;
  auto again = load({"--config", toml_path()}, {}, again_err);
  if (again.exit_code)
    std::fprintf(stderr, "printed:\n%s\nerror: %s\n", printed.c_str(),
                 again_err.str().c_str());
  check(!again.exit_code, "the printed configuration does not load");
  check(wi::format_config(again.cfg) == printed,
        "the printed configuration loads to another one");
  return 0;
}
