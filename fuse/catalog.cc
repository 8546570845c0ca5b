// The catalog's operations and state (fuse/catalog.h): the root and namespace
// directories, the names bound to package snapshots, the threads that
// resolve names and the sweep that drops what the kernel forgot.
#include <malloc.h>
#include <sys/stat.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "fuse/inode.h"
#include "fuse/server_internal.h"
#include "resolver/listing.h"

namespace webcfs::fuse {

namespace {

using ServedSnapshot = Server::ServedSnapshot;
using Impl = Server::Impl;
using Clock = std::chrono::steady_clock;

// Namespaces nobody listed (a lookup-only source may have them): at most
// this many are made on lookup, so names typed at random cannot grow the
// table without bound.
constexpr size_t kMaxUnlistedNamespaces = 4096;
// Failed names remembered per namespace until the next reload; past this a
// failing name is resolved again on every lookup.
constexpr size_t kMaxRememberedFailures = 4096;

struct Binding {
  std::shared_ptr<ServedSnapshot> live;
  std::string package;  // the root package id
  bool exact = false;   // `name@1.2.3`: kept across reloads
};

struct Namespace {
  std::string name;
  bool listed = false;  // a source listed it (else made on lookup)
  // "name@version" of every listed version and every package loaded since.
  std::set<std::string, std::less<>> entries;
  std::map<std::string, Binding, std::less<>> bound;
  std::map<std::string, int, std::less<>> failed;  // errno, until the next reload
  // Lookups waiting for a name's resolution (a job is queued or running).
  std::map<std::string, std::vector<fuse_req_t>, std::less<>> pending;
};

struct Job {
  size_t ns = 0;
  std::string entry;
  resolver::CatalogName name;
};

}  // namespace

struct CatalogState {
  std::shared_ptr<PackageProvider> provider;
  CatalogOptions options;
  int64_t started = 0;  // mtime of the catalog's directories

  // Guarded by Impl::mu.
  bool lookup_only = false;
  std::vector<std::unique_ptr<Namespace>> namespaces;  // namespace i = kFirstNamespaceIno + i
  std::map<std::string, size_t, std::less<>> by_name;
  size_t unlisted = 0;
  // Loaded trees by root package id, so that `name@^1` and `name@1.2.3`
  // share one snapshot.
  std::map<std::string, std::weak_ptr<const Snapshot>, std::less<>> snapshots;

