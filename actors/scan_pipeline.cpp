#include "actors/scan_pipeline.hpp"

#include <algorithm>
#include <utility>

namespace wi {

scan_pipeline::scan_pipeline(consumer f, size_t batch_bytes, size_t max_batches)
  : f_(std::move(f)), batch_bytes_(std::max<size_t>(batch_bytes, 1)),
    max_batches_(std::max<size_t>(max_batches, 1)), worker_([this] { run(); }) {
}

scan_pipeline::~scan_pipeline() {
  static_cast<void>(finish());
}

caf::error scan_pipeline::push(const scan_entry& x) {
  if (filling_.bytes.size() >= batch_bytes_) {
    hand_over();
    std::lock_guard guard{mtx_};
    if (failed_)
      return error_;
  }
  filling_.bytes.append(x.key);
  filling_.bytes.append(x.value);
  filling_.entries.push_back(
    entry{x.number, x.note, x.key.size(), x.value.size()});
  return {};
}

void scan_pipeline::hand_over() {
  std::unique_lock guard{mtx_};
  changed_.wait(guard, [this] { return full_.size() < max_batches_; });
  full_.push_back(std::move(filling_));
  filling_ = batch{};
  if (!spare_.empty()) {
    filling_ = std::move(spare_.back());
    spare_.pop_back();
  }
  changed_.notify_all();
}

caf::error scan_pipeline::finish() {
  if (!worker_.joinable()) {
    std::lock_guard guard{mtx_};
    return error_;
  }
  if (!filling_.entries.empty())
    hand_over();
  {
    std::lock_guard guard{mtx_};
    done_ = true;
  }
  changed_.notify_all();
  worker_.join();
  std::lock_guard guard{mtx_};
  return error_;
}

void scan_pipeline::run() {
  for (;;) {
    batch b;
    {
      std::unique_lock guard{mtx_};
      changed_.wait(guard, [this] { return !full_.empty() || done_; });
      if (full_.empty())
        return; // done, and everything was consumed
      b = std::move(full_.front());
      full_.erase(full_.begin());
      changed_.notify_all();
      if (failed_) // drain without consuming, so the reader never blocks
        continue;
    }
    std::string_view rest = b.bytes;
    caf::error err;
    for (const auto& e : b.entries) {
      scan_entry x{e.number, e.note, rest.substr(0, e.key_size),
                   rest.substr(e.key_size, e.value_size)};
      rest.remove_prefix(e.key_size + e.value_size);
      if ((err = f_(x)))
        break;
    }
    b.bytes.clear();
    b.entries.clear();
    std::lock_guard guard{mtx_};
    if (err) {
      failed_ = true;
      error_ = std::move(err);
    }
    spare_.push_back(std::move(b));
  }
}

} // namespace wi
