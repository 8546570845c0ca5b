// PackDirectory: wasmer.toml → manifest and volumes shaped like Wasmer's own
// transformation (the expected manifests below are the YAML snapshots of
// Wasmer's wasmer-package crate tests, as JSON), plus the
// errors a user sees for a broken wasmer.toml.
#include "resolver/pack/pack.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/unit/webc/webc_v3_decode_util.h"
#include "webc/writer.h"

namespace webcfs::webc {
namespace {

namespace fs = std::filesystem;
using namespace ::webcfs::webc::testing;  // NOLINT: test helpers

// What Wasmer's snapshots use as module bytes; its signature appears in them.
const std::string kWasmBytes("\0asm...", 7);

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("webcfs-pack-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "pkg");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Pkg(const std::string& rel = "") const { return (dir_ / "pkg" / rel).string(); }
  std::string Out() const { return (dir_ / "out.webc").string(); }
  void Put(const std::string& rel, const std::string& bytes) {
    fs::create_directories(fs::path(Pkg(rel)).parent_path());
    WriteHostFile(Pkg(rel), bytes);
  }

  // Packs and decodes; fails the test on error.
  void PackOk(const std::string& toml, Decoded& d) {
    Put("wasmer.toml", toml);
    auto r = pack::PackDirectory(Pkg(), Out());
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_NO_FATAL_FAILURE(Decode(ReadHostFile(Out()), d));
  }

  // Packs expecting an error; returns its message.
  std::string PackError(const std::string& toml) {
    Put("wasmer.toml", toml);
    auto r = pack::PackDirectory(Pkg(), Out());
    EXPECT_FALSE(r.ok()) << "packing succeeded";
    EXPECT_FALSE(fs::exists(Out()));
    return r.ok() ? "" : r.error().message();
  }

  fs::path dir_;
};

TEST_F(PackTest, BashManifestLikeWasmer) {
  Put("bash.wasm", kWasmBytes);
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(PackOk(R"(
[package]
name = "sharrattj/bash"
version = "1.0.17"
description = "Bash is a modern POSIX-compliant implementation of /bin/sh."
license = "GNU"
wasmer-extra-flags = "--enable-threads --enable-bulk-memory"

[dependencies]
"sharrattj/coreutils" = "1.0.16"

[[module]]
name = "bash"
source = "bash.wasm"
abi = "wasi"

[[command]]
name = "bash"
module = "bash"
runner = "wasi@unstable_"
)",
                                 d));
  EXPECT_EQ(d.manifest, OrderedJson::parse(R"({
    "use": {"sharrattj/coreutils": "sharrattj/coreutils@^1.0.16"},
    "package": {"wapm": {"name": "sharrattj/bash", "version": "1.0.17",
      "description": "Bash is a modern POSIX-compliant implementation of /bin/sh.",
      "license": "GNU"}},
    "atoms": {"bash": {"kind": "https://webc.org/kind/wasm",
      "signature": "sha256:Wjn+71LlO4/+39cFFVbsEF7YaYLxIqBdJyjZZ3jk65Y="}},
    "commands": {"bash": {"runner": "https://webc.org/runner/wasi",
      "annotations": {"atom": {"name": "bash"}, "wasi": {"atom": "bash"}}}},
    "entrypoint": "bash"})"));
  EXPECT_EQ(d.atoms.entries.at("/bash").contents, kWasmBytes);
  EXPECT_EQ(d.atoms.entries.at("/bash").mtime, 0u) << "atoms carry no timestamp, like Wasmer";
  // Every package gets a metadata volume, empty here.
  ASSERT_EQ(d.volume_order, (std::vector<std::string>{"metadata"}));
  EXPECT_EQ(d.volumes["metadata"].entries.size(), 1u);
}

TEST_F(PackTest, PythonManifestWithCommandV1AndFsLikeWasmer) {
  Put("bin/python.wasm", kWasmBytes);
  Put("lib/os.py", "import sys\n");
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(PackOk(R"(
[package]
name = "python"
version = "0.1.0"
description = "Python is an interpreted, high-level, general-purpose programming language"
license = "ISC"
repository = "https://github.com/wapm-packages/python"

[[module]]
name = "python"
source = "bin/python.wasm"
abi = "wasi"

[module.interfaces]
wasi = "0.0.0-unstable"

[[command]]
name = "python"
module = "python"

[fs]
lib = "lib"
)",
                                 d));
  EXPECT_EQ(d.manifest, OrderedJson::parse(R"({
    "package": {
      "wapm": {"name": "python", "version": "0.1.0",
        "description": "Python is an interpreted, high-level, general-purpose programming language",
        "license": "ISC", "repository": "https://github.com/wapm-packages/python"},
      "fs": [{"from": null, "volume_name": "/lib", "mount_path": "/lib"}]},
    "atoms": {"python": {"kind": "https://webc.org/kind/wasm",
      "signature": "sha256:Wjn+71LlO4/+39cFFVbsEF7YaYLxIqBdJyjZZ3jk65Y="}},
    "commands": {"python": {"runner": "https://webc.org/runner/wasi",
      "annotations": {"atom": {"name": "python"}, "wasi": {"atom": "python"}}}},
    "entrypoint": "python"})"));
  ASSERT_EQ(d.volume_order, (std::vector<std::string>{"/lib", "metadata"}));
  EXPECT_EQ(d.volumes["/lib"].entries.at("/os.py").contents, "import sys\n");
}

