// The libfuse3 low-level operations: one thin, noexcept function per op
// (decode -> ask the Snapshot -> reply exactly once), in the style of libfuse's
// example/passthrough_hp.cc. Inner helpers return an errno and fill
// out-parameters; only the op itself replies.
#define FUSE_USE_VERSION 314

#include "fuse/server.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "fuse/file_guard.h"
#include "fuse/inode.h"
#include "fuse/mountpoint.h"
#include "fuse/server_internal.h"
#include "fuse/small_file_pusher.h"

namespace webcfs::fuse {

namespace {

using Impl = Server::Impl;
using ServedSnapshot = Server::ServedSnapshot;

constexpr std::string_view kXattrPackage = "user.webc.package";
constexpr std::string_view kXattrVolume = "user.webc.volume";
constexpr std::string_view kXattrSha256 = "user.webc.sha256";

Impl& ImplOf(fuse_req_t req) { return *static_cast<Impl*>(fuse_req_userdata(req)); }

// Counts a failure the client did not ask for (I/O error, stale inode, memory)
// and passes the errno through: `fuse_reply_err(req, CountFailure(impl, EIO))`.
int CountFailure(Impl& impl, int err) {
  impl.errors.fetch_add(1, std::memory_order_relaxed);
  return err;
}

// As CountFailure, and hands `describe()` (what failed) to the FailureReporter for
// the 1st, 2nd, 4th, ... failure. The description is built only then.
template <typename Describe>
int CountFailure(Impl& impl, int err, Describe&& describe) noexcept {
  impl.errors.fetch_add(1, std::memory_order_relaxed);
  const uint64_t n = impl.described_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (!impl.report_failure || (n & (n - 1)) != 0) return err;
  try {
    impl.report_failure(describe() + " (answered: " + std::generic_category().message(err) +
                        "; failure " + std::to_string(n) + " of this mount)");
  } catch (...) {
    // Best effort: the request's answer is the errno either way.
  }
  return err;
}

void CountRead(Impl& impl, size_t bytes) {
  impl.reads.fetch_add(1, std::memory_order_relaxed);
  impl.bytes_read.fetch_add(bytes, std::memory_order_relaxed);
}

// Looks up the snapshot and node of `ino`. The shared_ptr keeps the snapshot
// alive for the request even if a concurrent forget drops it.
int FindServedNode(Impl& impl, fuse_ino_t ino, ServedNode* out) {
  const InodeRef ref = impl.catalog ? SplitCatalogIno(ino) : SplitIno(ino);
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    if (ref.generation == 0) {
      if (ref.node != 0 || impl.current == nullptr) return CountFailure(impl, ESTALE);
      out->served = impl.current;
    } else {
      // Sorted by generation: each is appended with the next number.
      auto it = std::lower_bound(
          impl.served.begin(), impl.served.end(), ref.generation,
          [](const std::shared_ptr<ServedSnapshot>& l, uint32_t g) { return l->generation < g; });
      if (it != impl.served.end() && (*it)->generation == ref.generation) out->served = *it;
    }
  }
  if (out->served == nullptr) return CountFailure(impl, ESTALE);
  out->node = out->served->snapshot->NodeAt(ref.node);
  return out->node == nullptr ? CountFailure(impl, ESTALE) : 0;
}

fuse_ino_t InoOf(const ServedNode& t, const Node& n) {
  const uint32_t node = t.snapshot().IndexOf(n);
  return t.served->catalog ? MakeCatalogIno(t.served->generation, node)
                           : MakeIno(t.served->generation, node);
}

void FillAttr(const Impl& impl, const Snapshot& s, const Node& n, fuse_ino_t ino, struct stat* st) {
  *st = {};
  st->st_ino = ino;
  st->st_uid = impl.options.uid;
  st->st_gid = impl.options.gid;
  if (n.is_dir()) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2 + s.SubdirCount(n);
  } else {
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(s.FileSize(n));
    st->st_blocks = (st->st_size + 511) / 512;
  }
  st->st_blksize = 4096;
  const int64_t mtime = s.MtimeSeconds(n);
  st->st_mtim.tv_sec = mtime;
  st->st_atim.tv_sec = mtime;
  st->st_ctim.tv_sec = mtime;
}

}  // namespace

