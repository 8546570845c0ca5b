// Parity with Wasmer's own runtime: for package trees covering each rule of
// docs/resolution.md, Wasmer (@wasmer/sdk 0.16.0 under Node, driven by
// tests/wasmer-oracle/view.mjs with its dependencies from the Wasmer-API test
// registry tests/remote/wasmer_registry.py) and a webcfs mount of the same
// root must show the same files (paths, types, sizes, sha256), run the same
// module for every command, and report the same entrypoint. Where webcfs
// differs on purpose, the test asserts that exact difference and names the
// section of docs/resolution.md that explains it.
//
// Every atom is a WASI module that prints "atom:<package id>/<atom>", so a
// command's output says which module it ran. Skipped, with the reason, when
// npm cannot install the oracle.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/common/paths.h"
#include "tests/common/wasmer_oracle.h"
#include "tests/integration/mount_util.h"
#include "tests/remote/remote_util.h"

namespace webcfs::testing {
namespace {

// What one side shows of a package tree.
struct View {
  std::map<std::string, TreeEntry> files;           // "app/main.txt" -> entry
  std::map<std::string, std::string> command_runs;  // command -> "atom:<pkg>/<atom>"
  std::optional<std::string> entrypoint;
};

class WasmerParityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string log;
    oracle_dir_ = InstallWasmerOracle(&log);
    if (oracle_dir_.empty()) install_log_ = log;
  }

  void SetUp() override {
    if (oracle_dir_.empty()) {
      GTEST_SKIP() << "Wasmer's runtime could not be installed from npm, so nothing is "
                      "compared:\n"
                   << install_log_;
    }
    ASSERT_FALSE(dir_.path().empty());
    std::filesystem::create_directories(registry());
  }

  std::string registry() const { return dir_ / "registry"; }

  // A package whose atoms print their identity.
  PackageBuilder Package(const std::string& name, const std::string& version) {
    PackageBuilder p;
    p.name = name;
    p.version = version;
    return p;
  }
  void AddCommand(PackageBuilder& p, const std::string& command, const std::string& atom) {
    if (p.atoms.count(atom) == 0) p.atoms[atom] = File(AtomPrinting(p, atom));
    p.Command(command, atom);
  }

  // Writes `p` into the registry the API serves.
  std::string Publish(const PackageBuilder& p) {
    const std::string error = WriteToRegistry(p, registry());
    EXPECT_EQ(error, "") << p.name;
    return registry() + "/" + RegistryFileName(p);
  }

  // Both sides' views of the tree rooted at `root_file`.
  void Observe(const std::string& root_file, View* wasmer, View* webcfs) {
    ObserveWasmer(root_file, wasmer);
    ObserveWebcfs(root_file, webcfs);
  }

  static std::string oracle_dir_;
  static std::string install_log_;

 private:
  std::string AtomPrinting(const PackageBuilder& p, const std::string& atom) {
    const std::string text = "atom:" + p.name + "@" + p.version + "/" + atom + "\n";
    const std::string wat = dir_ / ("atom-" + std::to_string(atoms_++) + ".wat");
    std::string escaped;
    for (char c : text) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    WriteHostFile(wat, R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) ")" +
                           escaped + R"(")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const )" +
                           std::to_string(text.size()) + R"())
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))
)");
    const CommandResult r = RunCommand({"wat2wasm", wat, "-o", wat + ".wasm"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ReadHostFile(wat + ".wasm");
  }

  static constexpr int kOracleSeconds = 60;
  static constexpr int kTimedOut = 124;  // timeout(1)'s exit codes
  static constexpr int kKilled = 137;

  void ObserveWasmer(const std::string& root_file, View* view) {
    WriteCatalog(registry(), dir_ / "catalog.json");
    const Server server = StartRegistryDouble(registry(), dir_ / "catalog.json", {}, dir_.path());
    ASSERT_NE(server.port, 0) << "the Wasmer-API test registry did not start";
    // The oracle is Wasmer's runtime under Node, not webcfs: a run of it that
    // spins (seen once, under load) is ended and tried once more, so it
    // cannot hold the suite until ctest's timeout.
    CommandResult r;
    for (int attempt = 0; attempt < 2; ++attempt) {
      r = RunCommand({"timeout", "--kill-after=10", std::to_string(kOracleSeconds), "node",
                      oracle_dir_ + "/view.mjs", root_file, server.Url("/graphql")},
                     {"ORACLE_DIR=" + oracle_dir_});
      if (r.exit_code != kTimedOut && r.exit_code != kKilled) break;
    }
    ASSERT_EQ(r.exit_code, 0) << "view.mjs (exit 124 or 137: it did not finish in "
                              << kOracleSeconds << " s, twice): " << r.err;
    const auto out = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(out.is_discarded()) << r.out << r.err;
    ASSERT_FALSE(out.contains("error")) << out["error"].dump();
    for (const auto& f : out["files"]) {
      ASSERT_FALSE(f.contains("readError") || f.contains("listError")) << f.dump();
      TreeEntry e;
      e.type = f["type"] == "dir" ? 'd' : f["type"] == "file" ? 'f' : '?';
      if (e.type == 'f') {
        e.size = f["size"];
        e.sha256 = f["sha256"];
      }
      view->files[f["path"].get<std::string>().substr(1)] = e;
    }
    for (const auto& [name, run] : out["commandRuns"].items()) {
      view->command_runs[name] = run.value("stdout", "(no output: " + run.dump() + ")");
    }
    if (!out["entrypoint"].is_null()) view->entrypoint = out["entrypoint"];
  }

  void ObserveWebcfs(const std::string& root_file, View* view) {
    Mount m(root_file, {"--registry", registry(), "--no-cache"});
    ASSERT_TRUE(m.ok()) << m.result().err;
    view->files = WalkTree(m.path(), {".webc"});
    for (auto& [path, entry] : view->files) {
      if (entry.type == 'd') entry.size = 0;
    }
    const auto lock = nlohmann::json::parse(ReadHostFile(m / ".webc/resolution.json"));
    for (const auto& c : lock["commands"]) {
      view->command_runs[c["name"]] = "atom:" + c["atom_package"].get<std::string>() + "/" +
                                      c["atom"].get<std::string>() + "\n";
    }
    if (lock.contains("entrypoint") && !lock["entrypoint"].is_null()) {
      view->entrypoint = lock["entrypoint"];
    }
  }

  TempDir dir_{"wasmer-parity"};
  int atoms_ = 0;
};

