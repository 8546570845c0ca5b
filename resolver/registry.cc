#include "resolver/registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "resolver/answers.h"
#include "resolver/cache.h"
#include "resolver/http.h"
#include "resolver/index_file.h"
#include "resolver/specifier.h"
#include "webc/container.h"

namespace webcfs::resolver {
namespace {

constexpr std::string_view kWebc = ".webc";
constexpr std::string_view kWebcZst = ".webc.zst";

// What opening one file taught us, remembered per file version.
struct Inspection {
  std::optional<std::string> error;  // why the file is skipped
  std::string full_name;             // empty: unnamed
  std::optional<Version> version;
  std::string sha256_hex;  // unnamed only
};

struct FileKey {
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_ns;
  bool operator==(const FileKey&) const = default;
};

std::mutex& InspectionMu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::pair<FileKey, Inspection>>& Inspections() {
  static std::map<std::string, std::pair<FileKey, Inspection>> m;
  return m;
}

Inspection Inspect(const std::string& path, uint64_t max_decompressed) {
  Inspection out;
  webc::OpenOptions options;
  options.max_decompressed_size = max_decompressed;
  auto container = webc::Container::OpenFile(path, options);
  if (!container) {
    out.error = container.error().message();
    return out;
  }
  const webc::Manifest& m = (*container)->manifest();
  if (m.package_name && m.package_version) {
    auto name_ok = ValidatePackageName(*m.package_name);
    auto version = Version::Parse(*m.package_version);
    if (name_ok && version) {
      out.full_name = *m.package_name;
      out.version = std::move(*version);
      return out;
    }
    out.error = "manifest names an invalid package: " +
                (name_ok ? version.error().message() : name_ok.error().message());
    return out;
  }
  auto hex = HashContainerFile(path, max_decompressed);
  if (!hex) {
    out.error = hex.error().message();
    return out;
  }
  out.sha256_hex = *hex;
  return out;
}

Inspection InspectOnce(const std::string& path, const struct stat& st, uint64_t max_decompressed) {
  FileKey key{st.st_dev, st.st_ino, st.st_size,
              int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
  {
    std::lock_guard lock(InspectionMu());
    auto it = Inspections().find(path);
    if (it != Inspections().end() && it->second.first == key) return it->second.second;
  }
  Inspection result = Inspect(path, max_decompressed);
  std::lock_guard lock(InspectionMu());
  Inspections()[path] = {key, result};
  return result;
}

}  // namespace

std::string SkipWarning(const std::string& path, const std::string& why) {
  std::string_view rest = why;
  if (rest.starts_with(path + ": ")) rest.remove_prefix(path.size() + 2);
  return path + ": skipped: " + std::string(rest);
}

bool IsRegistryFileName(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  return (name.ends_with(kWebc) && name.size() > kWebc.size()) ||
         (name.ends_with(kWebcZst) && name.size() > kWebcZst.size());
}

std::optional<std::pair<std::string, Version>> ParseRegistryFileName(std::string_view name) {
  if (!IsRegistryFileName(name)) return std::nullopt;
  name.remove_suffix(name.ends_with(kWebcZst) ? kWebcZst.size() : kWebc.size());
  size_t at = name.rfind('@');
  size_t dashes = name.find("--");
  if (at == std::string_view::npos || dashes == std::string_view::npos || dashes > at) {
    return std::nullopt;
  }
  std::string full_name = std::string(name.substr(0, dashes)) + "/" +
                          std::string(name.substr(dashes + 2, at - dashes - 2));
  if (!ValidatePackageName(full_name)) return std::nullopt;
  auto version = Version::Parse(name.substr(at + 1));
  if (!version) return std::nullopt;
  return std::make_pair(std::move(full_name), std::move(*version));
}

namespace {

constexpr const char* kIndexFileName = "index.json";

// True for a relative path of plain segments ("ns--name@1.0.0.webc",
// "pkgs/a.webc"): no scheme, query, fragment, escape, "." or "..".
bool IsPlainRelativePath(std::string_view file) {
  if (file.empty() || file.front() == '/' || file.back() == '/') return false;
  for (char c : file) {
    bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '/' ||
                 std::string_view("-._~@+=,;!$&'()*").find(c) != std::string_view::npos;
    if (!plain) return false;
  }
  for (std::string_view rest = file; !rest.empty();) {
    size_t slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    if (segment.empty() || segment == "." || segment == "..") return false;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  return true;
}

// `file` resolved against `index_url`. For plain paths (all `webcfs index`
// writes) RFC 3986 resolution is a join: done here, because libcurl's
// resolver loads libcurl, which a mount from stored answers otherwise never
// needs.
std::string FileUrl(const std::string& index_url, const std::string& file) {
  if (IsPlainRelativePath(file) && index_url.find_first_of("?#") == std::string::npos) {
    return index_url.substr(0, index_url.rfind('/') + 1) + file;
  }
  return ResolveUrl(index_url, file);
}

// The entries an index.json lists; `base` is the folder (ending in '/') or the
// mirror's URL its `file`s are relative to.
std::vector<RegistryEntry> FromIndexFile(const std::vector<IndexFileEntry>& listed,
                                         const std::string& registry, const std::string& base,
                                         bool remote) {
  std::vector<RegistryEntry> out;
  for (const IndexFileEntry& f : listed) {
    RegistryEntry e;
    if (remote) {
      e.url = FileUrl(base, f.file);
    } else {
      e.path = base + f.file;
    }
    e.registry = registry;
    e.full_name = f.full_name;
    e.version = f.version;
    e.id = NamedId(f.full_name, f.version);
    e.sha256_hex = f.sha256_hex;
    e.header_sha256_hex = f.header_sha256_hex;
    e.size = f.size;
    e.uses = f.uses;
    out.push_back(std::move(e));
  }
  return out;
}

// index.json's URL: `file` in it is relative to the index, not the mirror.
std::string IndexUrl(const std::string& url) {
  std::string base = url.ends_with("/") ? url : url + "/";
  return base + kIndexFileName;
}

Result<std::string> FetchIndex(const std::string& index_url, HttpClient* http,
                               const AnswerCache* answers) {
  if (answers != nullptr) {
    if (auto stored = answers->Find(index_url, "")) return std::move(*stored);
  }
  if (http == nullptr) {
    return Error::NotFound(index_url + ": offline, and no copy from an earlier resolve is stored");
  }
  auto text = http->GetString(index_url, kMaxIndexFileBytes);
  if (text && answers != nullptr && ParseIndexFile(*text, index_url)) {
    answers->Store(index_url, "", *text);
  }
  return text;
}

Result<std::vector<RegistryEntry>> ListMirror(const std::string& url, HttpClient* http,
                                              const AnswerCache* answers) {
  const std::string index_url = IndexUrl(url);
  auto text = FetchIndex(index_url, http, answers);
  if (!text) return std::move(text).error().With("registry " + url);
  auto listed = ParseIndexFile(*text, index_url);
  if (!listed) return std::move(listed).error().With("registry " + url);
  return FromIndexFile(*listed, url, index_url, /*remote=*/true);
}

Result<std::vector<RegistryEntry>> ListIndexedFolder(const std::filesystem::path& dir,
                                                     const std::string& registry) {
  const std::string index_path = (dir / kIndexFileName).string();
  std::ifstream in(index_path, std::ios::binary);
  if (!in) return Error::Io(index_path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error::Io(index_path + ": read error");
  auto listed = ParseIndexFile(text.str(), index_path);
  if (!listed) return std::move(listed).error();
  return FromIndexFile(*listed, registry, dir.string() + "/", /*remote=*/false);
}

// Wasmer's download cache (`~/.wasmer/cache/checkouts/`) names each package
// `<sha256>.bin`, after the hash the registry claimed: the hex, or nullopt.
std::optional<std::string> WasmerCacheFileHex(std::string_view name) {
  constexpr std::string_view kBin = ".bin";
  if (name.size() != 64 + kBin.size() || !name.ends_with(kBin)) return std::nullopt;
  std::string hex(name.substr(0, 64));
  auto valid = ParseSha256Hex(hex);
  if (!valid || *valid != hex) return std::nullopt;
  return hex;
}

// A folder without index.json: its `*.webc` and `*.webc.zst` files, and
// Wasmer's `<sha256>.bin` files, whose bytes must hash to their name.
Result<std::vector<RegistryEntry>> ListFolder(const std::filesystem::path& dir,
                                              const std::string& registry,
                                              uint64_t max_decompressed,
                                              std::vector<std::string>* warnings) {
  std::error_code ec;
  std::vector<std::string> names;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Error::Io("registry " + dir.string() + ": " + ec.message());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (IsRegistryFileName(name) || WasmerCacheFileHex(name)) names.push_back(std::move(name));
  }
  if (ec) return Error::Io("registry " + dir.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());

  std::vector<RegistryEntry> out;
  for (const std::string& name : names) {
    RegistryEntry e;
    e.path = (dir / name).string();
    e.registry = registry;
    // Only regular files are opened (a FIFO would block the open); errno
    // means something only when stat itself failed.
    struct stat st;
    if (::stat(e.path.c_str(), &st) != 0) {
      if (errno != ENOENT) {  // ENOENT: removed while listing
        warnings->push_back(e.path + ": skipped: " + std::strerror(errno));
      }
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      warnings->push_back(e.path + ": skipped: not a regular file");
      continue;
    }
    const std::optional<std::string> named_by_hash = WasmerCacheFileHex(name);
    if (auto parsed = ParseRegistryFileName(name)) {
      e.full_name = parsed->first;
      e.version = parsed->second;
      e.from_file_name = true;
    } else {
      Inspection ins = InspectOnce(e.path, st, max_decompressed);
      if (ins.error) {
        warnings->push_back(SkipWarning(e.path, *ins.error));
        continue;
      }
      if (named_by_hash && !ins.sha256_hex.empty() && ins.sha256_hex != *named_by_hash) {
        warnings->push_back(
            SkipWarning(e.path, "content hashes to " + ins.sha256_hex + ", not to its name"));
        continue;
      }
      e.full_name = ins.full_name;
      e.version = ins.version;
      // A named package's bytes are checked against the name when loaded.
      e.sha256_hex = named_by_hash ? *named_by_hash : ins.sha256_hex;
    }
    e.id = e.full_name.empty() ? HashId(e.sha256_hex) : NamedId(e.full_name, *e.version);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::string WasmerRegistryUrl(std::string_view registry) {
  if (registry == "wasmer") {
    const char* env = std::getenv("WASMER_REGISTRY");
    return env != nullptr && env[0] != '\0' ? std::string(env) : std::string(kWasmerRegistry);
  }
  if (!IsHttpUrl(registry)) return "";
  std::string_view path = registry.substr(0, registry.find_first_of("?#"));
  while (path.ends_with("/")) path.remove_suffix(1);
  return path.ends_with("/graphql") ? std::string(registry) : "";
}

Result<std::shared_ptr<const RegistryIndex>> RegistryIndex::Open(
    const std::vector<std::string>& folders, uint64_t max_decompressed, HttpClient* http,
    const AnswerCache* answers) {
  auto index = std::make_shared<RegistryIndex>();
  std::map<std::string, size_t, std::less<>> by_id;
  for (const std::string& folder : folders) {
    if (!WasmerRegistryUrl(folder).empty() || IsOciRegistry(folder)) continue;
    Result<std::vector<RegistryEntry>> listed = std::vector<RegistryEntry>();
    if (IsHttpUrl(folder)) {
      listed = ListMirror(folder, http, answers);
    } else {
      std::error_code ec;
      std::filesystem::path dir = std::filesystem::absolute(folder, ec).lexically_normal();
      if (ec) return Error::Io("registry " + folder + ": " + ec.message());
      if (std::filesystem::exists(dir / kIndexFileName, ec)) {
        listed = ListIndexedFolder(dir, folder);
      } else {
        listed = ListFolder(dir, folder, max_decompressed, &index->warnings_);
      }
    }
    if (!listed) return std::move(listed).error();
    std::map<std::string, std::string, std::less<>> first_in_folder;  // id → file
    for (RegistryEntry& e : *listed) {
      if (auto dup = first_in_folder.find(e.id); dup != first_in_folder.end()) {
        index->warnings_.push_back(e.source() + ": skipped: " + e.id + " is already provided by " +
                                   dup->second);
        continue;
      }
      first_in_folder.emplace(e.id, e.source());
      if (by_id.count(e.id)) continue;  // an earlier folder wins
      by_id.emplace(e.id, index->entries_.size());
      index->entries_.push_back(std::move(e));
    }
  }
  for (size_t i = 0; i < index->entries_.size(); ++i) {
    const RegistryEntry& e = index->entries_[i];
    if (e.full_name.empty()) {
      index->by_hash_.emplace(e.sha256_hex, i);
    } else {
      index->by_name_[e.full_name].push_back(i);
    }
  }
  for (auto& [name, list] : index->by_name_) {
    std::sort(list.begin(), list.end(), [&](size_t a, size_t b) {
      return *index->entries_[a].version > *index->entries_[b].version;
    });
  }
  return std::shared_ptr<const RegistryIndex>(std::move(index));
}

std::vector<const RegistryEntry*> RegistryIndex::Versions(std::string_view full_name) const {
  std::vector<const RegistryEntry*> out;
  auto it = by_name_.find(full_name);
  if (it == by_name_.end()) return out;
  for (size_t i : it->second) out.push_back(&entries_[i]);
  return out;
}

const RegistryEntry* RegistryIndex::FindHash(std::string_view sha256_hex) const {
  auto it = by_hash_.find(sha256_hex);
  return it == by_hash_.end() ? nullptr : &entries_[it->second];
}

}  // namespace webcfs::resolver
