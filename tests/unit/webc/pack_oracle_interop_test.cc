// Interop with the reference implementation (Wasmer's own WEBC code, run by
// tests/wasmer-oracle under Node):
//   1. packages made by `webcfs pack` are loaded and mounted by Wasmer, which
//      lists the same tree, sizes, SHA-256 and mtimes (mount paths mapped back
//      through the package's fs mappings);
//   2. packages made by Wasmer's writer (`oracle create`) are read by
//      `webcfs inspect --json` exactly as the host tree they were made from,
//      and as Wasmer itself lists them.
// The oracle is copied into the build tree and `npm install`ed once (cached).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/wasmer_oracle.h"
#include "tests/unit/webc/webc_test_util.h"
#include "webc/base/sha256.h"
#include "webc/container.h"

namespace webcfs::webc {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace ::webcfs::webc::testing;  // NOLINT: test helpers

// One entry as a mounted filesystem shows it.
struct Seen {
  std::string type;  // "file" or "dir"
  uint64_t size = 0;
  std::string sha256;
  bool operator==(const Seen&) const = default;
};
using Listing = std::map<std::string, Seen>;  // absolute path → entry

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << s.type << " " << s.size << " " << s.sha256;
}

class OracleTest : public ::testing::Test {
 protected:
  // Copies the oracle next to the build and installs its npm packages once.
  static void SetUpTestSuite() {
    std::string log;
    oracle_dir_ = webcfs::testing::InstallWasmerOracle(&log);
    ASSERT_FALSE(oracle_dir_.empty()) << "installing the oracle failed:\n" << log;
  }

  void SetUp() override { ASSERT_FALSE(HasFatalFailure()); }

  std::string Path(const std::string& rel) const { return dir_ + "/" + rel; }

  // Runs `node oracle.mjs ARGS...` and returns its JSON output.
  static Json Oracle(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/env", "node", oracle_dir_ + "/oracle.mjs"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 0) << "oracle failed:\n" << r.out << "\n" << r.err;
    Json j = Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << "oracle printed no JSON:\n" << r.out << r.err;
    return j;
  }

  // A tree with the awkward cases: odd names, empty files and directories,
  // deep nesting, a file larger than one copy chunk.
  void MakeTrickyTree(const std::string& root) {
    fs::create_directories(root + "/empty-dir");
    fs::create_directories(root + "/a/b/c/d");
    fs::create_directories(root + "/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/sub");
    WriteHostFile(root + "/with space.txt", "space\n");
    WriteHostFile(root +
                      "/\xc3\xbcn\xc3\xaf"
                      "c\xc3\xb6"
                      "d\xc3\xa9.txt",
                  "unicode\n");
    WriteHostFile(root + "/.hidden", "hidden\n");
    WriteHostFile(root + "/...", "dots\n");
    WriteHostFile(root + "/sym#b%&=+,;@", "symbols\n");
    WriteHostFile(root + "/empty", "");
    WriteHostFile(root + "/a/b/c/d/deep.txt", "deep\n");
    WriteHostFile(root + "/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/sub/zero", "");
    std::string big(1536 * 1024, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7 + i / 4096) & 0xff);
    WriteHostFile(root + "/a/big.bin", big);
  }

  // The host tree as a mount at `mount` would show it.
  static Listing HostListing(const std::string& root, const std::string& mount) {
    Listing out;
    out[mount] = {"dir", 0, ""};
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      const std::string path = mount + "/" + fs::relative(e.path(), root).string();
      if (e.is_directory()) {
        out[path] = {"dir", 0, ""};
      } else {
        const std::string bytes = ReadHostFile(e.path().string());
        out[path] = {"file", bytes.size(), ToHex(Sha256::Of(bytes))};
      }
    }
    return out;
  }

  static Listing OracleListing(const Json& inspect) {
    Listing out;
    for (const Json& f : inspect.value("files", Json::array())) {
      Seen s{f["type"], 0, ""};
      if (s.type == "file") {
        s.size = f["size"];
        s.sha256 = f["sha256"];
      }
      out[f["path"]] = s;
    }
    return out;
  }

  static std::string oracle_dir_;
  const webcfs::testing::TempDir temp_{"webcfs-oracle-interop"};
  const std::string dir_ = temp_.path();
};

std::string OracleTest::oracle_dir_;