  // Jobs and threads; jobs_mu is a leaf, never held with Impl::mu.
  std::mutex jobs_mu;
  std::condition_variable jobs_cv;
  std::condition_variable sweep_cv;  // wakes the sweep to stop
  std::deque<Job> jobs;
  bool stop = false;
  std::vector<std::thread> threads;
};

void CatalogStateDeleter::operator()(CatalogState* state) const { delete state; }

namespace {

CatalogState& StateOf(Impl& impl) { return *impl.catalog; }

// "ns/name@1.2.3" → "name@1.2.3" when it is in namespace `ns`.
std::optional<std::string> EntryOf(std::string_view ns, std::string_view id) {
  if (id.size() <= ns.size() + 1 || !id.starts_with(ns) || id[ns.size()] != '/') {
    return std::nullopt;
  }
  return std::string(id.substr(ns.size() + 1));
}

// REQUIRES: Impl::mu held.
size_t AddNamespace(CatalogState& c, std::string_view name, bool listed) {
  if (auto it = c.by_name.find(name); it != c.by_name.end()) {
    if (listed) c.namespaces[it->second]->listed = true;
    return it->second;
  }
  auto ns = std::make_unique<Namespace>();
  ns->name = std::string(name);
  ns->listed = listed;
  if (!listed) ++c.unlisted;
  c.namespaces.push_back(std::move(ns));
  c.by_name.emplace(std::string(name), c.namespaces.size() - 1);
  return c.namespaces.size() - 1;
}

// REQUIRES: Impl::mu held. Replaces what the sources list; packages loaded
// stay listed while they are loaded.
void ApplyListing(CatalogState& c, const PackageProvider::Listing& listing) {
  c.lookup_only = listing.lookup_only;
  for (auto& ns : c.namespaces) {
    ns->entries.clear();
    for (const auto& [entry, b] : ns->bound) {
      if (auto e = EntryOf(ns->name, b.package)) ns->entries.insert(*e);
    }
  }
  for (const std::string& id : listing.ids) {
    const size_t slash = id.find('/');
    if (slash == std::string::npos || slash == 0) continue;
    const size_t i = AddNamespace(c, std::string_view(id).substr(0, slash), true);
    c.namespaces[i]->entries.insert(id.substr(slash + 1));
  }
}

uint64_t NamespaceIno(size_t index) { return kFirstNamespaceIno + index; }

// REQUIRES: Impl::mu held. The namespace of a catalog directory number other
// than the root, or nullptr.
Namespace* NamespaceOf(CatalogState& c, fuse_ino_t ino) {
  if (ino < kFirstNamespaceIno) return nullptr;
  const uint64_t i = ino - kFirstNamespaceIno;
  return i < c.namespaces.size() ? c.namespaces[i].get() : nullptr;
}

void FillDirAttr(const Impl& impl, fuse_ino_t ino, nlink_t links, struct stat* st) {
  *st = {};
  st->st_ino = ino;
  st->st_mode = S_IFDIR | 0555;
  st->st_nlink = links;
  st->st_uid = impl.options.uid;
  st->st_gid = impl.options.gid;
  st->st_blksize = 4096;
  st->st_mtim.tv_sec = impl.catalog->started;
  st->st_atim.tv_sec = impl.catalog->started;
  st->st_ctim.tv_sec = impl.catalog->started;
}

void ReplyDirEntry(fuse_req_t req, const Impl& impl, fuse_ino_t ino) {
  fuse_entry_param e{};
  e.ino = ino;
  e.attr_timeout = impl.options.attr_timeout;
  e.entry_timeout = impl.options.entry_timeout;
  FillDirAttr(impl, ino, 2, &e.attr);
  fuse_reply_entry(req, &e);
}

// Replies the root entry of `live`, whose kernel reference the caller
// counted under Impl::mu (so the sweep cannot drop it in between).
void ReplyCountedRoot(fuse_req_t req, const Impl& impl,
                      const std::shared_ptr<ServedSnapshot>& live) {
  ServedNode t{live, &live->snapshot->root()};
  const fuse_entry_param e = EntryFor(impl, t, *t.node);
  if (fuse_reply_entry(req, &e) != 0) live->lookups.fetch_sub(1);
}

// REQUIRES: Impl::mu held. Takes `live` out of the server's live list when
// the kernel holds none of its inodes; returns it then (to release outside
// the lock).
std::shared_ptr<ServedSnapshot> Unbind(Impl& impl, const std::shared_ptr<ServedSnapshot>& live) {
  live->bound = false;
  if (live->lookups.load() != 0) return nullptr;
  auto it = std::lower_bound(
      impl.served.begin(), impl.served.end(), live->generation,
      [](const std::shared_ptr<ServedSnapshot>& l, uint32_t g) { return l->generation < g; });
  if (it == impl.served.end() || *it != live) return nullptr;
  std::shared_ptr<ServedSnapshot> out = std::move(*it);
  impl.served.erase(it);
  return out;
}

int ErrnoOf(const Error& e, const std::string& spec) {
  if (resolver::IsMissingRoot(e, spec)) return ENOENT;
  return e.code() == Error::Code::kResourceLimit ? ENOMEM : EIO;
}

// One job: resolve, load, bind, answer everyone who waited. On a catalog thread.
void RunJob(Impl& impl, const Job& job) {
  CatalogState& c = StateOf(impl);
  auto built = c.provider->Build(job.name.spec);
  int err = 0;
  std::shared_ptr<ServedSnapshot> live;
  std::vector<fuse_req_t> waiters;
  std::string failure;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    Namespace& ns = *c.namespaces[job.ns];
    if (auto it = ns.pending.find(job.entry); it != ns.pending.end()) {
      waiters = std::move(it->second);
      ns.pending.erase(it);
    }
    if (!built) {
      err = ErrnoOf(built.error(), job.name.spec);
      if (err != ENOENT) failure = built.error().message();
    } else {
      try {
        std::shared_ptr<const Snapshot> snapshot = std::move(*built);
        const auto& packages = snapshot->resolution().packages;
        const std::string root = packages.empty() ? job.name.spec : packages[0].id;
        // A tree loaded under another name of the same version is shared.
        auto& known = c.snapshots[root];
        if (auto existing = known.lock()) {
          snapshot = std::move(existing);
        } else {
          known = snapshot;
        }
        live = std::make_shared<ServedSnapshot>(std::move(snapshot));
        live->generation = impl.next_generation++;
        live->catalog = true;
        live->namespace_ino = NamespaceIno(job.ns);
        live->bound = true;
        live->forgotten_at = Clock::now();
        live->lookups.fetch_add(waiters.size());
        impl.served.push_back(live);
        ns.bound[job.entry] = Binding{live, root, job.name.exact};
        if (auto e = EntryOf(ns.name, root)) ns.entries.insert(*e);
      } catch (const std::bad_alloc&) {
        live = nullptr;
        err = ENOMEM;
        failure = job.name.spec + ": out of memory loading the package";
      }
    }
    if (err != 0 && ns.failed.size() < kMaxRememberedFailures) ns.failed[job.entry] = err;
  }
  if (!failure.empty()) {
    impl.errors.fetch_add(1, std::memory_order_relaxed);
    if (c.options.report_failure) {
      try {
        c.options.report_failure(c.namespaces[job.ns]->name + "/" + job.entry + ": " + failure);
      } catch (...) {
        // Best effort: the lookups are answered either way.
      }
    }
  }
  for (fuse_req_t req : waiters) {
    if (live == nullptr) {
      fuse_reply_err(req, err);
    } else {
      ReplyCountedRoot(req, impl, live);
    }
  }
}

void ResolveLoop(Impl& impl) {
  CatalogState& c = StateOf(impl);
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(c.jobs_mu);
      c.jobs_cv.wait(lock, [&] { return c.stop || !c.jobs.empty(); });
      if (c.stop) return;
      job = std::move(c.jobs.front());
      c.jobs.pop_front();
    }
    RunJob(impl, job);
  }
}

