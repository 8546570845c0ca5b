// Pack a host directory tree, mount the package, compare the mount with the
// source byte for byte (diff -r semantics: names, types, sizes, contents) and
// check the metadata docs/architecture.md promises.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tests/integration/mount_util.h"
#include "webc/writer.h"

namespace webcfs::testing {
namespace {

namespace fs = std::filesystem;

// Packs `src` as volume "/data" mapped at "/" into `out`.
void PackTree(const std::string& src, const std::string& out) {
  auto tree = webc::TreeFromHostDirectory(src);
  ASSERT_TRUE(tree.ok()) << tree.error().message();
  PackageBuilder p;
  p.Volume("/data", std::move(*tree)).Fs("/", "/data");
  ASSERT_EQ(WritePackage(p, out), "");
}

void Mkdir(const std::string& path) { fs::create_directories(path); }

TEST(RoundTripTest, TreeWithOddNamesEmptyFilesAndDirs) {
  TempDir dir("fuse-rt");
  const std::string src = dir / "src";
  Mkdir(src + "/nested/deeper/deepest");
  Mkdir(src + "/empty-dir");
  Mkdir(src + "/unicode-日本語/café");
  WriteHostFile(src + "/empty-file", "");
  WriteHostFile(src + "/hello.txt", "hello\n");
  WriteHostFile(src + "/nested/deeper/deepest/leaf.bin", std::string(100000, '\x7f'));
  WriteHostFile(src + "/unicode-日本語/café/naïve résumé.txt", "unicode\n");
  WriteHostFile(src + "/emoji-😀", "smile");
  WriteHostFile(src + "/with space and\ttab", "ws");
  WriteHostFile(src + "/" + std::string(255, 'n'), "longest name");
  WriteHostFile(src + "/-dash", "d");
  std::string binary;
  for (int i = 0; i < 70000; ++i) binary.push_back(static_cast<char>(i * 7919 % 256));
  WriteHostFile(src + "/nested/binary", binary);
  PackTree(src, dir / "pkg.webc");

  Mount m(dir / "pkg.webc", {"--no-meta-dir"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const auto want = WalkTree(src);
  const auto got = WalkTree(m.path());
  EXPECT_EQ(got, want);
  EXPECT_EQ(got.size(), 15u);
  const CommandResult diff = RunCommand({"diff", "-r", "--no-dereference", src, m.path()});
  EXPECT_EQ(diff.exit_code, 0) << diff.out << diff.err;

  // Metadata: 0444 files, 0555 directories, owner = the daemon's, link
  // counts 2 + subdirectories, mtime = the packed host file's.
  struct stat st, host;
  ASSERT_EQ(stat((m / "hello.txt").c_str(), &st), 0);
  ASSERT_EQ(stat((src + "/hello.txt").c_str(), &host), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0444);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_uid, getuid());
  EXPECT_EQ(st.st_gid, getgid());
  EXPECT_EQ(st.st_mtime, host.st_mtime);
  ASSERT_EQ(stat((m / "nested").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0555);
  EXPECT_EQ(st.st_nlink, 3u);  // ".", its entry in the parent, and "deeper/.."
  ASSERT_EQ(stat(m.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u + 3u);  // nested, empty-dir, unicode-日本語
  EXPECT_EQ(st.st_ino, 1u);
  // Inode numbers are stable and distinct.
  struct stat a1, a2, b;
  ASSERT_EQ(stat((m / "hello.txt").c_str(), &a1), 0);
  ASSERT_EQ(stat((m / "hello.txt").c_str(), &a2), 0);
  ASSERT_EQ(stat((m / "empty-file").c_str(), &b), 0);
  EXPECT_EQ(a1.st_ino, a2.st_ino);
  EXPECT_NE(a1.st_ino, b.st_ino);
  // Absent names: ENOENT (twice: the second answer comes from the negative dentry).
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(stat((m / "nope").c_str(), &st), -1);
    EXPECT_EQ(errno, ENOENT);
  }
  EXPECT_EQ(stat((m / "hello.txt/child").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOTDIR);

  struct statvfs vfs;
  ASSERT_EQ(statvfs(m.path().c_str(), &vfs), 0);
  EXPECT_TRUE(vfs.f_flag & ST_RDONLY);
  EXPECT_EQ(vfs.f_files, 16u);  // the root and 15 entries
  EXPECT_EQ(vfs.f_namemax, 255u);
}

TEST(RoundTripTest, TenThousandEntries) {
  TempDir dir("fuse-rt10k");
  const std::string src = dir / "src";
  int entries = 0;
  for (int d = 0; d < 100; ++d) {
    const std::string sub = src + "/d" + std::to_string(d);
    Mkdir(sub);
    ++entries;
    for (int f = 0; f < 99; ++f) {
      WriteHostFile(sub + "/f" + std::to_string(f), std::to_string(d * 1000 + f));
      ++entries;
    }
  }
  ASSERT_GE(entries, 10000 - 100);
  PackTree(src, dir / "pkg.webc");
  Mount m(dir / "pkg.webc", {"--no-meta-dir"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const auto got = WalkTree(m.path());
  EXPECT_EQ(got.size(), static_cast<size_t>(entries));
  EXPECT_EQ(got, WalkTree(src));
}

TEST(RoundTripTest, LargeFileAtRandomOffsets) {
  TempDir dir("fuse-rtbig");
  const std::string src = dir / "src";
  Mkdir(src);
  // > 64 MiB, sparse-ish so it is quick to make: a random 4 KiB block at every
  // MiB, zeros between, and an odd tail.
  const uint64_t size = (uint64_t{65} << 20) + 12345;
  const std::string big = src + "/big.bin";
  {
    const int fd = open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    std::mt19937_64 rng(42);
    std::vector<char> block(4096);
    for (uint64_t off = 0; off < size; off += 1 << 20) {
      for (char& c : block) c = static_cast<char>(rng());
      const size_t n = static_cast<size_t>(std::min<uint64_t>(block.size(), size - off));
      ASSERT_EQ(pwrite(fd, block.data(), n, static_cast<off_t>(off)), static_cast<ssize_t>(n));
    }
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    ASSERT_EQ(pwrite(fd, "tail", 4, static_cast<off_t>(size - 4)), 4);
    close(fd);
  }
  PackTree(src, dir / "pkg.webc");
  Mount m(dir / "pkg.webc", {"--no-meta-dir"});
  ASSERT_TRUE(m.ok()) << m.result().err;

  const int want = open(big.c_str(), O_RDONLY);
  const int got = open((m / "big.bin").c_str(), O_RDONLY);
  ASSERT_GE(want, 0);
  ASSERT_GE(got, 0);
  struct stat st;
  ASSERT_EQ(fstat(got, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), size);
  std::mt19937_64 rng(7);
  std::vector<char> a(3 << 20), b(3 << 20);
  for (int i = 0; i < 300; ++i) {
    // Offsets anywhere, including the last bytes and past the end; lengths
    // from 1 byte to 3 MiB (several FUSE requests).
    const uint64_t off = i == 0 ? size - 1 : i == 1 ? size + 10 : rng() % (size + 1);
    const size_t len = 1 + rng() % (i % 10 == 0 ? a.size() : 70000);
    const ssize_t na = pread(want, a.data(), len, static_cast<off_t>(off));
    const ssize_t nb = pread(got, b.data(), len, static_cast<off_t>(off));
    ASSERT_EQ(nb, na) << "offset " << off << " length " << len;
    ASSERT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(na)), 0)
        << "offset " << off << " length " << len;
  }
  // Sequential whole-file read equals the source.
  EXPECT_EQ(Sha256Hex(ReadHostFile(m / "big.bin")), Sha256Hex(ReadHostFile(big)));
  close(want);
  close(got);
}

}  // namespace
}  // namespace webcfs::testing