std::string WasmerParityTest::oracle_dir_;
std::string WasmerParityTest::install_log_;

void ExpectSameView(const View& wasmer, const View& webcfs) {
  EXPECT_EQ(webcfs.files, wasmer.files);
  EXPECT_EQ(webcfs.command_runs, wasmer.command_runs);
  EXPECT_EQ(webcfs.entrypoint, wasmer.entrypoint);
}

// docs/resolution.md, "Filesystem mappings": a dependency mounted under the
// root's mount, and a dependency's volume mapped by the root with `from`.
TEST_F(WasmerParityTest, NestedMountsAndFromMappings) {
  PackageBuilder lib = Package("t/lib", "1.0.0");
  lib.Volume("/v", Dir({{"lib.txt", File("lib\n")}}))
      .Volume("/assets", Dir({{"logo.txt", File("logo\n")}, {"img", Dir({{"a", File("a")}})}}))
      .Fs("/app/vendor", "/v");
  AddCommand(lib, "libtool", "tool");
  Publish(lib);
  PackageBuilder root = Package("t/root", "1.0.0");
  root.use["lib"] = "t/lib@^1";
  root.Volume("/v", Dir({{"main.txt", File("main\n")}, {"src", Dir({{"x.c", File("x")}})}}))
      .Fs("/app", "/v")
      .Fs("/static", "/assets", "lib");
  AddCommand(root, "run", "main");
  View wasmer, webcfs;
  Observe(Publish(root), &wasmer, &webcfs);
  ExpectSameView(wasmer, webcfs);
  EXPECT_EQ(webcfs.files.count("app/vendor/lib.txt"), 1u);
  EXPECT_EQ(webcfs.files.count("static/img/a"), 1u);
}

// docs/resolution.md, "The graph", step 3: two requirements on one name meet
// at the highest version both accept (1.0.5, not the newest 1.2.0).
TEST_F(WasmerParityTest, DiamondUnifiesToTheHighestVersionEveryRequirementAccepts) {
  for (const char* v : {"1.0.0", "1.0.5", "1.2.0"}) {
    PackageBuilder c = Package("t/c", v);
    c.Volume("/v", Dir({{"version.txt", File(v)}})).Fs("/c", "/v");
    Publish(c);
  }
  PackageBuilder a = Package("t/a", "1.0.0");
  a.use["c"] = "t/c@~1.0";
  Publish(a);
  PackageBuilder b = Package("t/b", "1.0.0");
  b.use["c"] = "t/c@^1";
  Publish(b);
  PackageBuilder root = Package("t/diamond", "1.0.0");
  root.use["a"] = "t/a@^1";
  root.use["b"] = "t/b@^1";
  View wasmer, webcfs;
  Observe(Publish(root), &wasmer, &webcfs);
  ExpectSameView(wasmer, webcfs);
  ASSERT_EQ(webcfs.files.count("c/version.txt"), 1u);
  EXPECT_EQ(webcfs.files["c/version.txt"].sha256, Sha256Hex("1.0.5"));
}