// Drops the trees the kernel has forgotten for longer than the idle time.
void SweepLoop(Impl& impl) {
  CatalogState& c = StateOf(impl);
  const auto period = std::clamp<Clock::duration>(c.options.idle / 4, std::chrono::milliseconds(50),
                                                  std::chrono::seconds(30));
  std::unique_lock<std::mutex> jobs_lock(c.jobs_mu);
  while (!c.sweep_cv.wait_for(jobs_lock, period, [&] { return c.stop; })) {
    jobs_lock.unlock();
    std::vector<std::shared_ptr<ServedSnapshot>> released;
    {
      std::lock_guard<std::mutex> lock(impl.mu);
      const auto now = Clock::now();
      for (auto& ns : c.namespaces) {
        std::erase_if(ns->bound, [&](auto& item) {
          const std::shared_ptr<ServedSnapshot>& live = item.second.live;
          if (live->lookups.load() != 0 || now - live->forgotten_at < c.options.idle) return false;
          if (auto r = Unbind(impl, live)) released.push_back(std::move(r));
          return true;
        });
      }
    }
    // The trees go outside the lock, then the records of the trees gone
    // (also those a forget freed), then the freed heap goes back in one trim:
    // a record left between a tree's blocks would keep its pages resident.
    const bool dropped = !released.empty();
    released.clear();
    size_t erased = 0;
    {
      std::lock_guard<std::mutex> lock(impl.mu);
      erased = std::erase_if(c.snapshots, [](const auto& item) { return item.second.expired(); });
    }
    if (dropped || erased != 0) malloc_trim(0);
    jobs_lock.lock();
  }
}

}  // namespace

