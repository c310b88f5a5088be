#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace wi::cluster::testing {

/// `n` distinct tenant ids spread over the id space, the same every run.
inline std::vector<std::string> tenant_ids(size_t n) {
  std::vector<std::string> result;
  for (size_t i = 0; i < n; ++i)
    result.push_back("t" + std::to_string(i * 7919 + 13));
  return result;
}

} // namespace wi::cluster::testing