TEST_F(PackTest, FsTableKeepsFileOrderAndNamesVolumesAfterHostDirs) {
  Put("lib/a", "a");
  Put("out/site/index.html", "<html>");
  Put("out/deep/er/x", "");
  fs::create_directories(Pkg("out/empty"));
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(PackOk(R"(
[package]
name = "some/package"
version = "0.0.0"
description = "This is a package"

[fs]
lib = "lib"
"/public" = "./out/"
"/z/alias" = "lib"
)",
                                 d));
  EXPECT_EQ(d.manifest["package"]["fs"], OrderedJson::parse(R"([
    {"from": null, "volume_name": "/lib", "mount_path": "/lib"},
    {"from": null, "volume_name": "/out", "mount_path": "/public"},
    {"from": null, "volume_name": "/lib", "mount_path": "/z/alias"}])"));
  ASSERT_EQ(d.volume_order, (std::vector<std::string>{"/lib", "/out", "metadata"}));
  const DecodedVolume& out = d.volumes["/out"];
  EXPECT_EQ(out.order, (std::vector<std::string>{"/", "/deep", "/deep/er", "/deep/er/x", "/empty",
                                                 "/site", "/site/index.html"}));
  EXPECT_FALSE(d.manifest.contains("entrypoint"));
  EXPECT_FALSE(d.manifest.contains("atoms"));
}

TEST_F(PackTest, CustomAnnotationsAreCopiedAndMergedLikeWasmer) {
  Put("file.wasm", kWasmBytes);
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(PackOk(R"(
[package]
name = "test"
version = "0.0.0"
description = "asdf"

[[module]]
name = "module"
source = "file.wasm"
abi = "wasi"

[[command]]
name = "command"
module = "module"
runner = "asdf"
annotations = { first = 42, second = ["a", "b"] }

[[command]]
name = "python"
module = "module"
runner = "wasi"
annotations = { wasi = { env = ["KEY=val"], main-args = ["-c", "print 1"] } }
)",
                                 d));
  EXPECT_EQ(d.manifest["commands"], OrderedJson::parse(R"({
    "command": {"runner": "https://webc.org/runner/asdf",
      "annotations": {"atom": {"name": "module"}, "first": 42, "second": ["a", "b"]}},
    "python": {"runner": "https://webc.org/runner/wasi",
      "annotations": {"atom": {"name": "module"},
        "wasi": {"atom": "module", "env": ["KEY=val"], "main-args": ["-c", "print 1"]}}}})"));
  EXPECT_FALSE(d.manifest.contains("entrypoint")) << "two commands and no [package].entrypoint";
}

TEST_F(PackTest, DependencyModulesAndCommandV1MainArgs) {
  Put("a.wasm", kWasmBytes);
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(PackOk(R"(
[package]
name = "ns/app"
version = "1.2.3-beta.1+build.5"
entrypoint = "serve"

[dependencies]
"wasmer/static-web-server" = "^1"
"ns/lib" = ">=1.0, <2"
"ns/any" = "*"

[[module]]
name = "a"
source = "a.wasm"

[[command]]
name = "serve"
module = "wasmer/static-web-server:webserver"
runner = "https://webc.org/runner/wasi"
annotations = { wasi = { main-args = ["-w", "/settings/config.toml"] } }

[[command]]
name = "old"
module = "a"
main_args = "--flag  value"
package = "ns/app"
)",
                                 d));
  EXPECT_EQ(d.manifest["use"], OrderedJson::parse(R"({
    "wasmer/static-web-server": "wasmer/static-web-server@^1",
    "ns/lib": "ns/lib@>=1.0, <2", "ns/any": "ns/any@*"})"));
  // The same shape as the volume-static-webserver fixture Wasmer wrote.
  EXPECT_EQ(d.manifest["commands"]["serve"]["annotations"], OrderedJson::parse(R"({
    "atom": {"name": "webserver", "dependency": "wasmer/static-web-server"},
    "wasi": {"atom": "wasmer/static-web-server:webserver",
             "main-args": ["-w", "/settings/config.toml"]}})"));
  EXPECT_EQ(d.manifest["commands"]["old"]["annotations"]["wasi"], OrderedJson::parse(R"({
    "atom": "a", "package": "ns/app", "main-args": ["--flag", "value"]})"));
  EXPECT_EQ(d.manifest["entrypoint"], "serve");
}