bool IsCatalogDir(const Impl& impl, fuse_ino_t ino) {
  return impl.catalog != nullptr && IsCatalogDirIno(ino);
}

bool CatalogForgotten(ServedSnapshot& live) {
  live.forgotten_at = Clock::now();
  return !live.bound;
}

void CatalogLookup(fuse_req_t req, Impl& impl, fuse_ino_t parent, const char* name) {
  CatalogState& c = StateOf(impl);
  const std::string_view key(name);
  if (parent == kRootIno) {
    if (key == "." || key == "..") return ReplyDirEntry(req, impl, kRootIno);
    size_t index = 0;
    {
      std::lock_guard<std::mutex> lock(impl.mu);
      auto it = c.by_name.find(key);
      if (it != c.by_name.end()) {
        index = it->second;
      } else if (!c.lookup_only || c.unlisted >= kMaxUnlistedNamespaces ||
                 !resolver::IsNamespaceName(key)) {
        return (void)fuse_reply_err(req, ENOENT);
      } else {
        index = AddNamespace(c, key, false);
      }
    }
    return ReplyDirEntry(req, impl, NamespaceIno(index));
  }
  if (key == ".") return ReplyDirEntry(req, impl, parent);
  if (key == "..") return ReplyDirEntry(req, impl, kRootIno);
  // As every filesystem that stores names: no name is longer than NAME_MAX.
  if (key.size() > webc::kMaxNameLength) return (void)fuse_reply_err(req, ENAMETOOLONG);
  Job job;
  std::shared_ptr<ServedSnapshot> live;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    Namespace* ns = NamespaceOf(c, parent);
    if (ns == nullptr) return (void)fuse_reply_err(req, ESTALE);
    if (auto it = ns->bound.find(key); it != ns->bound.end()) {
      live = it->second.live;
      live->lookups.fetch_add(1);
    } else if (auto f = ns->failed.find(key); f != ns->failed.end()) {
      return (void)fuse_reply_err(req, f->second);
    } else if (auto p = ns->pending.find(key); p != ns->pending.end()) {
      try {
        p->second.push_back(req);
      } catch (const std::bad_alloc&) {
        return (void)fuse_reply_err(req, ENOMEM);
      }
      return;  // answered by the job under way
    } else {
      auto parsed = resolver::ParseCatalogName(ns->name, key);
      if (!parsed) return (void)fuse_reply_err(req, EINVAL);
      try {
        ns->pending[std::string(key)].push_back(req);
      } catch (const std::bad_alloc&) {
        return (void)fuse_reply_err(req, ENOMEM);
      }
      job.ns = parent - kFirstNamespaceIno;
      job.entry = std::string(key);
      job.name = std::move(*parsed);
    }
  }
  if (live != nullptr) return ReplyCountedRoot(req, impl, live);
  {
    std::lock_guard<std::mutex> lock(c.jobs_mu);
    c.jobs.push_back(std::move(job));
  }
  c.jobs_cv.notify_one();
}

void CatalogReplyParent(fuse_req_t req, Impl& impl, const ServedSnapshot& live) {
  ReplyDirEntry(req, impl, live.namespace_ino);
}

void CatalogGetAttr(fuse_req_t req, Impl& impl, fuse_ino_t ino) {
  CatalogState& c = StateOf(impl);
  nlink_t links = 2;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    if (ino == kRootIno) {
      links += static_cast<nlink_t>(c.namespaces.size());
    } else if (NamespaceOf(c, ino) == nullptr) {
      return (void)fuse_reply_err(req, ESTALE);
    }
  }
  struct stat st;
  FillDirAttr(impl, ino, links, &st);
  fuse_reply_attr(req, &st, impl.options.attr_timeout);
}

