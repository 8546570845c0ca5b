// Server: serves Snapshots through the libfuse3 low-level API.
//
// Lifecycle (the daemon decides foreground/background around it):
//   auto server = Server::Create(snapshot, options);   // session, not mounted
//   server->Mount("/mnt/x");                           // kernel mount; errors before any fork
//   ... fork / notify readiness ...
//   server->Run();                                     // MT loop until unmounted or RequestExit()
//   server->Unmount();                                 // idempotent; the destructor does it too
//
// Reload: SwapSnapshot() makes a new snapshot current. Inode numbers carry the
// generation of the snapshot they belong to (fuse/inode.h); a replaced
// snapshot stays alive while the kernel still holds any of its inodes, so open
// files and cached dentries keep reading the content they started with.
//
// Thread-safety: Run() blocks its caller; SwapSnapshot(), RequestExit() and the
// accessors may be called from any other thread (not from a signal handler).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fuse/catalog.h"
#include "fuse/options.h"
#include "fuse/snapshot.h"
#include "webc/base/result.h"

struct fuse_session;

namespace webcfs::fuse {

class Server {
 public:
  static Result<std::unique_ptr<Server>> Create(std::shared_ptr<const Snapshot> snapshot,
                                                const Options& options);
  // A catalog mount (fuse/catalog.h): lists `provider`'s packages now (an
  // error if that fails) and resolves each name on its first lookup.
  static Result<std::unique_ptr<Server>> CreateCatalog(std::shared_ptr<PackageProvider> provider,
                                                       const CatalogOptions& catalog,
                                                       const Options& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Mounts at `mountpoint` (read-only, default_permissions). Checks the
  // mountpoint first (CheckMountpoint in fuse/mountpoint.h).
  Result<void> Mount(const std::string& mountpoint);
  // Serves requests until the filesystem is unmounted or RequestExit() is called.
  Result<void> Run();
  // Makes Run() return soon (on the next request or signal). Stops the
  // SmallFilePusher first, which may wait for its store in progress: not
  // async-signal-safe; call it from a thread, not a signal handler.
  void RequestExit();
  // Unmounts if still mounted. Safe to call more than once.
  void Unmount();

  // Serves `next` from now on; returns its generation. When mounted, also
  // tells the kernel to drop its cached entries of the root directory so that
  // new lookups reach the new snapshot. Must not be called from a FUSE
  // request handler.
  uint32_t SwapSnapshot(std::shared_ptr<const Snapshot> next);

  // Catalog mounts: lists the sources again and unbinds every name bound to
  // a requirement (`name@^1`, `name`), telling the kernel, so that its next
  // lookup resolves again and may find a newer version; names of exact
  // versions keep their trees. A failed listing changes nothing. Must not be
  // called from a FUSE request handler.
  Result<void> ReloadCatalog();
  bool is_catalog() const;
  // The names the catalog serves a tree for, sorted.
  std::vector<CatalogEntry> CatalogEntries() const;

  // The current snapshot; null for a catalog mount.
  std::shared_ptr<const Snapshot> current() const;
  uint32_t generation() const;
  // Snapshots still alive (the current one plus replaced ones the kernel
  // still references).
  size_t live_snapshots() const;
  const Options& options() const { return options_; }

  // Requests served since Create(), over every snapshot (`webcfs status`).
  // Read without a lock: each number is exact, the set is not one instant.
  struct Counters {
    uint64_t lookups = 0;     // LOOKUP requests
    uint64_t reads = 0;       // READ requests answered with data
    uint64_t bytes_read = 0;  // bytes those READs returned
    uint64_t errors = 0;      // requests failed by I/O errors, stale inodes or memory
  };
  Counters counters() const;
  // Told about requests that failed through no fault of the client: a
  // directory that does not decode, a container file changed under the
  // mount, a failed read, memory. Only the 1st, 2nd, 4th, 8th, ... such
  // failure (Counters::errors counts them all), so a damaged directory listed
  // in a loop cannot flood the log. Called on request threads; set it before
  // Mount().
  using FailureReporter = std::function<void(const std::string& what)>;
  void SetFailureReporter(FailureReporter reporter);

  const std::string& mountpoint() const { return mountpoint_; }

  // Internal to fuse/ (used by the operation table in server.cc).
  struct ServedSnapshot;
  struct Impl;

 private:
  explicit Server(const Options& options);
  Result<void> CreateSession();
  void StartCatalog();  // its threads
  void StopCatalog();   // its threads, before the session goes

  Options options_;
  std::string mountpoint_;
  fuse_session* session_ = nullptr;  // owned
  bool mounted_ = false;
  std::unique_ptr<Impl> impl_;
};

}  // namespace webcfs::fuse
