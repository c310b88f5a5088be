#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <caf/error.hpp>

namespace wi {

/// One entry read from the store.
struct scan_entry {
  /// A WAL sequence number, or the sequence a snapshot covers.
  uint64_t number = 0;
  /// Whatever the reader learned about the entry, for the consumer.
  uint32_t note = 0;
  std::string_view key;
  std::string_view value;
};

/// Overlaps reading a store with processing what was read: the reading
/// thread copies each entry into a batch and hands full batches to a
/// worker thread, which calls the consumer for every entry in order.
/// Recovery uses it so that RocksDB iteration (one core) and checking and
/// grouping the records (the other) run at the same time.
///
/// Thread safety: `push` and `finish` are called by one thread, the reader;
/// the consumer runs on the pipeline's own thread, one entry at a time, in
/// push order, so it needs no locking of its own. Memory: at most
/// `max_batches` batches of about `batch_bytes` each are in flight.
class scan_pipeline {
 public:
  /// Processes one entry. Its views are valid only during the call.
  using consumer = std::function<caf::error(const scan_entry&)>;

  /// Starts the worker thread.
  explicit scan_pipeline(consumer f, size_t batch_bytes = 256 * 1024,
                         size_t max_batches = 4);

  /// Finishes (see `finish`) if the owner did not.
  ~scan_pipeline();

  scan_pipeline(const scan_pipeline&) = delete;
  scan_pipeline& operator=(const scan_pipeline&) = delete;

  /// Copies one entry into the queue; blocks while `max_batches` batches
  /// wait. Returns the consumer's first error once it failed (so that
  /// reading stops), else none.
  [[nodiscard]] caf::error push(const scan_entry& x);

  /// Hands over the last batch, waits until the consumer has seen every
  /// entry (or failed) and stops the worker. Returns the consumer's first
  /// error. Idempotent.
  [[nodiscard]] caf::error finish();

 private:
  struct entry {
    uint64_t number;
    uint32_t note;
    size_t key_size;
    size_t value_size;
  };
  struct batch {
    std::string bytes;
    std::vector<entry> entries;
  };

  void hand_over();
  void run();

  consumer f_;
  size_t batch_bytes_;
  size_t max_batches_;
  batch filling_;
  std::mutex mtx_;
  std::condition_variable changed_;
  std::vector<batch> full_;  // guarded by mtx_; oldest first
  std::vector<batch> spare_; // guarded by mtx_
  bool done_ = false;        // guarded by mtx_
  bool failed_ = false;      // guarded by mtx_
  caf::error error_;         // guarded by mtx_
  std::thread worker_;
};

/// Runs `scan(push)` on the calling thread, where `push(entry)` queues an
/// entry for `f` on a second thread (`scan_pipeline`), and waits for `f` to
/// see every entry. Returns the scan's error, else `f`'s first error.
template <class Scan>
[[nodiscard]] caf::error scan_pipelined(Scan scan, scan_pipeline::consumer f) {
  scan_pipeline pipe{std::move(f)};
  auto push = [&pipe](const scan_entry& x) { return pipe.push(x); };
  auto err = scan(push);
  auto late = pipe.finish();
  return err ? err : late;
}

} // namespace wi
