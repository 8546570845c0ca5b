// Helpers shared by the webc/ unit tests: fixture locations, host files, running
// the built `webcfs` binary, and Result matchers.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "webc/result.h"

namespace webcfs::webc::testing {

// WEBCFS_SHARED_DIR from the environment, else the compile-time default.
std::string SharedDir();
std::string FixtureDir();
std::string FixturePath(const std::string& name);
// Fixture file names, in the order of expected.json.
std::vector<std::string> FixtureNames();
// The whole of expected.json as text.
std::string ExpectedJsonText();

std::string ReadHostFile(const std::string& path);
void WriteHostFile(const std::string& path, std::string_view bytes);
// A fresh directory under the test temp dir, removed by the caller if wanted.
std::string MakeTempDir(const std::string& tag);

// The built webcfs executable.
std::string WebcfsBinary();

struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv);

inline std::vector<std::byte> ToBytes(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

}  // namespace webcfs::webc::testing

#define ASSERT_OK(expr)                                                          \
  do {                                                                           \
    const auto& webcfs_r_ = (expr);                                              \
    ASSERT_TRUE(webcfs_r_.ok()) << #expr << ": " << webcfs_r_.error().message(); \
  } while (0)

#define EXPECT_OK(expr)                                                          \
  do {                                                                           \
    const auto& webcfs_r_ = (expr);                                              \
    EXPECT_TRUE(webcfs_r_.ok()) << #expr << ": " << webcfs_r_.error().message(); \
  } while (0)

// Asserts that `expr` failed with `code` (an Error::Code enumerator name, e.g. kCorrupt).
#define ASSERT_ERROR(expr, expected_code)                                            \
  do {                                                                               \
    const auto& webcfs_r_ = (expr);                                                  \
    ASSERT_FALSE(webcfs_r_.ok()) << #expr << " succeeded";                           \
    ASSERT_EQ(::webcfs::CodeName(webcfs_r_.error().code()),                          \
              std::string(::webcfs::CodeName(::webcfs::Error::Code::expected_code))) \
        << webcfs_r_.error().message();                                              \
  } while (0)
