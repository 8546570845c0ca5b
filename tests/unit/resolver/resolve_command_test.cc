// `webcfs resolve` as a user runs it: the built binary on a temp registry.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tests/unit/resolver/package_util.h"
#include "webc/base/sha256.h"

namespace webcfs::resolver {
namespace {

using testing::PackageBuilder;
using testing::ReadHostFile;
using testing::TempDir;

struct CliRun {
  int status = -1;
  std::string out, err;
};

class ResolveSubcommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PackageBuilder("t/app", "1.0.0")
        .Use("lib", "t/lib@1")
        .Atom("app")
        .Command("app", "app")
        .WriteTo(tmp_ / "reg");
    PackageBuilder("t/lib", "1.0.0")
        .Volume("/share", {{"x", "1"}})
        .Fs("/usr/share", "/share")
        .WriteTo(tmp_ / "reg");
  }

  CliRun Webcfs(const std::string& args) {
    const std::string bin = webcfs::testing::WebcfsBinary();
    std::string cmd = "'" + bin + "' " + args + " >'" + (tmp_ / "out").string() + "' 2>'" +
                      (tmp_ / "err").string() + "'";
    CliRun r;
    int rc = std::system(cmd.c_str());
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = ReadHostFile(tmp_ / "out");
    r.err = ReadHostFile(tmp_ / "err");
    return r;
  }
  std::string Common() {
    return "--registry '" + (tmp_ / "reg").string() + "' --cache '" + (tmp_ / "cache").string() +
           "'";
  }

  TempDir tmp_;
};

// A stamp record as the cache writes it: `tag`, the file's current stamp, `hex`.
std::string RecordFor(const std::string& tag, const std::string& path, const std::string& hex) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  auto ns = [](const timespec& t) {
    return std::to_string(int64_t{t.tv_sec} * 1000000000 + t.tv_nsec);
  };
  return tag + " 1 " + std::to_string(st.st_dev) + " " + std::to_string(st.st_ino) + " " +
         std::to_string(st.st_size) + " " + ns(st.st_mtim) + " " + ns(st.st_ctim) + " " + hex +
         "\n";
}

TEST_F(ResolveSubcommandTest, PrintsTheLockfile) {
  CliRun r = Webcfs("resolve t/app " + Common());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["root"], "t/app@1.0.0");
  EXPECT_EQ(doc["packages"].size(), 2u);
  EXPECT_EQ(doc["mappings"][0]["mount_path"], "/usr/share");
  EXPECT_EQ(doc["entrypoint"], "app");
}

TEST_F(ResolveSubcommandTest, WritesAndReadsALockfile) {
  std::string lock = (tmp_ / "app.lock.json").string();
  CliRun w = Webcfs("resolve t/app@^1 " + Common() + " --lock '" + lock + "'");
  ASSERT_EQ(w.status, 0) << w.err;
  EXPECT_EQ(w.out, "");
  std::string written = ReadHostFile(lock);
  ASSERT_FALSE(written.empty());
  // From the lockfile: no registry needed, same output.
  CliRun l = Webcfs("resolve '" + lock + "' --cache '" + (tmp_ / "cache").string() + "'");
  ASSERT_EQ(l.status, 0) << l.err;
  EXPECT_EQ(l.out, written);
}

TEST_F(ResolveSubcommandTest, FailureIsOneLineOnStderr) {
  CliRun r = Webcfs("resolve t/missing@2 " + Common());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "webcfs: t/missing@2: no package t/missing (searched 1 registry)\n");
  CliRun bad = Webcfs("resolve 'ns/x@>=' " + Common());
  EXPECT_EQ(bad.status, 1);
  EXPECT_TRUE(bad.err.starts_with("webcfs: specifier 'ns/x@>='")) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1);
}

TEST_F(ResolveSubcommandTest, WarningsGoToStderrAndDoNotFail) {
  testing::WriteHostFile(tmp_ / "reg" / "junk.webc", "not a container");
  CliRun r = Webcfs("resolve t/app " + Common());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.err.starts_with("webcfs: warning: " + (tmp_ / "reg" / "junk.webc").string() +
                                ": skipped: "))
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["root"], "t/app@1.0.0");
}

