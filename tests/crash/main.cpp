// Entry point of `crash_tests`: takes the harness's own flags off the command
// line, then hands the rest to GoogleTest.

#include <cstdlib>
#include <exception>
#include <iostream>

#include <gtest/gtest.h>

#include "crash/options.hpp"

int main(int argc, char** argv) {
  try {
    wi_crash::set_options(wi_crash::parse_crash_options(
      argc, argv, std::getenv("WI_CRASH_ROUNDS")));
  } catch (const std::exception& e) {
    std::cerr << "crash_tests: " << e.what()
              << "\nusage: crash_tests [--rounds N] [--seed S] "
                 "[GoogleTest flags]\n";
    return EXIT_FAILURE;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
