// Conformance: Go's testing/fstest.TestFS (golang-go from Debian, standard
// library only) against os.DirFS(mountpoint) for several packages: a v2
// fixture, Wasmer-written v3 fixtures, a packed tree with odd names, and a
// merged package tree. Kept small: TestFS re-reads every file many times and
// takes minutes beyond ~1,000 entries or on files of several hundred KiB.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/integration/mount_util.h"
#include "webc/writer.h"

namespace webcfs::testing {
namespace {

// Builds tests/conformance/fstest once into the build tree; returns the
// binary's path or "" (with the compiler's output in *log).
std::string BuildFstest(std::string* log) {
  const std::string out_dir = std::string(WEBCFS_BINARY_DIR) + "/tests/conformance";
  std::filesystem::create_directories(out_dir + "/gocache");
  const std::string bin = out_dir + "/fstest-conformance";
  const std::string tmp = bin + ".tmp." + std::to_string(getpid());
  const CommandResult r =
      RunCommand({"go", "build", "-o", tmp,
                  std::string(WEBCFS_SOURCE_DIR) + "/tests/conformance/fstest/main.go"},
                 {"GO111MODULE=off", "GOFLAGS=", "GOCACHE=" + out_dir + "/gocache",
                  "GOPATH=" + out_dir + "/gopath", "HOME=" + out_dir, "CGO_ENABLED=0"});
  *log = r.out + r.err;
  if (r.exit_code != 0) return "";
  std::filesystem::rename(tmp, bin);
  return bin;
}

void ExpectConformant(const std::string& fstest, const Mount& m,
                      const std::vector<std::string>& expected_names) {
  ASSERT_TRUE(m.ok()) << m.result().err;
  std::vector<std::string> argv = {fstest, m.path()};
  argv.insert(argv.end(), expected_names.begin(), expected_names.end());
  const CommandResult r = RunCommand(argv);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out << r.err;
}

TEST(ConformanceTest, GoFstestOnSeveralPackages) {
  std::string log;
  const std::string fstest = BuildFstest(&log);
  ASSERT_FALSE(fstest.empty()) << "go build failed:\n" << log;
  const std::string fixtures = FixtureDir() + "/";

  ExpectConformant(fstest, Mount(fixtures + "synth-v2demo.webc"), {"assets", ".webc"});
  ExpectConformant(fstest, Mount(fixtures + "wasmer-sdk-0.10.0-createPackage__oracle-hello.webc"),
                   {"data", ".webc"});
  // TestFS re-reads every file many times (iotest): atoms of several hundred
  // KiB take it minutes even on a native directory, so these two are checked
  // without the control directory.
  ExpectConformant(fstest,
                   Mount(fixtures + "wasmer-sdk-0.10.0-createPackage__oracle-wabt-subset.webc",
                         {"--no-meta-dir"}),
                   {"data"});
  ExpectConformant(
      fstest,
      Mount(fixtures + "wasmer-test-files__examples__wabt-1.0.37.wasmer", {"--no-meta-dir"}),
      {"README-wapm.md"});

  // A packed tree with nested, empty and unicode entries.
  TempDir dir("fuse-it-fstest");
  const std::string src = dir / "src";
  std::filesystem::create_directories(src + "/a/b/c");
  std::filesystem::create_directories(src + "/empty");
  std::filesystem::create_directories(src + "/ünïcödé");
  WriteHostFile(src + "/a/b/c/deep.txt", "deep\n");
  WriteHostFile(src + "/ünïcödé/名前.txt", "name\n");
  WriteHostFile(src + "/empty-file", "");
  for (int i = 0; i < 200; ++i) {
    WriteHostFile(src + "/a/file" + std::to_string(i), std::string(i * 37, 'x'));
  }
  auto tree = webc::TreeFromHostDirectory(src);
  ASSERT_TRUE(tree.ok()) << tree.error().message();
  PackageBuilder p;
  p.Volume("/data", std::move(*tree)).Fs("/", "/data");
  ASSERT_EQ(WritePackage(p, dir / "tree.webc"), "");
  ExpectConformant(fstest, Mount(dir / "tree.webc"), {"a", "empty", "ünïcödé", "empty-file"});

  // A merged tree: two packages overlaid at "/" plus a nested mount.
  const std::string registry = dir / "registry";
  std::filesystem::create_directories(registry);
  PackageBuilder lib;
  lib.name = "t/lib";
  lib.version = "1.0.0";
  lib.Volume("/v", Dir({{"bin", Dir({{"lib-tool", File("l")}})}, {"shared", File("lib")}}))
      .Fs("/", "/v");
  lib.Volume("/py", Dir({{"os.py", File("os")}})).Fs("/usr/lib/python3.10", "/py");
  ASSERT_EQ(WriteToRegistry(lib, registry), "");
  PackageBuilder app;
  app.name = "t/app";
  app.version = "1.0.0";
  app.use["lib"] = "t/lib@1";
  app.Volume("/v", Dir({{"bin", Dir({{"app", File("a")}})}, {"shared", File("app")}}))
      .Fs("/", "/v");
  ASSERT_EQ(WriteToRegistry(app, registry), "");
  ExpectConformant(fstest, Mount("t/app@1.0.0", {"--registry", registry}),
                   {"bin", "shared", "usr", ".webc"});
}

}  // namespace
}  // namespace webcfs::testing