fuse_entry_param EntryFor(const Impl& impl, const ServedNode& t, const Node& n) {
  fuse_entry_param e{};
  e.ino = InoOf(t, n);
  e.generation = t.served->generation;
  e.attr_timeout = impl.options.attr_timeout;
  e.entry_timeout = impl.options.entry_timeout;
  FillAttr(impl, t.snapshot(), n, e.ino, &e.attr);
  return e;
}

namespace {}  // namespace

// Every entry reply except the root's adds one kernel reference to the node's
// snapshot. Counted before replying (a forget may race the reply) and taken
// back when the reply did not reach the kernel.
void ReplyEntry(fuse_req_t req, const Impl& impl, const ServedNode& t, const Node& n) {
  const fuse_entry_param e = EntryFor(impl, t, n);
  const bool counted = e.ino != kRootIno;
  if (counted) t.served->lookups.fetch_add(1);
  if (fuse_reply_entry(req, &e) != 0 && counted) t.served->lookups.fetch_sub(1);
}

// Drops the last reference to a replaced snapshot outside the lock (freeing
// 100k nodes takes a while and must not stall other requests), then gives the
// freed heap back to the system: without that glibc keeps a daemon that
// reloaded a big package at its high-water mark for good.
void ReleaseSnapshot(std::shared_ptr<ServedSnapshot> served) {
  const bool last = served.use_count() == 1;  // else a request in flight frees it
  served.reset();
  if (last) malloc_trim(0);
}

namespace {

void DoForget(Impl& impl, fuse_ino_t ino, uint64_t nlookup) {
  const InodeRef ref = impl.catalog ? SplitCatalogIno(ino) : SplitIno(ino);
  if (ref.generation == 0) return;  // the root is never forgotten; junk is ignored
  std::shared_ptr<ServedSnapshot> released;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    auto it = std::lower_bound(
        impl.served.begin(), impl.served.end(), ref.generation,
        [](const std::shared_ptr<ServedSnapshot>& l, uint32_t g) { return l->generation < g; });
    if (it != impl.served.end() && (*it)->generation == ref.generation) {
      ServedSnapshot& l = **it;
      uint64_t before = l.lookups.load();
      uint64_t after;
      do {
        after = before > nlookup ? before - nlookup : 0;
      } while (!l.lookups.compare_exchange_weak(before, after));
      if (after == 0 && (l.catalog ? CatalogForgotten(l) : *it != impl.current)) {
        released = std::move(*it);
        impl.served.erase(it);
      }
    }
  }
  if (released) ReleaseSnapshot(std::move(released));
}

// ---------------------------------------------------------------------------
// Operations

