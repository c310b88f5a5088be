#include "actors/common/clock.hpp"

#include <chrono>

namespace wi {

namespace {

class system_wall_clock final : public clock {
 public:
  [[nodiscard]] unix_millis now() const noexcept override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
  }

  [[nodiscard]] std::chrono::steady_clock::time_point
  steady_now() const noexcept override {
    return std::chrono::steady_clock::now();
  }
};

} // namespace

const clock_ptr& wall_clock() noexcept {
  static const clock_ptr instance = std::make_shared<system_wall_clock>();
  return instance;
}

} // namespace wi
