// TreeFromHostDirectory: a host directory as a WriteNode tree whose files are
// streamed by the writer (only paths and sizes are held in memory).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "webc/container.h"
#include "webc/writer.h"

namespace webcfs::webc {
namespace {

// Directories get no timestamp (0), as Wasmer's writer stores them: a source
// tree's directory mtimes say nothing about the package, and leaving them out
// keeps packing reproducible. Files keep their modification time in seconds.
Result<void> Fill(const std::string& path, WriteNode& dir, uint32_t depth, uint64_t& entries) {
  if (depth > kMaxDepth) {
    return Error::ResourceLimit(path + ": nesting deeper than " + std::to_string(kMaxDepth));
  }
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return Error::Io(path, errno);
  struct Closer {
    DIR* d;
    ~Closer() { ::closedir(d); }
  } closer{d};
  while (true) {
    errno = 0;
    const dirent* ent = ::readdir(d);
    if (ent == nullptr) {
      if (errno != 0) return Error::Io(path + ": readdir", errno);
      break;
    }
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    std::string child_path = path + "/" + name;
    auto valid = ValidateEntryName(name);
    if (!valid) return std::move(valid).error().With(child_path);
    if (++entries > kMaxEntriesPerContainer) {
      return Error::ResourceLimit(path + ": more than " + std::to_string(kMaxEntriesPerContainer) +
                                  " entries");
    }
    struct stat st {};
    if (::fstatat(::dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Error::Io(child_path, errno);
    }
    WriteNode child;
    if (S_ISDIR(st.st_mode)) {
      child.is_dir = true;
      WEBCFS_RETURN_IF_ERROR(Fill(child_path, child, depth + 1, entries));
    } else if (S_ISREG(st.st_mode)) {
      child.host_path = child_path;
      child.mtime = st.st_mtim.tv_sec > 0 ? static_cast<uint64_t>(st.st_mtim.tv_sec) : 0;
    } else {
      // A container has only files and directories; silently dropping a
      // symlink would make the package differ from the tree the user sees.
      const char* kind =
          S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file or directory";
      return Error::InvalidArgument(child_path + ": " + kind +
                                    " (packages hold only files and directories)");
    }
    dir.children.emplace(std::move(name), std::move(child));
  }
  return Ok();
}

}  // namespace

Result<WriteNode> TreeFromHostDirectory(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return Error::Io(dir, errno);
  if (!S_ISDIR(st.st_mode)) return Error::InvalidArgument(dir + ": not a directory");
  WriteNode root;
  root.is_dir = true;
  uint64_t entries = 0;
  WEBCFS_RETURN_IF_ERROR(Fill(dir, root, 0, entries));
  return root;
}

}  // namespace webcfs::webc