TEST_F(OracleTest, WasmerReadsWhatWebcfsPacks) {
  const std::string pkg = Path("pkg");
  MakeTrickyTree(pkg + "/site");
  fs::create_directories(pkg + "/assets/img");
  WriteHostFile(pkg + "/assets/img/logo.svg", "<svg/>");
  WriteHostFile(pkg + "/README.md", "# tricky\n");
  // A real WASI module (the example package's, compiled at build time).
  fs::copy_file(std::string(WEBCFS_BINARY_DIR) + "/examples/stage/hello/hello.wasm",
                pkg + "/hello.wasm");
  WriteHostFile(pkg + "/wasmer.toml", R"(
[package]
name = "interop/tricky"
version = "0.3.1"
description = "odd names, empty files and directories"
readme = "README.md"

[[module]]
name = "hello"
source = "hello.wasm"
abi = "wasi"

[[command]]
name = "hello"
module = "hello"
runner = "wasi"

[[command]]
name = "again"
module = "hello"
runner = "wasi"
annotations = { wasi = { main-args = ["x"] } }

[fs]
"/public" = "site"
"/assets" = "assets"
"/srv/www" = "site"
)");
  const std::string out = Path("tricky.webc");
  CommandResult packed = RunCommand({WebcfsBinary(), "pack", pkg, "-o", out});
  ASSERT_EQ(packed.exit_code, 0) << packed.err;
  EXPECT_EQ(packed.err, "");

  Json seen = Oracle({"inspect", out, "--roots", "/public,/assets,/srv/www"});
  EXPECT_EQ(seen.value("version", ""), "003");
  EXPECT_EQ(seen.value("id", ""), "interop/tricky@0.3.1");
  std::vector<std::string> commands = seen.value("commands", std::vector<std::string>{});
  std::sort(commands.begin(), commands.end());
  EXPECT_EQ(commands, (std::vector<std::string>{"again", "hello"}));
  EXPECT_EQ(seen.value("entrypoint", Json()), Json()) << "two commands, no entrypoint";
  ASSERT_TRUE(seen.contains("files")) << seen.dump(2);

  // What Wasmer mounted must be exactly the host directories, at every mapping.
  Listing expected = HostListing(pkg + "/site", "/public");
  expected.merge(HostListing(pkg + "/assets", "/assets"));
  expected.merge(HostListing(pkg + "/site", "/srv/www"));
  const Listing wasmer = OracleListing(seen);
  EXPECT_EQ(wasmer.size(), expected.size());
  for (const auto& [path, want] : expected) {
    auto it = wasmer.find(path);
    if (it == wasmer.end()) {
      ADD_FAILURE() << "Wasmer does not show " << path;
      continue;
    }
    EXPECT_EQ(it->second, want) << path;
  }
  for (const auto& [path, got] : wasmer) {
    EXPECT_TRUE(expected.contains(path)) << "Wasmer shows an unexpected " << path;
  }

  // Wasmer reports the stored `modified` seconds as the file's mtime.
  auto c = Container::OpenFile(out);
  ASSERT_TRUE(c.ok()) << c.error().message();
  const Volume* site = (*c)->FindVolume("/site");
  ASSERT_NE(site, nullptr);
  for (const Json& f : seen["files"]) {
    const std::string path = f["path"];
    if (f["type"] != "file" || path.rfind("/public/", 0) != 0) continue;
    const Entry* e = site->Lookup(path.substr(strlen("/public")));
    ASSERT_NE(e, nullptr) << path;
    ASSERT_GT(e->mtime, 0u);
    EXPECT_EQ(f["mtime"], e->mtime) << path;
  }
}

TEST_F(OracleTest, WebcfsReadsWhatWasmerWrites) {
  MakeTrickyTree(Path("data"));
  fs::create_directories(Path("more/nested/empty"));
  WriteHostFile(Path("more/nested/file"), "more\n");
  const std::string wasm = std::string(WEBCFS_BINARY_DIR) + "/examples/stage/hello/hello.wasm";
  const std::string out = Path("created.webc");
  Json created =
      Oracle({"create", out, "--name", "oracle/tricky", "--version", "0.1.0", "--wasm",
              "hello=" + wasm, "--dir", "/data=" + Path("data"), "--dir", "/more=" + Path("more")});
  ASSERT_EQ(created.value("version", ""), "003") << created.dump(2);

  CommandResult inspected = RunCommand({WebcfsBinary(), "inspect", "--json", "--verify", out});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  const Json ours = Json::parse(inspected.out);
  EXPECT_EQ(ours["version"], "003");
  EXPECT_EQ(ours["sha256"], created["sha256"]);
  EXPECT_EQ(ours["commands"]["hello"]["atom"], "hello");
  EXPECT_EQ(ours["entrypoint"], "hello");
  EXPECT_EQ(ours["atoms"]["hello"]["sha256"], ToHex(Sha256::Of(ReadHostFile(wasm))));
  EXPECT_EQ(ours["fs_mappings"], Json::parse(R"([
    {"from": null, "volume_name": "/data", "mount_path": "/data"},
    {"from": null, "volume_name": "/more", "mount_path": "/more"}])"));

  // webcfs's listing of each volume, as mounted at its mapping.
  Listing webcfs;
  for (const Json& m : ours["fs_mappings"]) {
    const std::string mount = m["mount_path"];
    webcfs[mount] = {"dir", 0, ""};
    for (auto& [path, e] : ours["volumes"][m["volume_name"].get<std::string>()].items()) {
      Seen s{e["type"], 0, ""};
      if (s.type == "file") {
        s.size = e["size"];
        s.sha256 = e["sha256"];
        // wasmer-js stores milliseconds in the seconds field (fixtures README).
        struct stat st {};
        const std::string host = Path(mount.substr(1) + path);
        ASSERT_EQ(::stat(host.c_str(), &st), 0) << host;
        EXPECT_EQ(e["mtime"].get<uint64_t>() / 1000, static_cast<uint64_t>(st.st_mtim.tv_sec))
            << path;
      } else {
        EXPECT_EQ(e["mtime"], 0) << path;
      }
      webcfs[mount + path] = s;
    }
  }
  Listing expected = HostListing(Path("data"), "/data");
  expected.merge(HostListing(Path("more"), "/more"));
  EXPECT_EQ(webcfs, expected);

  // And Wasmer itself sees the same.
  Json seen = Oracle({"inspect", out, "--roots", "/data,/more"});
  EXPECT_EQ(OracleListing(seen), expected);
}

}  // namespace
}  // namespace webcfs::webc
