// Helpers shared by the webc/ unit tests: fixture locations, host files, running
// the built `webcfs` binary, and Result matchers.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "tests/common/paths.h"
#include "webc/base/result.h"
#include "webc/writer.h"

namespace webcfs::webc::testing {

using webcfs::testing::FixtureDir;
using webcfs::testing::FixturePath;
using webcfs::testing::WasmerOracleDir;
using webcfs::testing::WebcfsBinary;
// Fixture file names, in the order of expected.json.
std::vector<std::string> FixtureNames();
// The whole of expected.json as text.
std::string ExpectedJsonText();

std::string ReadHostFile(const std::string& path);
void WriteHostFile(const std::string& path, std::string_view bytes);
// A fresh directory under the test temp dir, removed by the caller if wanted.
std::string MakeTempDir(const std::string& tag);

// Writes a v3 container with an empty manifest and one volume, "/v", holding
// `top` at its root.
Result<void> WriteOneVolume(const std::string& path, std::map<std::string, WriteNode> top);

// A root of 300 directories (40 files each) and 300 files. Written, each
// child's record is followed by its subtree, as Wasmer writes them: the root's
// child records lie far apart, spanning more than a lazy listing's 1 MiB read
// window, so a lazy listing reads them one at a time.
std::map<std::string, WriteNode> WideScatteredTree();

// The built webcfs executable.

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