TEST_F(ResolveSubcommandTest, SourceRecordsAreUsedOnlyWhileTheSourceIsUnchanged) {
  // A first process imports both packages and records each source's hash.
  CliRun first = Webcfs("resolve t/app " + Common());
  ASSERT_EQ(first.status, 0) << first.err;
  auto doc = nlohmann::json::parse(first.out);
  std::string app_hex = doc["packages"][0]["webc_sha256"];
  std::string lib_source = doc["packages"][1]["source"];
  std::string record =
      (tmp_ / "cache" / "sources" / webc::ToHex(webc::Sha256::Of(lib_source))).string();
  ASSERT_TRUE(std::filesystem::exists(record));

  // Point t/lib's record at t/app's entry: a new process believes it (it does
  // not hash the source) and then finds t/app's manifest behind t/lib's name.
  std::filesystem::remove(record);
  testing::WriteHostFile(record, RecordFor("webcfs-source", lib_source, app_hex));
  CliRun misled = Webcfs("resolve t/lib " + Common());
  EXPECT_EQ(misled.status, 1);
  EXPECT_NE(misled.err.find("file name says t/lib@1.0.0 but the manifest says t/app@1.0.0"),
            std::string::npos)
      << misled.err;

  // Any change to the source (here only its ctime, by chmod) retires the record.
  ASSERT_EQ(::chmod(lib_source.c_str(), 0640), 0);
  CliRun fresh = Webcfs("resolve t/lib " + Common());
  ASSERT_EQ(fresh.status, 0) << fresh.err;
  EXPECT_EQ(nlohmann::json::parse(fresh.out)["packages"][0]["webc_sha256"],
            doc["packages"][1]["webc_sha256"]);
}

TEST_F(ResolveSubcommandTest, VerifiedRecordsSpareLaterProcessesTheHashUntilTheEntryChanges) {
  CliRun first = Webcfs("resolve t/lib " + Common());
  ASSERT_EQ(first.status, 0) << first.err;
  std::string hex = nlohmann::json::parse(first.out)["packages"][0]["webc_sha256"];
  std::string entry = (tmp_ / "cache" / (hex + ".webc")).string();
  std::string record = (tmp_ / "cache" / "verified" / hex).string();
  ASSERT_TRUE(std::filesystem::exists(record)) << "the import records the entry as verified";
  EXPECT_EQ(ReadHostFile(record), RecordFor("webcfs-verified", entry, hex))
      << "the record holds the entry's stamp as it is now (after the rename into place)";
  const std::string good = ReadHostFile(entry);

  // Damage the entry in place: its ctime moves, the record no longer matches,
  // so the next process hashes it, finds the damage and imports it again.
  auto damage = [&] {
    ASSERT_EQ(::chmod(entry.c_str(), 0644), 0);
    std::string bad = good;
    bad[bad.size() / 2] ^= 0x5a;
    testing::WriteHostFile(entry, bad);
  };
  damage();
  CliRun repaired = Webcfs("resolve t/lib " + Common());
  ASSERT_EQ(repaired.status, 0) << repaired.err;
  EXPECT_EQ(ReadHostFile(entry), good);

  // A record that matches the entry's current stamp is believed: the process
  // does not read the entry, so damage made before the record stays (this is
  // what makes the record a saving, and why only we may write records).
  damage();
  std::filesystem::remove(record);
  testing::WriteHostFile(record, RecordFor("webcfs-verified", entry, hex));
  CliRun trusted = Webcfs("resolve t/lib " + Common());
  EXPECT_NE(ReadHostFile(entry), good) << trusted.err;

  // --verify ignores records: the entry is hashed and repaired.
  CliRun verified = Webcfs("resolve t/lib --verify " + Common());
  ASSERT_EQ(verified.status, 0) << verified.err;
  EXPECT_EQ(ReadHostFile(entry), good);
}

}  // namespace
}  // namespace webcfs::resolver
