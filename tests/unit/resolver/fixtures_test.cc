// Real packages from tests/fixtures/webc: legacy v1 (dash, bash, wabt),
// the synthesized v2 file and Wasmer-written v3 files, with stand-ins for
// their registry dependencies built in the test.
#include <gtest/gtest.h>

#include "resolver/resolution.h"
#include "tests/common/paths.h"
#include "tests/unit/resolver/package_util.h"

namespace webcfs::resolver {
namespace {

using testing::FixturePath;
using testing::PackageBuilder;
using testing::TempDir;
using Strings = std::vector<std::string>;

constexpr const char* kDash =
    "wasmer-test-files__integration__webc__dash-1.0.18-f0d13233-bcda-4cf1-9a23-3460bffaae2a.webc";
constexpr const char* kBash =
    "wasmer-test-files__integration__webc__bash-1.0.16-f097441a-a80b-4e0d-87d7-684918ef4bb6.webc";
constexpr const char* kWabt = "wasmer-test-files__examples__wabt-1.0.37.wasmer";
constexpr const char* kV2 = "synth-v2demo.webc";
constexpr const char* kOracleHello = "wasmer-sdk-0.10.0-createPackage__oracle-hello.webc";
constexpr const char* kStaticWebserver =
    "wasmer-test-files__integration__webc__wasmer-tests--volume-static-webserver@0.1.0.webc";

class FixturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(FixturePath(kDash)))
        << "fixtures not found under " << webcfs::testing::FixtureDir();
    // Stand-in for sharrattj/coreutils: legacy commands with no annotations,
    // a single real atom plus one listed first in the manifest but sorting last.
    for (const char* v : {"1.0.16", "1.0.20", "2.0.0"}) {
      PackageBuilder b("sharrattj/coreutils", v);
      b.Atom("zz-helper").Atom("coreutils");
      for (const char* cmd : {"ls", "cat", "dash"}) {
        b.RawCommand(cmd, {{"runner", "https://webc.org/runner/wasi@unstable_"},
                           {"annotations", nlohmann::ordered_json::object()}});
      }
      b.WriteTo(reg());
    }
  }

  std::filesystem::path reg() const { return tmp_ / "registry"; }
  Resolution MustResolve(const std::string& spec) {
    return testing::MustResolve(spec, testing::TestOptions(tmp_.path()));
  }
  static Strings Ids(const Resolution& r) { return testing::PackageIds(r); }
  static Strings Commands(const Resolution& r) {
    Strings out;
    for (const auto& c : r.commands) {
      out.push_back(c.name + " -> " + r.packages[c.atom_package].id + ":" + c.atom);
    }
    return out;
  }

  TempDir tmp_;
};

TEST_F(FixturesTest, DashWithStandInCoreutils) {
  Resolution r = MustResolve(FixturePath(kDash));
  // "sharrattj/coreutils@1.0.16" is a caret requirement: the newest 1.x wins.
  ASSERT_EQ(Ids(r), (Strings{"sharrattj/dash@1.0.18", "sharrattj/coreutils@1.0.20"}));
  EXPECT_EQ(r.packages[0].dependencies[0].alias, "coreutils");
  EXPECT_EQ(r.packages[0].dependencies[0].requirement, "sharrattj/coreutils@1.0.16");
  ASSERT_EQ(r.mappings.size(), 1u) << "v1 without fs: the atom volume at /; v3 without fs: none";
  EXPECT_EQ(r.mappings[0].package, 0u);
  EXPECT_EQ(r.mappings[0].volume, "atom");
  EXPECT_EQ(r.mappings[0].volume_path, "/");
  EXPECT_EQ(r.mappings[0].mount_path, "/");
  // dash: no annotations, WASI runner → the atom named "dash"; the root's
  // `dash` shadows coreutils' one; ls/cat use the first atom in byte order.
  EXPECT_EQ(Commands(r), (Strings{"dash -> sharrattj/dash@1.0.18:dash",
                                  "ls -> sharrattj/coreutils@1.0.20:coreutils",
                                  "cat -> sharrattj/coreutils@1.0.20:coreutils"}));
  EXPECT_EQ(r.entrypoint, "dash");
  EXPECT_TRUE(r.warnings.empty()) << ::testing::PrintToString(r.warnings);
}