void Init(void* userdata, fuse_conn_info* conn) noexcept {
  Impl& impl = *static_cast<Impl*>(userdata);
  const Options& o = impl.options;
  impl.no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
  // A catalog takes a directory's listing when it is opened, and one ENOSYS
  // from opendir makes the kernel stop opening every directory.
  impl.no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0 && impl.catalog == nullptr;
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  want(FUSE_CAP_ASYNC_READ);       // parallel reads of one file
  want(FUSE_CAP_PARALLEL_DIROPS);  // parallel lookups in one directory
  want(FUSE_CAP_EXPORT_SUPPORT);   // lookup of "." and ".." is implemented
  // Always readdirplus: a lookup is cheap here, and `ls -l`/`find` then need
  // no LOOKUP round trip per entry.
  want(FUSE_CAP_READDIRPLUS);
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  if (o.splice) {
    want(FUSE_CAP_SPLICE_WRITE);
    want(FUSE_CAP_SPLICE_MOVE);
  }
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->max_read = o.max_read;
  conn->max_readahead = std::min(conn->max_readahead, o.max_read);
  conn->max_background = o.max_background;
  conn->congestion_threshold = o.max_background * 3 / 4;
  conn->time_gran = 1'000'000'000;  // whole seconds
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  Impl& impl = ImplOf(req);
  impl.lookups.fetch_add(1, std::memory_order_relaxed);
  if (IsCatalogDir(impl, parent)) return CatalogLookup(req, impl, parent, name);
  ServedNode t;
  if (int err = FindServedNode(impl, parent, &t)) return (void)fuse_reply_err(req, err);
  if (!t.node->is_dir()) return (void)fuse_reply_err(req, ENOTDIR);
  const Snapshot& s = t.snapshot();
  if (auto r = s.Expand(*t.node); !r) {
    return (void)fuse_reply_err(req, CountFailure(impl, EIO, [&] { return r.error().message(); }));
  }
  const std::string_view key(name);
  const Node* n;
  if (key == ".") {
    n = t.node;
  } else if (key == "..") {
    if (t.served->catalog && t.node == &s.root()) return CatalogReplyParent(req, impl, *t.served);
    n = &s.ParentOf(*t.node);
  } else {
    n = s.Find(*t.node, key);
  }
  if (n == nullptr) {
    // Negative entry: ino 0 with a timeout makes the kernel cache the absence.
    fuse_entry_param e{};
    e.entry_timeout = impl.options.negative_timeout;
    fuse_reply_entry(req, &e);
    return;
  }
  if (n->parent == t.snapshot().IndexOf(*t.node) && n != t.node) t.served->SetEntered(n->parent);
  ReplyEntry(req, impl, t, *n);
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) noexcept {
  DoForget(ImplOf(req), ino, nlookup);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) noexcept {
  Impl& impl = ImplOf(req);
  for (size_t i = 0; i < count; ++i) DoForget(impl, forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) noexcept {
  Impl& impl = ImplOf(req);
  if (IsCatalogDir(impl, ino)) return CatalogGetAttr(req, impl, ino);
  ServedNode t;
  if (int err = FindServedNode(impl, ino, &t)) return (void)fuse_reply_err(req, err);
  struct stat st;
  FillAttr(impl, t.snapshot(), *t.node, ino, &st);
  fuse_reply_attr(req, &st, impl.options.attr_timeout);
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Impl& impl = ImplOf(req);
  if (IsCatalogDir(impl, ino)) return (void)fuse_reply_err(req, EISDIR);
  ServedNode t;
  if (int err = FindServedNode(impl, ino, &t)) return (void)fuse_reply_err(req, err);
  if (t.node->is_dir()) return (void)fuse_reply_err(req, EISDIR);
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
    return (void)fuse_reply_err(req, EROFS);
  }
  // ENOSYS = "success, and never send OPEN/RELEASE again"; the kernel then
  // keeps the page cache by default.
  if (impl.no_open) return (void)fuse_reply_err(req, ENOSYS);
  fi->keep_cache = 1;  // content never changes within a snapshot
  fi->noflush = 1;     // nothing to flush: skip FLUSH on every close
  fuse_reply_open(req, fi);
}

// Scratch for copied reads: sources without a file descriptor, no_splice,
// and small reads.
thread_local std::vector<std::byte> tls_scratch;

// libfuse does not splice replies under two pages: it copies them through a
// fresh page-aligned posix_memalign buffer per reply, which fragments every
// worker's malloc arena until it keeps pages resident that hold nothing
// (docs/performance.md, "Daemon memory"). Copying such reads through our own
// per-thread scratch costs the same copy without the allocation.
bool WorthSplicing(size_t n) {
  static const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return n >= 2 * kPage;
}

std::string ChangedUnderTheMount(const ServedNode& t, const FileExtent& x) {
  return "'" + t.snapshot().PathOf(*t.node) + "': " + x.source->name() +
         " changed under the mount; its files fail until a reload";
}

// A READ of the kernel's whole readahead window (128 KiB, the kernel's default
// for a FUSE mount) means it has seen a sequential stream. The container file
// has its own readahead, but each READ reaches it only after a round trip
// through the kernel and the daemon, so its window starts late and stays
// small. Asking for the next kPrefetch bytes of the same file keeps the disk
// ahead of the stream (docs/performance.md, "Cold sequential reads"). Smaller
// READs (small files, random reads) prefetch nothing.
constexpr size_t kSequentialRead = 128 << 10;
constexpr uint64_t kPrefetch = 1 << 20;

void PrefetchAhead(int fd, const FileExtent& x, uint64_t pos, size_t n) {
  const uint64_t next = pos + n;
  if (n < kSequentialRead || next >= x.size) return;
  const uint64_t len = std::min(kPrefetch, x.size - next);
  // Advice only: a failure costs the prefetch, never the read.
  (void)posix_fadvise(fd, static_cast<off_t>(x.offset + next), static_cast<off_t>(len),
                      POSIX_FADV_WILLNEED);
}