namespace {

// An open catalog directory's names: "." and ".." then its entries, sorted,
// taken when it is opened. An offset is a position in it, so a listing read
// in several calls is one directory, whatever loads or reloads meanwhile.
struct CatalogListing {
  std::vector<std::pair<std::string, fuse_ino_t>> names;
};

// REQUIRES: Impl::mu held. ESTALE for a namespace that is gone; may throw
// std::bad_alloc.
int ListCatalogDir(Impl& impl, fuse_ino_t ino, CatalogListing* out) {
  CatalogState& c = StateOf(impl);
  auto& names = out->names;
  if (ino == kRootIno) {
    names.emplace_back(".", kRootIno);
    names.emplace_back("..", kRootIno);
    for (const auto& [name, index] : c.by_name) {
      const Namespace& ns = *c.namespaces[index];
      // Unlisted namespaces show once something in them was loaded.
      if (ns.listed || !ns.entries.empty()) names.emplace_back(name, NamespaceIno(index));
    }
    return 0;
  }
  Namespace* ns = NamespaceOf(c, ino);
  if (ns == nullptr) return ESTALE;
  names.emplace_back(".", ino);
  names.emplace_back("..", kRootIno);
  // Not an inode of anything until looked up; a stable number for d_ino.
  for (const std::string& e : ns->entries) {
    names.emplace_back(e, (std::hash<std::string>{}(ns->name + "/" + e) >> 1) | 1);
  }
  return 0;
}

}  // namespace

void CatalogOpenDir(fuse_req_t req, Impl& impl, fuse_ino_t ino, fuse_file_info* fi) {
  std::unique_ptr<CatalogListing> listing;
  try {
    listing = std::make_unique<CatalogListing>();
    std::lock_guard<std::mutex> lock(impl.mu);
    if (int err = ListCatalogDir(impl, ino, listing.get())) return (void)fuse_reply_err(req, err);
  } catch (const std::bad_alloc&) {
    return (void)fuse_reply_err(req, ENOMEM);
  }
  // Listings change (packages load, reloads): the kernel must not cache them.
  fi->cache_readdir = 0;
  fi->keep_cache = 0;
  fi->fh = reinterpret_cast<uint64_t>(listing.get());
  // On success the handle owns the listing until CatalogReleaseDir.
  if (fuse_reply_open(req, fi) == 0) (void)listing.release();
}

void CatalogReleaseDir(fuse_file_info* fi) { delete reinterpret_cast<CatalogListing*>(fi->fh); }