TEST_F(PackTest, ReadmeAndLicenseGoIntoTheMetadataVolume) {
  Put("README.md", "# readme\n");
  Put("legal/LICENSE", "MIT\n");
  Decoded d;
  ASSERT_NO_FATAL_FAILURE(PackOk(R"(
[package]
name = "ns/docs"
version = "0.1.0"
description = "d"
readme = "README.md"
license-file = "./legal/LICENSE"
homepage = "https://example.org/"
private = true
)",
                                 d));
  EXPECT_EQ(d.manifest["package"]["wapm"], OrderedJson::parse(R"({
    "name": "ns/docs", "version": "0.1.0", "description": "d",
    "license-file": {"volume": "metadata", "path": "/legal/LICENSE"},
    "readme": {"volume": "metadata", "path": "/README.md"},
    "homepage": "https://example.org/", "private": true})"));
  const DecodedVolume& m = d.volumes["metadata"];
  EXPECT_EQ(m.order, (std::vector<std::string>{"/", "/README.md", "/legal", "/legal/LICENSE"}));
  EXPECT_EQ(m.entries.at("/legal/LICENSE").contents, "MIT\n");
}

TEST_F(PackTest, ErrorsPointIntoWasmerToml) {
  const std::string toml = Pkg("wasmer.toml");
  struct Case {
    std::string toml;
    std::string expected;  // substring of the message, after the file name
  };
  const std::vector<Case> cases = {
      {"[package]\nname = \"a/b\"\nversion = 1\n", ":3:11: package.version must be a string"},
      {"[package\n", ":1:"},  // toml++ syntax error with a position
      {"[package]\nname = \"a/b\"\nversion = \"1.0\"\n", ":3:11: package.version '1.0' is not"},
      {"[[module]]\nname = \"m\"\nsource = \"missing.wasm\"\n",
       ":3:10: module 'm': cannot read source 'missing.wasm'"},
      {"[[module]]\nname = \"m\"\n", ":1:1: module 'm' has no 'source'"},
      {"[[command]]\nname = \"c\"\nmodule = \"nope\"\n",
       ":3:10: command 'c' uses the unknown module 'nope'"},
      {"[[command]]\nname = \"c\"\nmodule = \"ns/x:mod\"\n",
       ":3:10: command 'c' references the undeclared dependency 'ns/x'"},
      {"[dependencies]\nbad = \"1\"\n", ":2:7: dependency 'bad' is not in the \"namespace/name\""},
      {"[dependencies]\n\"a/b\" = \"latest\"\n", ":2:9: dependency 'a/b': invalid version"},
      {"[fs]\n\"/x\" = \"../outside\"\n", ":2:8: fs '/x': path '../outside' escapes its root"},
      {"[fs]\n\"/x\" = \"nodir\"\n", ":2:8: fs '/x': "},
      {"[fs]\n\"/x\" = \"d\"\n\"x\" = \"d\"\n", ":3:7: fs: mount path '/x' is mapped twice"},
      {"[extra]\n", ":1:2: unknown section 'extra'"},
      {"module = 3\n", ":1:10: 'module' must be an array of tables"},
  };
  fs::create_directories(Pkg("d"));
  for (const Case& c : cases) {
    std::string message = PackError(c.toml);
    EXPECT_EQ(message.rfind(toml, 0), 0u) << message;
    EXPECT_NE(message.find(toml + c.expected), std::string::npos)
        << "got: " << message << "\nwanted: " << c.expected;
  }
  Put("m.wasm", kWasmBytes);
  std::string dup = PackError(
      "[[module]]\nname = \"m\"\nsource = \"m.wasm\"\n[[module]]\nname = \"m\"\nsource = "
      "\"m.wasm\"\n");
  EXPECT_NE(dup.find("duplicate module 'm'"), std::string::npos) << dup;
}

TEST_F(PackTest, MissingWasmerTomlAndSymlinksAreClearErrors) {
  auto r = pack::PackDirectory(Pkg(), Out());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(Pkg("wasmer.toml")), std::string::npos);

  Put("data/real", "x");
  fs::create_symlink("real", Pkg("data/link"));
  std::string message = PackError("[fs]\n\"/data\" = \"data\"\n");
  EXPECT_NE(message.find("data/link: a symbolic link"), std::string::npos) << message;
}

}  // namespace
}  // namespace webcfs::webc
