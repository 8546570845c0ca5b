// The control directory: /.webc/commands/<name>.wasm equals the atom bytes,
// atoms/<package>/<atom>.wasm, packages/<package>/manifest.json,
// resolution.json; renamed with --meta-dir, absent with --no-meta-dir.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

using Json = nlohmann::json;

const std::string kGreet = std::string("\0asm\x01\0\0\0greet-module", 20);
const std::string kTool = std::string("\0asm\x01\0\0\0dependency-tool", 23);

class ControlDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PackageBuilder dep;
    dep.name = "t/dep";
    dep.version = "2.1.0";
    dep.atoms["tool"] = File(kTool);
    dep.Command("tool", "tool");
    ASSERT_EQ(WriteToRegistry(dep, registry_.path()), "");

    PackageBuilder app;
    app.name = "t/app";
    app.version = "1.0.0";
    app.use["dep"] = "t/dep@^2";
    app.atoms["greet"] = File(kGreet);
    app.Command("greet", "greet");
    app.entrypoint = "greet";
    app.Volume("/data", Dir({{"a", File("a")}, {".ctl", File("own")}})).Fs("/", "/data");
    ASSERT_EQ(WriteToRegistry(app, registry_.path()), "");
  }
  TempDir registry_{"fuse-it-ctl"};
};

TEST_F(ControlDirTest, CommandsAtomsManifestsAndLockfile) {
  Mount m("t/app@1.0.0", {"--registry", registry_.path()});
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(ReadHostFile(m / ".webc/commands/greet.wasm"), kGreet);
  EXPECT_EQ(ReadHostFile(m / ".webc/commands/tool.wasm"),
            kTool);  // dependency commands are exported
  EXPECT_EQ(ReadHostFile(m / ".webc/atoms/t--app@1.0.0/greet.wasm"), kGreet);
  EXPECT_EQ(ReadHostFile(m / ".webc/atoms/t--dep@2.1.0/tool.wasm"), kTool);
  const Json manifest =
      Json::parse(ReadHostFile(m / ".webc/packages/t--app@1.0.0/manifest.json"), nullptr, false);
  ASSERT_TRUE(manifest.is_object());
  EXPECT_EQ(manifest["entrypoint"], "greet");
  EXPECT_TRUE(
      Json::parse(ReadHostFile(m / ".webc/packages/t--dep@2.1.0/manifest.json"), nullptr, false)
          .is_object());

  const std::string lock = ReadHostFile(m / ".webc/resolution.json");
  const Json lock_json = Json::parse(lock, nullptr, false);
  ASSERT_TRUE(lock_json.is_object()) << lock;
  EXPECT_NE(lock.find("t/app@1.0.0"), std::string::npos);
  EXPECT_NE(lock.find("t/dep@2.1.0"), std::string::npos);

  // Files and directories of the control directory are read-only like the rest.
  struct stat st;
  ASSERT_EQ(stat((m / ".webc/commands/greet.wasm").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0444);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kGreet.size()));
  ASSERT_EQ(stat((m / ".webc").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0555);
  EXPECT_EQ(WalkTree(m / ".webc/commands").size(), 2u);
  EXPECT_EQ(ReadHostFile(m / "a"), "a");
}

TEST_F(ControlDirTest, RenamedAndDisabled) {
  {
    Mount m("t/app@1.0.0", {"--registry", registry_.path(), "--meta-dir", "_webc"});
    ASSERT_TRUE(m.ok()) << m.result().err;
    EXPECT_EQ(ReadHostFile(m / "_webc/commands/greet.wasm"), kGreet);
    EXPECT_EQ(ReadHostFile(m / ".ctl"), "own");
  }
  {
    Mount m("t/app@1.0.0", {"--registry", registry_.path(), "--no-meta-dir"});
    ASSERT_TRUE(m.ok()) << m.result().err;
    EXPECT_EQ(ReadHostFile(m / ".ctl"), "own");
    EXPECT_EQ(WalkTree(m.path()).size(), 2u);
  }
  {
    // A name the package uses at the root would hide its entry: refused.
    Mount m("t/app@1.0.0", {"--registry", registry_.path(), "--meta-dir", ".ctl"});
    EXPECT_FALSE(m.ok());
    EXPECT_NE(m.result().err.find("'.ctl' is also a top-level entry"), std::string::npos)
        << m.result().err;
  }
  {
    Mount m("t/app@1.0.0", {"--registry", registry_.path(), "--meta-dir", "a/b"});
    EXPECT_FALSE(m.ok());
    EXPECT_NE(m.result().err.find("a/b"), std::string::npos) << m.result().err;
  }
}

}  // namespace
}  // namespace webcfs::testing
