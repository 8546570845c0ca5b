// Helpers shared by the webc/ unit tests: fixture names, test trees and
// Result matchers (host files, temporary directories and running the built
// `webcfs` binary come from tests/common/host.h).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "tests/common/host.h"
#include "tests/common/paths.h"
#include "webc/base/result.h"
#include "webc/writer.h"

namespace webcfs::webc::testing {

using webcfs::testing::CommandResult;
using webcfs::testing::FixtureDir;
using webcfs::testing::FixturePath;
using webcfs::testing::ReadHostFile;
using webcfs::testing::RunCommand;
using webcfs::testing::TempDir;
using webcfs::testing::WasmerOracleDir;
using webcfs::testing::WebcfsBinary;
using webcfs::testing::WriteHostFile;
// Fixture file names, in the order of expected.json.
std::vector<std::string> FixtureNames();
// The whole of expected.json as text.
std::string ExpectedJsonText();

// Writes a v3 container with an empty manifest and one volume, "/v", holding
// `top` at its root.
Result<void> WriteOneVolume(const std::string& path, std::map<std::string, WriteNode> top);

// A root of 300 directories (40 files each) and 300 files. Written, each
// child's record is followed by its subtree, as Wasmer writes them: the root's
// child records lie far apart, spanning more than a lazy listing's 1 MiB read
// window, so a lazy listing reads them one at a time.
std::map<std::string, WriteNode> WideScatteredTree();

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