// A small file read from its start: its directory's other small files are
// likely next (a tar, a cat of a tree, an import of a package), so they go to
// the kernel's page cache now, once per directory (fuse/small_file_pusher.h).
void OfferSiblings(Impl& impl, const ServedNode& t, const FileExtent& x, uint64_t pos) {
  if (impl.pusher == nullptr || pos != 0 || x.size > SmallFilePusher::kMaxFileBytes) return;
  const Snapshot& s = t.snapshot();
  const uint32_t dir = s.IndexOf(s.ParentOf(*t.node));
  if (!t.served->ClaimPush(dir)) return;
  try {
    impl.pusher->Offer({t.served->snapshot, t.served->generation, dir, s.IndexOf(*t.node)});
  } catch (const std::bad_alloc&) {
    // A push is an optimisation: without it the files are READ as usual.
  }
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* /*fi*/) noexcept {
  Impl& impl = ImplOf(req);
  if (IsCatalogDir(impl, ino)) return (void)fuse_reply_err(req, EISDIR);
  ServedNode t;
  if (int err = FindServedNode(impl, ino, &t)) return (void)fuse_reply_err(req, err);
  if (!t.node->is_file()) return (void)fuse_reply_err(req, EISDIR);
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  const FileExtent x = t.snapshot().Extent(*t.node);
  const auto pos = static_cast<uint64_t>(off);
  if (pos >= x.size) return (void)fuse_reply_buf(req, nullptr, 0);
  const size_t n = static_cast<size_t>(std::min<uint64_t>(size, x.size - pos));
  if (x.source == nullptr) {
    CountRead(impl, n);
    return (void)fuse_reply_buf(req, x.blob.data() + pos, n);
  }

  const int fd = x.source->fd();
  if (fd >= 0) PrefetchAhead(fd, x, pos, n);
  if (fd >= 0 && impl.options.splice && WorthSplicing(n)) {
    // The file must still hold the verified bytes (fuse/file_guard.h): a
    // truncated file would make libfuse send a short reply (taken for end of
    // file), an overwritten one other bytes. Spliced bytes cannot be checked
    // after the fact; docs/filesystem.md gives the remaining window.
    if (x.guard != nullptr) {
      if (int err = x.guard->Check()) {
        return (void)fuse_reply_err(
            req, CountFailure(impl, err, [&] { return ChangedUnderTheMount(t, x); }));
      }
    }
    fuse_bufvec buf = FUSE_BUFVEC_INIT(n);
    buf.buf[0].flags =
        static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY);
    buf.buf[0].fd = fd;
    buf.buf[0].pos = static_cast<off_t>(x.offset + pos);
    CountRead(impl, n);
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
    OfferSiblings(impl, t, x, pos);
    return;
  }
  try {
    if (tls_scratch.size() < n) tls_scratch.resize(n);
  } catch (const std::bad_alloc&) {
    return (void)fuse_reply_err(req, CountFailure(impl, ENOMEM, [&] {
                                  return "a read buffer of " + std::to_string(n) + " bytes";
                                }));
  }
  auto view = x.source->Read(x.offset + pos, n, tls_scratch.data());
  if (!view || view->size() != n) {
    return (void)fuse_reply_err(req, CountFailure(impl, EIO, [&] {
                                  return "'" + t.snapshot().PathOf(*t.node) + "': reading " +
                                         std::to_string(n) + " bytes at offset " +
                                         std::to_string(pos) + ": " +
                                         (view ? "short read" : view.error().message());
                                }));
  }
  // Checked after the copy: a write that began before it changed the stamp.
  if (x.guard != nullptr) {
    if (int err = x.guard->Check()) {
      return (void)fuse_reply_err(
          req, CountFailure(impl, err, [&] { return ChangedUnderTheMount(t, x); }));
    }
  }
  CountRead(impl, n);
  fuse_reply_buf(req, reinterpret_cast<const char*>(view->data()), n);
  OfferSiblings(impl, t, x, pos);
}