TEST_F(FixturesTest, DashAndBashShareCoreutilsAndOverlayAtSlash) {
  std::filesystem::copy_file(FixturePath(kDash), reg() / "sharrattj--dash@1.0.18.webc");
  std::filesystem::copy_file(FixturePath(kBash), reg() / "sharrattj--bash@1.0.16.webc");
  PackageBuilder("t/shell", "1.0.0")
      .Use("dash", "sharrattj/dash@1")
      .Use("bash", "sharrattj/bash@1")
      .WriteTo(reg());
  Resolution r = MustResolve("t/shell");
  EXPECT_EQ(Ids(r), (Strings{"t/shell@1.0.0", "sharrattj/bash@1.0.16", "sharrattj/dash@1.0.18",
                             "sharrattj/coreutils@1.0.20"}));
  ASSERT_EQ(r.mappings.size(), 2u);
  EXPECT_EQ(r.packages[r.mappings[0].package].id, "sharrattj/bash@1.0.16");
  EXPECT_EQ(r.packages[r.mappings[1].package].id, "sharrattj/dash@1.0.18");
  EXPECT_EQ(r.mappings[0].mount_path, "/");
  EXPECT_EQ(r.mappings[1].mount_path, "/");
  EXPECT_EQ(Commands(r),
            (Strings{"bash -> sharrattj/bash@1.0.16:bash", "dash -> sharrattj/dash@1.0.18:dash",
                     "ls -> sharrattj/coreutils@1.0.20:coreutils",
                     "cat -> sharrattj/coreutils@1.0.20:coreutils"}));
  EXPECT_EQ(r.entrypoint, "bash") << "inherited: bash comes first in precedence order";
}

TEST_F(FixturesTest, WabtLegacyAtomAnnotations) {
  Resolution r = MustResolve(FixturePath(kWabt));
  ASSERT_EQ(Ids(r), (Strings{"wasmer/wabt@1.0.37"}));
  EXPECT_EQ(Commands(r), (Strings{"wat2wasm -> wasmer/wabt@1.0.37:wat2wasm",
                                  "wast2json -> wasmer/wabt@1.0.37:wast2json",
                                  "wasm2wat -> wasmer/wabt@1.0.37:wasm2wat",
                                  "wasm-interp -> wasmer/wabt@1.0.37:wasm-interp",
                                  "wasm-validate -> wasmer/wabt@1.0.37:wasm-validate",
                                  "wasm-strip -> wasmer/wabt@1.0.37:wasm-strip"}));
  EXPECT_EQ(r.entrypoint, std::nullopt) << "no entrypoint and several commands";
  ASSERT_EQ(r.mappings.size(), 1u);
  EXPECT_EQ(r.mappings[0].volume, "atom");
}

TEST_F(FixturesTest, V2OriginalPathBecomesVolumePath) {
  Resolution r = MustResolve(FixturePath(kV2));
  ASSERT_EQ(Ids(r), (Strings{"oracle/v2demo@0.1.0"}));
  ASSERT_EQ(r.mappings.size(), 1u);
  EXPECT_EQ(r.mappings[0].volume, "atom");
  EXPECT_EQ(r.mappings[0].volume_path, "/assets");
  EXPECT_EQ(r.mappings[0].mount_path, "/assets");
  EXPECT_EQ(Commands(r), (Strings{"hello -> oracle/v2demo@0.1.0:hello"}));
}

TEST_F(FixturesTest, UnnamedV3IdIsTheHashWasmerReports) {
  Resolution r = MustResolve(FixturePath(kOracleHello));
  // @wasmer/sdk reported this package as sha256:a6a3... (fixtures README).
  ASSERT_EQ(Ids(r),
            (Strings{"sha256:a6a32da63aa9af7cd58045f0d111c24c659e74716974b75bf3c8587411497ec7"}));
  ASSERT_EQ(r.mappings.size(), 1u);
  EXPECT_EQ(r.mappings[0].volume, "/data");
  EXPECT_EQ(r.mappings[0].mount_path, "/data");
}

TEST_F(FixturesTest, V3CommandUsingADependencyAtom) {
  // The real package names its dependency by an alias containing '/'.
  PackageBuilder("wasmer/static-web-server", "1.2.0").Atom("webserver").WriteTo(reg());
  std::filesystem::copy_file(FixturePath(kStaticWebserver), reg() / kStaticWebserver);
  Resolution r = MustResolve(
      "wasmer-test-files__integration__webc__wasmer-tests/"
      "volume-static-webserver");
  ASSERT_EQ(Ids(r), (Strings{"wasmer-test-files__integration__webc__wasmer-tests/"
                             "volume-static-webserver@0.1.0",
                             "wasmer/static-web-server@1.2.0"}));
  EXPECT_EQ(r.packages[0].dependencies[0].alias, "wasmer/static-web-server");
  EXPECT_EQ(Commands(r), (Strings{"script -> wasmer/static-web-server@1.2.0:webserver"}));
  EXPECT_EQ(r.entrypoint, "script");
  ASSERT_EQ(r.mappings.size(), 1u);
  EXPECT_EQ(r.mappings[0].volume, "/settings");
}

}  // namespace
}  // namespace webcfs::resolver
