// Internal to fuse/: the state behind a Server, shared by the operation
// table (server.cc) and the catalog's operations (catalog.cc).
#pragma once

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "fuse/catalog.h"
#include "fuse/options.h"
#include "fuse/server.h"
#include "fuse/small_file_pusher.h"
#include "fuse/snapshot.h"

namespace webcfs::fuse {

struct CatalogState;  // catalog.cc
struct CatalogStateDeleter {
  void operator()(CatalogState* state) const;
};

// A snapshot served under one generation, with the number of kernel
// references (lookup counts) to its inodes. Replaced snapshots are dropped
// when that number reaches zero.
struct Server::ServedSnapshot {
  explicit ServedSnapshot(std::shared_ptr<const Snapshot> s)
      : snapshot(std::move(s)),
        entered(static_cast<uint8_t*>(std::calloc(std::max<size_t>(snapshot->max_nodes(), 1), 1))) {
    if (entered == nullptr) throw std::bad_alloc();
  }
  static constexpr uint8_t kEntered = 1;
  static constexpr uint8_t kPushClaimed = 2;

  bool Entered(uint32_t dir) const {
    return (std::atomic_ref<uint8_t>(entered.get()[dir]).load(std::memory_order_relaxed) &
            kEntered) != 0;
  }
  void SetEntered(uint32_t dir) {
    std::atomic_ref<uint8_t> flags(entered.get()[dir]);
    if ((flags.load(std::memory_order_relaxed) & kEntered) == 0) {
      flags.fetch_or(kEntered, std::memory_order_relaxed);
    }
  }
  // True for the first caller only: that one hands directory `dir` to the
  // SmallFilePusher.
  bool ClaimPush(uint32_t dir) {
    std::atomic_ref<uint8_t> flags(entered.get()[dir]);
    if ((flags.load(std::memory_order_relaxed) & kPushClaimed) != 0) return false;
    return (flags.fetch_or(kPushClaimed, std::memory_order_relaxed) & kPushClaimed) == 0;
  }

  uint32_t generation = 0;
  std::shared_ptr<const Snapshot> snapshot;
  std::atomic<uint64_t> lookups{0};
  // entered[d] & kEntered: the kernel was given entries of directory node d
  // (lookup or readdirplus), so it may cache dentries below it. Once the
  // snapshot is replaced, SwapSnapshot invalidates those so that the kernel
  // forgets them (see there). & kPushClaimed: d's small files were handed to
  // the SmallFilePusher. One byte per node the snapshot can have (calloc:
  // pages of nodes never built are never touched), only written on a cold
  // lookup or a directory's first small-file read.
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t[], Free> entered;

  // Catalog mounts: the package's root is node 0 under its own number
  // (MakeCatalogIno), and the catalog binds it to a name of a namespace.
  bool catalog = false;
  uint64_t namespace_ino = 0;  // its parent directory
  bool bound = false;          // guarded by Impl::mu: a name of the catalog serves it
  // Guarded by Impl::mu: when `lookups` last dropped to 0 (steady clock).
  std::chrono::steady_clock::time_point forgotten_at{};
};

struct Server::Impl {
  explicit Impl(const Options& o) : options(o) {}

  const Options options;  // fixed after construction

  // Lock order: mu is a leaf; never held while replying to the kernel.
  mutable std::mutex mu;
  std::vector<std::shared_ptr<ServedSnapshot>> served;  // guarded by mu; includes current
  std::shared_ptr<ServedSnapshot> current;              // guarded by mu
  uint32_t next_generation = 1;                         // guarded by mu

  // Negotiated in init, read by every request afterwards.
  std::atomic<bool> no_open{false};
  std::atomic<bool> no_opendir{false};

  // Server::Counters, bumped with relaxed ordering: statistics, not state.
  std::atomic<uint64_t> lookups{0};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> errors{0};

  Server::FailureReporter report_failure;       // set before Mount(); may be empty
  std::atomic<uint64_t> described_failures{0};  // its rate limit

  // Null when Options::push_small_files is off. Created with the session, its
  // thread started by Run().
  std::unique_ptr<SmallFilePusher> pusher;

  // Set for a catalog mount (fuse/catalog.h); `current` is then null.
  std::unique_ptr<CatalogState, CatalogStateDeleter> catalog;
  fuse_session* session = nullptr;  // for the catalog's kernel notifications
};

// What an inode number names: a node of a served snapshot.
struct ServedNode {
  std::shared_ptr<Server::ServedSnapshot> served;
  const Node* node = nullptr;
  const Snapshot& snapshot() const { return *served->snapshot; }
};

fuse_entry_param EntryFor(const Server::Impl& impl, const ServedNode& t, const Node& n);
// Replies an entry of `n`, counting the kernel reference it carries.
void ReplyEntry(fuse_req_t req, const Server::Impl& impl, const ServedNode& t, const Node& n);
// Drops a live snapshot nobody serves any more (outside Impl::mu).
void ReleaseSnapshot(std::shared_ptr<Server::ServedSnapshot> served);
// Tells the kernel to drop the entries it may hold below `live`'s entered
// directories, so that it forgets them once unused (a replaced snapshot).
void InvalidateEntered(fuse_session* session, const Server::ServedSnapshot& live);

// The catalog's side of the operations (catalog.cc). A catalog directory is
// the root or a namespace: inode numbers below 2^32 (fuse/inode.h).
bool IsCatalogDir(const Server::Impl& impl, fuse_ino_t ino);
void CatalogLookup(fuse_req_t req, Server::Impl& impl, fuse_ino_t parent, const char* name);
void CatalogGetAttr(fuse_req_t req, Server::Impl& impl, fuse_ino_t ino);
// Opening a catalog directory takes its listing (fi->fh); reads serve
// positions in it; releasing the directory frees it.
void CatalogOpenDir(fuse_req_t req, Server::Impl& impl, fuse_ino_t ino, fuse_file_info* fi);
void CatalogReadDir(fuse_req_t req, size_t size, off_t off, bool plus, const fuse_file_info* fi);
void CatalogReleaseDir(fuse_file_info* fi);
// ".." of a package's root: its namespace directory.
void CatalogReplyParent(fuse_req_t req, Server::Impl& impl, const Server::ServedSnapshot& live);
// Under Impl::mu, when the kernel has forgotten every inode of a catalog
// package: true when nothing serves it any more (release it now).
bool CatalogForgotten(Server::ServedSnapshot& live);

}  // namespace webcfs::fuse