void CatalogReadDir(fuse_req_t req, size_t size, off_t off, bool plus, const fuse_file_info* fi) {
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  const auto* listing = reinterpret_cast<const CatalogListing*>(fi->fh);
  if (listing == nullptr) return (void)fuse_reply_err(req, EBADF);  // not opened by us
  std::vector<char> buf;
  try {
    buf.resize(size);
  } catch (const std::bad_alloc&) {
    return (void)fuse_reply_err(req, ENOMEM);
  }
  const auto& names = listing->names;
  size_t used = 0;
  for (size_t pos = static_cast<size_t>(off); pos < names.size(); ++pos) {
    const auto& [name, number] = names[pos];
    const auto next = static_cast<off_t>(pos + 1);
    size_t need;
    if (plus) {
      // No attributes and no reference: the kernel looks each name up.
      fuse_entry_param e{};
      e.attr.st_ino = number;
      e.attr.st_mode = S_IFDIR;
      need = fuse_add_direntry_plus(req, buf.data() + used, size - used, name.c_str(), &e, next);
    } else {
      struct stat st {};
      st.st_ino = number;
      st.st_mode = S_IFDIR;
      need = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st, next);
    }
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

Result<std::unique_ptr<Server>> Server::CreateCatalog(std::shared_ptr<PackageProvider> provider,
                                                      const CatalogOptions& catalog,
                                                      const Options& options) {
  if (provider == nullptr) return Error::InvalidArgument("no package provider");
  auto listing = provider->List();
  if (!listing) return std::move(listing).error();
  std::unique_ptr<Server> server(new Server(options));
  auto state = std::unique_ptr<CatalogState, CatalogStateDeleter>(new CatalogState);
  state->provider = std::move(provider);
  state->options = catalog;
  state->options.resolve_threads = std::max(1u, catalog.resolve_threads);
  state->started = static_cast<int64_t>(std::time(nullptr));
  ApplyListing(*state, *listing);
  server->impl_->catalog = std::move(state);
  WEBCFS_RETURN_IF_ERROR(server->CreateSession());
  return server;
}

bool Server::is_catalog() const { return impl_->catalog != nullptr; }

void Server::StartCatalog() {
  CatalogState& c = *impl_->catalog;
  std::lock_guard<std::mutex> lock(c.jobs_mu);
  if (!c.threads.empty() || c.stop) return;
  Impl& impl = *impl_;
  for (unsigned i = 0; i < c.options.resolve_threads; ++i) {
    c.threads.emplace_back([&impl] { ResolveLoop(impl); });
  }
  c.threads.emplace_back([&impl] { SweepLoop(impl); });
}

void Server::StopCatalog() {
  if (impl_->catalog == nullptr) return;
  CatalogState& c = *impl_->catalog;
  {
    std::lock_guard<std::mutex> lock(c.jobs_mu);
    c.stop = true;
  }
  c.jobs_cv.notify_all();
  c.sweep_cv.notify_all();
  for (std::thread& t : c.threads) t.join();
  c.threads.clear();
  // Lookups still waiting for a job that will not run.
  std::vector<fuse_req_t> waiting;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& ns : c.namespaces) {
      for (auto& [name, reqs] : ns->pending)
        waiting.insert(waiting.end(), reqs.begin(), reqs.end());
      ns->pending.clear();
    }
  }
  for (fuse_req_t req : waiting) fuse_reply_err(req, EIO);
}

Result<void> Server::ReloadCatalog() {
  if (impl_->catalog == nullptr) return Error::InvalidArgument("not a catalog mount");
  CatalogState& c = *impl_->catalog;
  auto listing = c.provider->List();
  if (!listing) return std::move(listing).error();
  std::vector<std::pair<fuse_ino_t, std::string>> moved;  // names the kernel must look up again
  std::vector<std::shared_ptr<ServedSnapshot>> unbound;
  std::vector<std::shared_ptr<ServedSnapshot>> released;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (size_t i = 0; i < c.namespaces.size(); ++i) {
      Namespace& ns = *c.namespaces[i];
      ns.failed.clear();
      std::erase_if(ns.bound, [&](auto& item) {
        if (item.second.exact) return false;
        moved.emplace_back(NamespaceIno(i), item.first);
        unbound.push_back(item.second.live);
        if (auto r = Unbind(*impl_, item.second.live)) released.push_back(std::move(r));
        return true;
      });
    }
    ApplyListing(c, *listing);
  }
  if (mounted_) {
    for (const auto& [parent, name] : moved) {
      fuse_lowlevel_notify_inval_entry(session_, parent, name.data(), name.size());
    }
    // Entries below a tree still in use, so that it is forgotten once unused.
    for (const auto& live : unbound) InvalidateEntered(session_, *live);
  }
  unbound.clear();
  for (auto& live : released) ReleaseSnapshot(std::move(live));
  return Ok();
}

std::vector<CatalogEntry> Server::CatalogEntries() const {
  std::vector<CatalogEntry> out;
  if (impl_->catalog == nullptr) return out;
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& [ns_name, index] : impl_->catalog->by_name) {
    for (const auto& [entry, b] : impl_->catalog->namespaces[index]->bound) {
      out.push_back({ns_name + "/" + entry, b.package, b.live->lookups.load()});
    }
  }
  return out;
}

}  // namespace webcfs::fuse
