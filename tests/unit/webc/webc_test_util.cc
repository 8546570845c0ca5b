#include "tests/unit/webc/webc_test_util.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace webcfs::webc::testing {

std::string ExpectedJsonText() { return ReadHostFile(FixtureDir() + "/expected.json"); }

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  // Runs at test registration: never throw; a missing file becomes one failing case.
  auto expected = nlohmann::ordered_json::parse(ExpectedJsonText(), nullptr, false);
  if (!expected.is_object()) return {"expected.json missing under " + FixtureDir()};
  for (const auto& [name, value] : expected.items()) names.push_back(name);
  return names;
}

Result<void> WriteOneVolume(const std::string& path, std::map<std::string, WriteNode> top) {
  WriteInput input;
  input.manifest_json = "{}";
  WriteNode root;
  root.is_dir = true;
  root.children = std::move(top);
  input.volumes.push_back({"/v", std::move(root)});
  return WriteV3(input, path);
}

std::map<std::string, WriteNode> WideScatteredTree() {
  std::map<std::string, WriteNode> top;
  for (int d = 0; d < 300; ++d) {
    WriteNode dir;
    dir.is_dir = true;
    for (int f = 0; f < 40; ++f)
      dir.children["file-with-a-long-name-" + std::to_string(f)].contents = "x";
    top["d" + std::to_string(d)] = std::move(dir);
    top["f" + std::to_string(d)].contents = std::to_string(d);
  }
  return top;
}

}  // namespace webcfs::webc::testing
