// `webcfs inspect --json` on a wide directory: every entry once, in walk
// order, with its own type, size and hash (the output is built by appending,
// not by keyed insertion, so this is what must hold).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/unit/webc/webc_test_util.h"
#include "webc/base/sha256.h"

namespace webcfs::webc {
namespace {

using namespace webcfs::webc::testing;

TEST(InspectJson, WideDirectoryListsEveryEntryOnceInWalkOrder) {
  constexpr int kFiles = 20000;
  std::map<std::string, WriteNode> wide;
  auto name_of = [](int i) {
    std::string n = std::to_string(i);
    return "f" + std::string(5 - n.size(), '0') + n;
  };
  for (int i = 0; i < kFiles; ++i) {
    WriteNode f;
    f.contents = std::to_string(i);
    f.mtime = 1000 + i;
    wide[name_of(i)] = std::move(f);
  }
  std::map<std::string, WriteNode> top;
  top["wide"].is_dir = true;
  top["wide"].children = std::move(wide);
  top["a"].contents = "first";
  top["z"].is_dir = true;
  const TempDir temp("webcfs-inspect-wide");
  const std::string& dir = temp.path();
  const std::string path = dir + "/wide.webc";
  ASSERT_OK(WriteOneVolume(path, std::move(top)));

  const CommandResult r = RunCommand({WebcfsBinary(), "inspect", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Parsed unordered (nlohmann::json), since parsing into ordered_json is
  // itself quadratic; the order is checked on the text.
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  const nlohmann::json& volume = doc.at("volumes").at("/v");
  ASSERT_EQ(volume.size(), static_cast<size_t>(kFiles + 3));
  EXPECT_EQ(volume.at("/a").at("type"), "file");
  EXPECT_EQ(volume.at("/wide").at("type"), "dir");
  EXPECT_EQ(volume.at("/z").at("type"), "dir");
  for (int i = 0; i < kFiles; ++i) {
    const nlohmann::json& e = volume.at("/wide/" + name_of(i));
    const std::string contents = std::to_string(i);
    ASSERT_EQ(e.at("type"), "file") << i;
    ASSERT_EQ(e.at("size"), contents.size()) << i;
    ASSERT_EQ(e.at("sha256"), ToHex(Sha256::Of(contents))) << i;
    ASSERT_EQ(e.at("mtime"), 1000 + i) << i;
  }
  // Depth-first in stored (byte) order: /a, /wide, its children, /z.
  size_t at = r.out.find("\"/a\": {");
  ASSERT_NE(at, std::string::npos);
  at = r.out.find("\"/wide\": {", at);
  ASSERT_NE(at, std::string::npos);
  for (int i = 0; i < kFiles; ++i) {
    at = r.out.find("\"/wide/" + name_of(i) + "\": {", at);
    ASSERT_NE(at, std::string::npos) << "entry " << i << " missing or out of order";
  }
  EXPECT_NE(r.out.find("\"/z\": {", at), std::string::npos);
}

}  // namespace
}  // namespace webcfs::webc