void Release(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) noexcept {
  fuse_reply_err(req, 0);
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Impl& impl = ImplOf(req);
  if (IsCatalogDir(impl, ino)) return CatalogOpenDir(req, impl, ino, fi);
  ServedNode t;
  if (int err = FindServedNode(impl, ino, &t)) return (void)fuse_reply_err(req, err);
  if (!t.node->is_dir()) return (void)fuse_reply_err(req, ENOTDIR);
  if (impl.no_opendir) return (void)fuse_reply_err(req, ENOSYS);
  // Both flags, or the kernel drops the cached listing on the next opendir.
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

thread_local std::vector<char> tls_dirbuf;

// Fills `buf` with entries starting at `off`: 0 = ".", 1 = "..", 2 + i =
// child i. The offset stored with each entry is the next one's, so a
// directory handle needs no state. Returns the number of bytes used and the
// lookup references the entries carry (readdirplus).
size_t FillDir(fuse_req_t req, const Impl& impl, const ServedNode& t, char* buf, size_t size,
               off_t off, bool plus, uint64_t* references) {
  const Snapshot& s = t.snapshot();
  const Node& dir = *t.node;
  std::span<const Node> children = s.Children(dir);
  size_t used = 0;
  char name[webc::kMaxNameLength + 1];
  for (uint64_t pos = static_cast<uint64_t>(off); pos < 2 + children.size(); ++pos) {
    const Node& n = pos == 0 ? dir : pos == 1 ? s.ParentOf(dir) : children[pos - 2];
    const std::string_view nm = pos == 0 ? "." : pos == 1 ? ".." : s.NameOf(n);
    const size_t len = std::min(nm.size(), sizeof(name) - 1);
    std::memcpy(name, nm.data(), len);
    name[len] = '\0';
    const auto next = static_cast<off_t>(pos + 1);
    size_t need;
    if (plus) {
      fuse_entry_param e{};
      if (pos < 2) {
        // "." and "..": attributes only; ino 0 adds no kernel reference.
        e.attr.st_ino = InoOf(t, n);
        e.attr.st_mode = S_IFDIR;
      } else {
        e = EntryFor(impl, t, n);
      }
      need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
      if (need > size - used) break;
      if (e.ino != 0 && e.ino != kRootIno) ++*references;
    } else {
      struct stat st {};
      st.st_ino = InoOf(t, n);
      st.st_mode = n.is_dir() ? S_IFDIR : S_IFREG;
      need = fuse_add_direntry(req, buf + used, size - used, name, &st, next);
      if (need > size - used) break;
    }
    used += need;
  }
  return used;
}

// readdir may only fail before its first entry; everything that can fail
// (resolution, the buffer) happens before FillDir.
void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus,
                   const fuse_file_info* fi) noexcept {
  Impl& impl = ImplOf(req);
  if (IsCatalogDir(impl, ino)) return CatalogReadDir(req, size, off, plus, fi);
  ServedNode t;
  if (int err = FindServedNode(impl, ino, &t)) return (void)fuse_reply_err(req, err);
  if (!t.node->is_dir()) return (void)fuse_reply_err(req, ENOTDIR);
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  if (auto r = t.snapshot().Expand(*t.node); !r) {
    return (void)fuse_reply_err(req, CountFailure(impl, EIO, [&] { return r.error().message(); }));
  }
  try {
    if (tls_dirbuf.size() < size) tls_dirbuf.resize(size);
  } catch (const std::bad_alloc&) {
    return (void)fuse_reply_err(req, CountFailure(impl, ENOMEM, [&] {
                                  return "a directory listing buffer of " + std::to_string(size) +
                                         " bytes";
                                }));
  }
  uint64_t references = 0;
  const size_t used = FillDir(req, impl, t, tls_dirbuf.data(), size, off, plus, &references);
  if (references != 0) {
    t.served->lookups.fetch_add(references);
    t.served->SetEntered(t.snapshot().IndexOf(*t.node));
  }
  if (fuse_reply_buf(req, tls_dirbuf.data(), used) != 0 && references != 0) {
    t.served->lookups.fetch_sub(references);
  }
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) noexcept {
  ReadDirCommon(req, ino, size, off, false, fi);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                 fuse_file_info* fi) noexcept {
  ReadDirCommon(req, ino, size, off, true, fi);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  if (IsCatalogDir(ImplOf(req), ino)) CatalogReleaseDir(fi);
  fuse_reply_err(req, 0);
}

void StatFs(fuse_req_t req, fuse_ino_t /*ino*/) noexcept {
  Impl& impl = ImplOf(req);
  std::shared_ptr<const Snapshot> s;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    if (impl.current != nullptr) s = impl.current->snapshot;
  }
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  if (s != nullptr) {  // a catalog has no size of its own
    st.f_blocks = (s->container_bytes() + 4095) / 4096;
    st.f_files = s->max_nodes();  // directories are expanded lazily: the bound, not the count
  }
  st.f_namemax = webc::kMaxNameLength;
  st.f_flag = ST_RDONLY;
  fuse_reply_statfs(req, &st);
}