// docs/resolution.md, "Commands and entrypoint": commands of dependencies of
// dependencies are exported, and the root shadows a dependency's same name.
TEST_F(WasmerParityTest, CommandsOfDependenciesOfDependencies) {
  PackageBuilder deep = Package("t/deep", "1.0.0");
  AddCommand(deep, "deep", "deepmod");
  AddCommand(deep, "shared", "deepshared");
  Publish(deep);
  PackageBuilder mid = Package("t/mid", "1.0.0");
  mid.use["deep"] = "t/deep@^1";
  AddCommand(mid, "mid", "midmod");
  Publish(mid);
  PackageBuilder root = Package("t/top", "1.0.0");
  root.use["mid"] = "t/mid@^1";
  AddCommand(root, "top", "topmod");
  AddCommand(root, "shared", "topshared");
  root.entrypoint = "top";
  View wasmer, webcfs;
  Observe(Publish(root), &wasmer, &webcfs);
  ExpectSameView(wasmer, webcfs);
  EXPECT_EQ(webcfs.command_runs["shared"], "atom:t/top@1.0.0/topshared\n");
  EXPECT_EQ(webcfs.command_runs["deep"], "atom:t/deep@1.0.0/deepmod\n");
}

// docs/resolution.md, "Commands and entrypoint": a root with several commands
// and no entrypoint has none (a dependency's is not inherited); its only
// command is its entrypoint; a root without commands inherits.
TEST_F(WasmerParityTest, EntrypointFollowsWasmer) {
  PackageBuilder dep = Package("t/ep-dep", "1.0.0");
  AddCommand(dep, "depcmd", "depmod");
  dep.entrypoint = "depcmd";
  Publish(dep);
  struct Case {
    const char* name;
    std::vector<std::string> commands;
    std::optional<std::string> expected;
  };
  for (const Case& c : {Case{"t/ep-several", {"a", "b"}, std::nullopt},
                        Case{"t/ep-one", {"solo"}, "solo"}, Case{"t/ep-none", {}, "depcmd"}}) {
    SCOPED_TRACE(c.name);
    PackageBuilder root = Package(c.name, "1.0.0");
    root.use["dep"] = "t/ep-dep@^1";
    for (const std::string& command : c.commands) AddCommand(root, command, "rootmod");
    View wasmer, webcfs;
    Observe(Publish(root), &wasmer, &webcfs);
    ExpectSameView(wasmer, webcfs);
    EXPECT_EQ(webcfs.entrypoint, c.expected);
  }
}

// docs/resolution.md, "Same-path overlays" (a deliberate difference): both
// let the package first in precedence order win a name at a shared path, but
// Wasmer then drops the second mapping of that path whole, and every mapping
// after it, while webcfs serves the union and every mapping.
TEST_F(WasmerParityTest, SamePathOverlaysAreUnionsInWebcfsOnly) {
  PackageBuilder one = Package("t/one", "1.0.0");
  one.Volume("/v", Dir({{"b.txt", File("one-b")}, {"common.txt", File("one")}})).Fs("/share", "/v");
  Publish(one);
  PackageBuilder two = Package("t/two", "1.0.0");
  two.Volume("/v", Dir({{"x.txt", File("two-x")}})).Fs("/other", "/v");
  Publish(two);
  PackageBuilder root = Package("t/overlay", "1.0.0");
  root.use["two"] = "t/two@^1";  // precedence: root, one, two (later-declared first)
  root.use["one"] = "t/one@^1";
  root.Volume("/v", Dir({{"a.txt", File("root-a")}, {"common.txt", File("root")}}))
      .Fs("/share", "/v");
  View wasmer, webcfs;
  Observe(Publish(root), &wasmer, &webcfs);

  std::set<std::string> only_in_webcfs, only_in_wasmer, different;
  for (const auto& [path, entry] : webcfs.files) {
    auto it = wasmer.files.find(path);
    if (it == wasmer.files.end()) {
      only_in_webcfs.insert(path);
    } else if (!(it->second == entry)) {
      different.insert(path);
    }
  }
  for (const auto& [path, entry] : wasmer.files) {
    if (webcfs.files.count(path) == 0) only_in_wasmer.insert(path);
  }
  EXPECT_EQ(only_in_webcfs, (std::set<std::string>{"share/b.txt", "other", "other/x.txt"}));
  EXPECT_TRUE(only_in_wasmer.empty());
  EXPECT_TRUE(different.empty());  // common.txt is the root's in both
  EXPECT_EQ(webcfs.files["share/common.txt"].sha256, Sha256Hex("root"));
  EXPECT_EQ(webcfs.command_runs, wasmer.command_runs);
  EXPECT_EQ(webcfs.entrypoint, wasmer.entrypoint);
}

}  // namespace
}  // namespace webcfs::testing
