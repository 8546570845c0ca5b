// Every bundled fixture (tests/fixtures/webc) mounts and shows exactly what
// expected.json says its mappings contain: names, types, sizes, SHA-256 of
// every file, v3 mtimes, and the command atoms in the control directory.
// Dependencies the fixtures `use` are served by stand-in packages in a test
// registry (they contribute no mappings, only an atom where a command needs one).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

using Json = nlohmann::json;

const std::string kWebserverAtom = std::string("\0asm\x01\0\0\0stand-in webserver", 26);

class FixturesTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    registry_ = new TempDir("fuse-it-registry");
    auto stand_in = [](const std::string& name, const std::string& version) {
      PackageBuilder p;
      p.name = name;
      p.version = version;
      return p;
    };
    PackageBuilder web = stand_in("wasmer/static-web-server", "1.0.0");
    web.atoms["webserver"] = File(kWebserverAtom);
    for (const PackageBuilder& p : {stand_in("sharrattj/static-web-server", "1.0.0"),
                                    stand_in("sharrattj/coreutils", "1.0.16"), web}) {
      ASSERT_EQ(WriteToRegistry(p, registry_->path()), "");
    }
    std::ifstream in(FixturePath("expected.json"));
    expected_ = new Json(Json::parse(in));
  }
  static void TearDownTestSuite() {
    delete registry_;
    delete expected_;
  }

  static TempDir* registry_;
  static Json* expected_;
};

TempDir* FixturesTest::registry_ = nullptr;
Json* FixturesTest::expected_ = nullptr;

// Intermediate directories of a mount path ("/a/b" -> "a", "a/b").
void AddParents(const std::string& mount, std::map<std::string, TreeEntry>* tree) {
  for (size_t slash = mount.find('/', 1);; slash = mount.find('/', slash + 1)) {
    const std::string prefix =
        mount.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
    if (!prefix.empty()) (*tree)[prefix] = TreeEntry{'d', 0, ""};
    if (slash == std::string::npos) break;
  }
}

TEST_P(FixturesTest, MountsAndMatchesExpected) {
  const std::string name = GetParam();
  const Json& want = (*expected_)[name];
  const std::string file = FixturePath(name);
  Mount m(file, {"--registry", registry_->path()});
  ASSERT_TRUE(m.ok()) << m.result().err;

  // The mappings docs/architecture.md derives from the manifest: `fs`, or for v1/v2
  // without `fs` the `atom` volume at "/".
  Json mappings = want["fs_mappings"];
  if (mappings.empty() && want["version"] != "003") {
    mappings = Json::array({{{"volume_name", "atom"}, {"mount_path", "/"}}});
  }
  std::map<std::string, TreeEntry> expected_tree;
  std::map<std::string, int64_t> expected_mtime;
  for (const Json& mapping : mappings) {
    std::string inner = "/";
    if (mapping.contains("original_path")) inner = mapping["original_path"];
    if (mapping.contains("host_path") && mapping["host_path"].is_string())
      inner = mapping["host_path"];
    if (inner.back() != '/') inner += '/';
    const std::string mount = mapping["mount_path"];
    AddParents(mount, &expected_tree);
    for (const auto& [path, entry] :
         want["volumes"][mapping["volume_name"].get<std::string>()].items()) {
      if (path.rfind(inner, 0) != 0) continue;
      std::string rel = (mount == "/" ? "" : mount.substr(1) + "/") + path.substr(inner.size());
      TreeEntry t;
      t.type = entry["type"] == "dir" ? 'd' : 'f';
      if (t.type == 'f') {
        t.size = entry["size"];
        t.sha256 = entry["sha256"];
      }
      expected_tree[rel] = t;
      if (entry.contains("mtime") && entry["mtime"].get<uint64_t>() != 0) {
        uint64_t mtime = entry["mtime"];
        if (mtime > 100'000'000'000ull) mtime /= 1000;  // milliseconds stored as seconds
        expected_mtime[rel] = static_cast<int64_t>(mtime);
      }
    }
  }
  EXPECT_EQ(WalkTree(m.path(), {".webc"}), expected_tree);
  for (const auto& [rel, mtime] : expected_mtime) {
    struct stat st;
    ASSERT_EQ(stat((m / rel).c_str(), &st), 0) << rel;
    EXPECT_EQ(st.st_mtime, mtime) << rel;
  }

  // Commands: /.webc/commands/<name>.wasm is the atom the command runs.
  for (const auto& [command, c] : want["commands"].items()) {
    const std::string path = m / (".webc/commands/" + command + ".wasm");
    const std::string atom = c["atom"].is_string() ? c["atom"].get<std::string>() : command;
    if (c["dependency"].is_string()) {
      EXPECT_EQ(ReadHostFile(path), kWebserverAtom) << command;
    } else {
      ASSERT_TRUE(want["atoms"].contains(atom)) << command;
      EXPECT_EQ(Sha256Hex(ReadHostFile(path)), want["atoms"][atom]["sha256"]) << command;
    }
  }
  // Every atom of the root package is under atoms/<package>/, the manifest
  // under packages/<package>/ ('/' in the id escaped as "--").
  std::string id = "sha256:" + want["sha256"].get<std::string>();
  if (want["package_name"].is_string()) {
    id = want["package_name"].get<std::string>() + "@" + want["package_version"].get<std::string>();
    id.replace(id.find('/'), 1, "--");
  }
  for (const auto& [atom, a] : want["atoms"].items()) {
    EXPECT_EQ(Sha256Hex(ReadHostFile(m / (".webc/atoms/" + id + "/" + atom + ".wasm"))),
              a["sha256"])
        << atom;
  }
  const Json manifest = Json::parse(ReadHostFile(m / (".webc/packages/" + id + "/manifest.json")),
                                    nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(manifest.is_object()) << id;
  EXPECT_EQ(manifest.value("entrypoint", Json()), want["entrypoint"]);
  const Json lock = Json::parse(ReadHostFile(m / ".webc/resolution.json"), nullptr, false);
  EXPECT_TRUE(lock.is_object());
}

INSTANTIATE_TEST_SUITE_P(
    All, FixturesTest,
    ::testing::Values(
        "wasmer-test-files__integration__webc__hello-0.1.0-665d2ddc-80e6-4845-85d3-4587b1693bb7."
        "webc",
        "wasmer-test-files__integration__webc__dash-1.0.18-f0d13233-bcda-4cf1-9a23-3460bffaae2a."
        "webc",
        "wasmer-test-files__integration__webc__bash-1.0.16-f097441a-a80b-4e0d-87d7-684918ef4bb6."
        "webc",
        "wasmer-test-files__examples__staticserver.webc",
        "wasmer-test-files__examples__wabt-1.0.37.wasmer", "synth-v2demo.webc",
        "wasmer-test-files__integration__webc__wasmer-tests--volume-static-webserver@0.1.0.webc",
        "wasmer-sdk-0.10.0-createPackage__oracle-hello.webc",
        "wasmer-sdk-0.10.0-createPackage__oracle-wabt-subset.webc"),
    [](const ::testing::TestParamInfo<std::string>& info) {
      std::string s = info.param.substr(0, info.param.find('.'));
      for (char& c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return s + "_" + std::to_string(info.index);
    });

TEST(FixturesListTest, EveryFixtureIsCovered) {
  // A new fixture must be added to the list above.
  std::ifstream in(FixturePath("expected.json"));
  const Json all = Json::parse(in);
  EXPECT_EQ(all.size(), 9u);
}

}  // namespace
}  // namespace webcfs::testing