void Access(fuse_req_t req, fuse_ino_t ino, int mask) noexcept {
  Impl& impl = ImplOf(req);
  if (IsCatalogDir(impl, ino)) return (void)fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
  ServedNode t;
  if (int err = FindServedNode(impl, ino, &t)) return (void)fuse_reply_err(req, err);
  if (mask & W_OK) return (void)fuse_reply_err(req, EROFS);
  if ((mask & X_OK) && t.node->is_file()) return (void)fuse_reply_err(req, EACCES);
  fuse_reply_err(req, 0);
}

// The value of one of our extended attributes; false when the node has none.
bool XattrValue(const ServedNode& t, std::string_view name, std::string* value) {
  const Snapshot& s = t.snapshot();
  if (name == kXattrPackage) {
    const resolver::ResolvedPackage* p = s.PackageOf(*t.node);
    if (p == nullptr) return false;
    *value = p->id;
    return true;
  }
  if (name == kXattrVolume) {
    const std::string_view v = s.VolumeNameOf(*t.node);
    if (t.node->source == Node::kNone || (t.node->flags & Node::kBlob)) return false;
    *value = std::string(v);
    return true;
  }
  if (name == kXattrSha256) {
    auto hash = s.StoredHash(*t.node);
    if (!hash || !hash->has_value()) return false;
    *value = webc::ToHex(**hash);
    return true;
  }
  return false;
}

// Answers a getxattr/listxattr-style request: the size when `size` is 0,
// ERANGE when the caller's buffer is too small, else the bytes.
void ReplyXattr(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) return (void)fuse_reply_xattr(req, value.size());
  if (size < value.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, value.data(), value.size());
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) noexcept {
  Impl& impl = ImplOf(req);
  // ENOSYS makes the kernel stop asking for the life of the mount.
  if (!impl.options.xattr) return (void)fuse_reply_err(req, ENOSYS);
  if (IsCatalogDir(impl, ino)) return (void)fuse_reply_err(req, ENODATA);
  ServedNode t;
  if (int err = FindServedNode(impl, ino, &t)) return (void)fuse_reply_err(req, err);
  try {
    std::string value;
    if (!XattrValue(t, name, &value)) return (void)fuse_reply_err(req, ENODATA);
    ReplyXattr(req, value, size);
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req,
                   CountFailure(impl, ENOMEM, [] { return std::string("extended attributes"); }));
  }
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept {
  Impl& impl = ImplOf(req);
  if (!impl.options.xattr) return (void)fuse_reply_err(req, ENOSYS);
  if (IsCatalogDir(impl, ino)) return ReplyXattr(req, std::string(), size);
  ServedNode t;
  if (int err = FindServedNode(impl, ino, &t)) return (void)fuse_reply_err(req, err);
  try {
    std::string list;
    std::string value;
    for (std::string_view name : {kXattrPackage, kXattrVolume, kXattrSha256}) {
      if (!XattrValue(t, name, &value)) continue;
      list.append(name);
      list.push_back('\0');
    }
    ReplyXattr(req, list, size);
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req,
                   CountFailure(impl, ENOMEM, [] { return std::string("extended attributes"); }));
  }
}

// Every write-type operation: the filesystem is read-only by design (the
// mount is also `ro`, so the kernel usually answers before asking us).
void SetAttr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) noexcept {
  fuse_reply_err(req, EROFS);
}
void MkNod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) noexcept {
  fuse_reply_err(req, EROFS);
}
void MkDir(fuse_req_t req, fuse_ino_t, const char*, mode_t) noexcept { fuse_reply_err(req, EROFS); }
void Unlink(fuse_req_t req, fuse_ino_t, const char*) noexcept { fuse_reply_err(req, EROFS); }
void RmDir(fuse_req_t req, fuse_ino_t, const char*) noexcept { fuse_reply_err(req, EROFS); }
void SymLink(fuse_req_t req, const char*, fuse_ino_t, const char*) noexcept {
  fuse_reply_err(req, EROFS);
}
void Rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) noexcept {
  fuse_reply_err(req, EROFS);
}
void Link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) noexcept {
  fuse_reply_err(req, EROFS);
}
void Write(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) noexcept {
  fuse_reply_err(req, EROFS);
}
void Create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) noexcept {
  fuse_reply_err(req, EROFS);
}
void SetXattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) noexcept {
  fuse_reply_err(req, EROFS);
}
void RemoveXattr(fuse_req_t req, fuse_ino_t, const char*) noexcept { fuse_reply_err(req, EROFS); }
void Fallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) noexcept {
  fuse_reply_err(req, EROFS);
}
void CopyFileRange(fuse_req_t req, fuse_ino_t, off_t, fuse_file_info*, fuse_ino_t, off_t,
                   fuse_file_info*, size_t, int) noexcept {
  fuse_reply_err(req, EROFS);
}

