// The move coordinator's thread pool (actors/cluster/mover.hpp).

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "actors/cluster/mover.hpp"

namespace {

using namespace std::chrono_literals;

// Two threads wait for the same due entry; the one that runs it erases it
// while the other still waits on its time. The waiting thread must not
// read the erased entry's time point afterwards (it did: wait_until was
// given a reference into the map; ASan reported a heap-use-after-free in
// move_test under CI's sanitizer build).
TEST(thread_runner, threads_waiting_on_one_entry_survive_its_removal) {
  std::atomic<int> ran{0};
  {
    wi::cluster::thread_runner runner{4};
    for (int round = 0; round < 20; ++round) {
      runner.post_after(2ms, [&ran] { ++ran; });
      std::this_thread::sleep_for(4ms);
    }
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (ran.load() < 20 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(ran.load(), 20);
}

} // namespace
