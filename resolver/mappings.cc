// Filesystem mappings (docs/architecture.md, Resolution step 7;
// docs/webc-format.md §7).
#include <optional>
#include <vector>

#include "resolver/assemble.h"
#include "resolver/quote.h"
#include "webc/container.h"

namespace webcfs::resolver {
namespace {

constexpr size_t kMaxComponent = 255;  // like NAME_MAX
constexpr std::string_view kLegacyVolume = "atom";

Result<std::string> Normalize(std::string_view path, bool must_be_absolute) {
  if (path.find('\0') != std::string_view::npos) {
    return Error::InvalidArgument("path contains a NUL byte");
  }
  if (path.empty()) return Error::InvalidArgument("path is empty");
  if (must_be_absolute && path.front() != '/') {
    return Error::InvalidArgument("path " + Quote(path) + " is not absolute");
  }
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) {
        return Error::InvalidArgument("path " + Quote(path) + " escapes its root with '..'");
      }
      parts.pop_back();
      continue;
    }
    if (part.size() > kMaxComponent) {
      return Error::InvalidArgument("path " + Quote(path) + " has a component longer than " +
                                    std::to_string(kMaxComponent) + " bytes");
    }
    parts.push_back(part);
  }
  std::string out;
  for (std::string_view p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? std::string("/") : out;
}

const Edge* FindEdge(const ResolvedPackage& p, std::string_view alias) {
  for (const Edge& e : p.dependencies) {
    if (e.alias == alias) return &e;
  }
  return nullptr;
}

// The mount path, and original_path inside `owner`'s volume (when the owner
// is known: a `from` mapping's owner is only known once dependencies are
// resolved). Fills m.mount_path and m.volume_path.
Result<void> CheckPaths(const webc::FsMapping& fs, const webc::Container* owner,
                        std::string_view owner_id, Mapping& m) {
  auto mount = NormalizeMountPath(fs.mount_path);
  if (!mount) return std::move(mount).error().With("mount path");
  m.mount_path = std::move(*mount);
  std::optional<std::string> inner;
  if (fs.original_path) {
    auto normalized = NormalizeVolumePath(*fs.original_path);
    if (!normalized) return std::move(normalized).error().With("path inside the volume");
    inner = std::move(*normalized);
  }
  if (owner == nullptr) return Ok();

  const webc::Volume* volume = owner->FindVolume(fs.volume_name);
  if (volume == nullptr) {
    return Error::NotFound("volume " + Quote(fs.volume_name) + " does not exist in " +
                           std::string(owner_id));
  }
  if (inner) {
    const webc::Entry* entry = volume->Lookup(*inner);
    if (entry == nullptr) {
      return Error::NotFound("path " + Quote(*inner) + " does not exist in volume " +
                             Quote(fs.volume_name) + " of " + std::string(owner_id));
    }
    if (!entry->is_dir()) {
      return Error::InvalidArgument("path " + Quote(*inner) + " in volume " +
                                    Quote(fs.volume_name) + " of " + std::string(owner_id) +
                                    " is not a directory");
    }
    m.volume_path = std::move(*inner);
  }
  return Ok();
}

Error UnknownAlias(std::string_view alias) {
  return Error::InvalidArgument("'from' names " + Quote(alias) +
                                ", which is not a dependency alias of this package");
}

std::string MappingWhere(size_t i, const webc::FsMapping& fs) {
  return "fs mapping " + std::to_string(i) + " (volume " + Quote(fs.volume_name) + " at " +
         Quote(fs.mount_path) + ")";
}

Result<Mapping> CheckMapping(const Resolution& r, size_t pkg, const webc::FsMapping& fs) {
  Mapping m;
  m.package = pkg;
  m.volume_package = pkg;
  m.volume = fs.volume_name;
  if (fs.from) {
    const Edge* edge = FindEdge(r.packages[pkg], *fs.from);
    if (edge == nullptr) return UnknownAlias(*fs.from);
    m.volume_package = edge->package;
  }
  const ResolvedPackage& owner = r.packages[m.volume_package];
  WEBCFS_RETURN_IF_ERROR(CheckPaths(fs, owner.container.get(), owner.id, m));
  return m;
}

}  // namespace

Result<std::string> NormalizeMountPath(std::string_view path) { return Normalize(path, true); }

Result<std::string> NormalizeVolumePath(std::string_view path) { return Normalize(path, false); }

Result<void> AssembleMappings(Resolution& r) {
  r.mappings.clear();
  for (size_t pkg = 0; pkg < r.packages.size(); ++pkg) {
    const webc::Container& c = *r.packages[pkg].container;
    const webc::Manifest& manifest = c.manifest();
    if (manifest.has_fs) {
      for (size_t i = 0; i < manifest.fs.size(); ++i) {
        const webc::FsMapping& fs = manifest.fs[i];
        auto m = CheckMapping(r, pkg, fs);
        if (!m) {
          // The package file first: one line that says which file to look at.
          Error e = std::move(m).error().With(r.packages[pkg].id + ": " + MappingWhere(i, fs));
          if (r.packages[pkg].source.empty()) return e;
          return std::move(e).With(r.packages[pkg].source);
        }
        r.mappings.push_back(std::move(*m));
      }
    } else if (c.version() != webc::Version::kV3 && c.FindVolume(kLegacyVolume) != nullptr) {
      // Packages from wapm2pirita <= 1.0.29 carry no `fs`: their whole `atom`
      // volume is the filesystem, at "/". A v3 package without `fs` mounts nothing.
      r.mappings.push_back(Mapping{pkg, pkg, std::string(kLegacyVolume), "/", "/"});
    }
  }
  return Ok();
}

Result<void> CheckOwnMappings(const webc::Container& c) {
  const webc::Manifest& manifest = c.manifest();
  for (size_t i = 0; i < manifest.fs.size(); ++i) {
    const webc::FsMapping& fs = manifest.fs[i];
    Mapping m;
    Result<void> r = Ok();
    if (fs.from && manifest.FindUse(*fs.from) == nullptr) {
      r = UnknownAlias(*fs.from);
    } else {
      r = CheckPaths(fs, fs.from ? nullptr : &c, "this package", m);
    }
    if (!r) return std::move(r).error().With(MappingWhere(i, fs));
  }
  return Ok();
}

}  // namespace webcfs::resolver
