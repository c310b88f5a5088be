#include "actors/tenant/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace wi::latency_histogram {

namespace {

const std::vector<uint32_t>& bounds() {
  static const std::vector<uint32_t> result = [] {
    std::vector<uint32_t> xs{1};
    while (xs.back() < 3'600'000u) {
      auto next = static_cast<uint32_t>(std::floor(xs.back() * 1.05));
      xs.push_back(std::max(next, xs.back() + 1));
    }
    return xs;
  }();
  return result;
}

} // namespace

size_t bucket_count() {
  return bounds().size();
}

uint32_t upper_bound(size_t i) {
  return bounds()[std::min(i, bounds().size() - 1)];
}

void record(std::vector<uint32_t>& buckets, uint32_t latency_ms) {
  const auto& b = bounds();
  if (buckets.size() != b.size())
    buckets.assign(b.size(), 0);
  auto i = std::lower_bound(b.begin(), b.end(), latency_ms) - b.begin();
  auto index = std::min<size_t>(static_cast<size_t>(i), b.size() - 1);
  ++buckets[index];
}

uint32_t percentile(const std::vector<uint32_t>& buckets, double p) {
  uint64_t total = 0;
  for (auto n : buckets)
    total += n;
  if (total == 0)
    return 0;
  auto rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(total)));
  rank = std::clamp<uint64_t>(rank, 1, total);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen >= rank)
      return upper_bound(i);
  }
  return upper_bound(buckets.size() - 1);
}

} // namespace wi::latency_histogram
