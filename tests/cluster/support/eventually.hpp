#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace wi_cluster_test {

/// Polls `pred` every 20 ms until it holds or `timeout` passed; returns
/// whether it held. For states that other processes (etcd, nodes) reach.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return pred();
}

} // namespace wi_cluster_test
