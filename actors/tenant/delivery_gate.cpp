#include "actors/tenant/delivery_gate.hpp"

#include <algorithm>

namespace wi {

uint64_t delivery_burst(uint32_t rate) noexcept {
  return std::max<uint64_t>(uint64_t{rate} / 10, 1);
}

bucket_decision take_delivery_token(const token_bucket& bucket, uint32_t rate,
                                    limit_clock::time_point now) {
  return take_token(bucket, rate, delivery_burst(rate), now);
}

fifo_verdict decide_fifo(delivery_ordering ordering, uint64_t seq,
                         std::optional<uint64_t> head, bool key_busy) noexcept {
  if (ordering != delivery_ordering::fifo)
    return fifo_verdict::attempt;
  if (head && *head < seq)
    return fifo_verdict::not_head;
  return key_busy ? fifo_verdict::key_busy : fifo_verdict::attempt;
}

void fifo_lanes::add(const fifo_lane& lane, uint64_t seq,
                     const std::string& event_id) {
  lanes_[lane].emplace(seq, event_id);
}

void fifo_lanes::start(const fifo_lane& lane, const std::string& event_id) {
  busy_[lane] = event_id;
}

bool fifo_lanes::finish(const fifo_lane& lane, const std::string& event_id) {
  auto i = busy_.find(lane);
  if (i == busy_.end() || i->second != event_id)
    return false;
  busy_.erase(i);
  return true;
}

void fifo_lanes::drop_endpoint(endpoint_id ep) {
  auto first = lanes_.lower_bound(fifo_lane{ep, std::string{}});
  auto last = first;
  while (last != lanes_.end() && last->first.first == ep)
    ++last;
  lanes_.erase(first, last);
}

} // namespace wi