// Not set on purpose (libfuse answers ENOSYS, and the kernel stops sending
// them): flush, fsync, fsyncdir, readlink (no symlinks), locks, lseek.
fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  ops.getattr = GetAttr;
  ops.open = Open;
  ops.read = Read;
  ops.release = Release;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.releasedir = ReleaseDir;
  ops.statfs = StatFs;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  ops.access = Access;
  ops.setattr = SetAttr;
  ops.mknod = MkNod;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.symlink = SymLink;
  ops.rename = Rename;
  ops.link = Link;
  ops.write = Write;
  ops.create = Create;
  ops.setxattr = SetXattr;
  ops.removexattr = RemoveXattr;
  ops.fallocate = Fallocate;
  ops.copy_file_range = CopyFileRange;
  return ops;
}

// fsname must not break libfuse's comma-separated option parsing.
std::string SafeOptionValue(std::string_view v) {
  std::string out(v);
  for (char& c : out) {
    if (c == ',' || c == '\\' || c == ' ' || c == '\t' || c == '\n') c = '_';
  }
  return out.empty() ? "webcfs" : out;
}

}  // namespace

void InvalidateEntered(fuse_session* session, const ServedSnapshot& live) {
  const Snapshot& s = *live.snapshot;
  // A single mount's root (node 0) is FUSE_ROOT_ID: the swap invalidates it.
  for (uint32_t d = live.catalog ? 0 : 1; d < s.node_count(); ++d) {
    if (!live.Entered(d)) continue;
    const fuse_ino_t parent =
        live.catalog ? MakeCatalogIno(live.generation, d) : MakeIno(live.generation, d);
    for (const Node& n : s.Children(*s.NodeAt(d))) {
      const std::string_view name = s.NameOf(n);
      fuse_lowlevel_notify_inval_entry(session, parent, name.data(), name.size());
    }
  }
}

Server::Server(const Options& options)
    : options_(options), impl_(std::make_unique<Impl>(options)) {}

Server::~Server() {
  if (impl_->pusher != nullptr) impl_->pusher->Stop();  // it stores through the session
  StopCatalog();                                        // it replies through the session
  Unmount();
  if (session_ != nullptr) fuse_session_destroy(session_);
}

Result<std::unique_ptr<Server>> Server::Create(std::shared_ptr<const Snapshot> snapshot,
                                               const Options& options) {
  if (snapshot == nullptr) return Error::InvalidArgument("no snapshot to serve");
  std::unique_ptr<Server> server(new Server(options));
  server->SwapSnapshot(std::move(snapshot));
  WEBCFS_RETURN_IF_ERROR(server->CreateSession());
  return server;
}

Result<void> Server::CreateSession() {
  const Options& options = options_;
  std::string opts =
      "ro,default_permissions,subtype=webcfs,fsname=" + SafeOptionValue(options.fs_name) +
      ",max_read=" + std::to_string(options.max_read);
  if (options.allow_other) opts += ",allow_other";
  std::vector<std::string> argv_storage = {"webcfs", "-o", opts};
  if (options.debug) argv_storage.push_back("-d");
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops ops = MakeOperations();
  session_ = fuse_session_new(&args, &ops, sizeof(ops), impl_.get());
  fuse_opt_free_args(&args);
  if (session_ == nullptr) {
    return Error::InvalidArgument("cannot create FUSE session (options: " + opts + ")");
  }
  impl_->session = session_;
  if (options.push_small_files) impl_->pusher = std::make_unique<SmallFilePusher>(session_);
  return Ok();
}

void Server::SetFailureReporter(FailureReporter reporter) {
  impl_->report_failure = std::move(reporter);
}

Result<void> Server::Mount(const std::string& mountpoint) {
  if (mounted_) return Error::InvalidArgument("already mounted at " + mountpoint_);
  WEBCFS_RETURN_IF_ERROR(CheckMountpoint(mountpoint, options_.nonempty));
  if (fuse_session_mount(session_, mountpoint.c_str()) != 0) {
    return Error::Io(mountpoint +
                     ": mount failed (is /dev/fuse available, and fusermount3 installed?)");
  }
  mountpoint_ = mountpoint;
  mounted_ = true;
  return Ok();
}

