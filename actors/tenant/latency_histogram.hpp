#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wi::latency_histogram {

/// Latency buckets of about 5% relative width: bucket `i` counts latencies
/// in `(upper_bound(i - 1), upper_bound(i)]` milliseconds, bucket 0 holds
/// 0-1 ms and the last bucket everything above one hour. Percentiles report
/// a bucket's upper bound, so they are exact to within 5%.

/// Number of buckets.
[[nodiscard]] size_t bucket_count();

/// Upper bound of bucket `i` in milliseconds.
[[nodiscard]] uint32_t upper_bound(size_t i);

/// Adds one latency to `buckets` (sized on first use).
void record(std::vector<uint32_t>& buckets, uint32_t latency_ms);

/// Returns the upper bound of the bucket holding the `p`-th percentile
/// (`0 < p <= 1`), or 0 for an empty histogram.
[[nodiscard]] uint32_t percentile(const std::vector<uint32_t>& buckets,
                                  double p);

} // namespace wi::latency_histogram