Result<void> Server::Run() {
  if (!mounted_) return Error::InvalidArgument("Run() before Mount()");
  fuse_loop_config* config = fuse_loop_cfg_create();
  if (config == nullptr) return Error::ResourceLimit("cannot allocate the FUSE loop configuration");
  const unsigned threads = std::max(1u, options_.threads);
  fuse_loop_cfg_set_clone_fd(config, 1);  // one /dev/fuse fd per worker: no shared queue lock
  fuse_loop_cfg_set_max_threads(config, threads);
  fuse_loop_cfg_set_idle_threads(config, threads);  // no thread create/destroy churn
  if (impl_->pusher != nullptr) impl_->pusher->Start();
  if (impl_->catalog != nullptr) StartCatalog();  // here: a fork before Run() keeps no thread
  const int rc = fuse_session_loop_mt(session_, config);
  fuse_loop_cfg_destroy(config);
  if (impl_->pusher != nullptr) impl_->pusher->Stop();
  // A signal-requested exit returns the signal number; only -errno is a failure.
  if (rc < 0) return Error::Io("FUSE session loop", -rc);
  return Ok();
}

void Server::RequestExit() {
  // First, while the workers still answer the READs its stores may wait for.
  if (impl_->pusher != nullptr) impl_->pusher->Stop();
  if (session_ != nullptr) fuse_session_exit(session_);
}

void Server::Unmount() {
  if (!mounted_) return;
  fuse_session_unmount(session_);
  mounted_ = false;
}

uint32_t Server::SwapSnapshot(std::shared_ptr<const Snapshot> next) {
  auto served = std::make_shared<ServedSnapshot>(std::move(next));
  std::shared_ptr<const Snapshot> previous;
  std::vector<std::shared_ptr<ServedSnapshot>> replaced;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    served->generation = impl_->next_generation++;
    if (impl_->current != nullptr) {
      previous = impl_->current->snapshot;
      // Nothing references the old snapshot any more: drop it now.
      if (impl_->current->lookups.load() == 0) {
        std::erase(impl_->served, impl_->current);
      }
    }
    replaced = impl_->served;  // every snapshot the kernel may still hold entries of
    impl_->served.push_back(served);
    impl_->current = served;
  }
  if (mounted_ && previous != nullptr) {
    // The kernel caches the root's entries "forever"; make it look again.
    // Names of both listings: vanished entries and new ones (whose negative
    // entries may be cached).
    for (const auto* s : {previous.get(), served->snapshot.get()}) {
      for (const Node& n : s->Children(s->root())) {
        const std::string_view name = s->NameOf(n);
        fuse_lowlevel_notify_inval_entry(session_, kRootIno, name.data(), name.size());
      }
    }
    fuse_lowlevel_notify_inval_inode(session_, kRootIno, 0, 0);
    // Invalidating a root entry drops only the unused dentries below it; one
    // in use then (an open file, a cwd) stays hashed and, once unused, sits
    // in the dentry cache until memory pressure: its snapshot (and container
    // descriptor) would never be forgotten. So every entry the kernel may
    // hold in a replaced snapshot is invalidated too: used ones are unhashed
    // and forgotten when their last user goes; unknown names cost an ENOENT.
    for (const auto& old : replaced) InvalidateEntered(session_, *old);
  }
  const uint32_t generation = served->generation;
  // A snapshot nobody referenced is freed here; hand that memory back too.
  previous.reset();
  replaced.clear();
  malloc_trim(0);
  return generation;
}

std::shared_ptr<const Snapshot> Server::current() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->current == nullptr ? nullptr : impl_->current->snapshot;
}

uint32_t Server::generation() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->current == nullptr ? 0 : impl_->current->generation;
}

size_t Server::live_snapshots() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->served.size();
}

Server::Counters Server::counters() const {
  Counters c;
  c.lookups = impl_->lookups.load(std::memory_order_relaxed);
  c.reads = impl_->reads.load(std::memory_order_relaxed);
  c.bytes_read = impl_->bytes_read.load(std::memory_order_relaxed);
  c.errors = impl_->errors.load(std::memory_order_relaxed);
  return c;
}

}  // namespace webcfs::fuse
