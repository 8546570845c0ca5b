#include "resolver/index_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "resolver/cache.h"
#include "resolver/registry.h"
#include "resolver/specifier.h"
#include "webc/container.h"

namespace webcfs::resolver {
namespace {

using Json = nlohmann::ordered_json;
constexpr int kIndexVersion = 1;

Result<IndexFileEntry> ParseEntry(const std::string& name, const Json& j, const std::string& at) {
  if (!j.is_object()) return Error::Corrupt(at + ": expected an object");
  auto str = [&](const char* key) -> Result<std::string> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
      return Error::Corrupt(at + "." + key + ": missing or not a string");
    }
    return it->get<std::string>();
  };
  IndexFileEntry e;
  e.full_name = name;
  auto version = str("version");
  if (!version) return std::move(version).error();
  auto v = Version::Parse(*version);
  if (!v) return std::move(v).error().With(at + ".version");
  e.version = std::move(*v);
  auto file = str("file");
  if (!file) return std::move(file).error();
  if (file->empty() || file->front() == '/' || file->find("..") != std::string::npos ||
      file->find('\\') != std::string::npos) {
    return Error::Corrupt(at + ".file: '" + *file + "' is not a relative path inside the registry");
  }
  e.file = std::move(*file);
  auto sha = str("sha256");
  if (!sha) return std::move(sha).error();
  auto hex = ParseSha256Hex(*sha);
  if (!hex) return std::move(hex).error().With(at + ".sha256");
  e.sha256_hex = std::move(*hex);
  if (auto header = j.find("header_sha256"); header != j.end() && !header->is_null()) {
    auto hs = str("header_sha256");
    if (!hs) return std::move(hs).error();
    auto hh = ParseSha256Hex(*hs);
    if (!hh) return std::move(hh).error().With(at + ".header_sha256");
    e.header_sha256_hex = std::move(*hh);
  }
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_unsigned()) {
    return Error::Corrupt(at + ".size: missing or not a non-negative integer");
  }
  e.size = size->get<uint64_t>();
  if (auto uses = j.find("uses"); uses != j.end()) {
    if (!uses->is_object()) return Error::Corrupt(at + ".uses: expected an object");
    std::vector<webc::Dependency> list;
    for (const auto& [alias, spec] : uses->items()) {
      if (!spec.is_string()) return Error::Corrupt(at + ".uses." + alias + ": expected a string");
      list.push_back(webc::Dependency{alias, spec.get<std::string>(), nullptr});
    }
    e.uses = std::move(list);
  }
  return e;
}

}  // namespace

Result<std::vector<IndexFileEntry>> ParseIndexFile(const std::string& text,
                                                   const std::string& where) {
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::exception& e) {
    return Error::Corrupt(where + ": not JSON: " + e.what());
  }
  if (!doc.is_object()) return Error::Corrupt(where + ": expected a JSON object");
  auto version = doc.find("webcfs_index");
  if (version == doc.end() || !version->is_number_unsigned()) {
    return Error::Corrupt(where + ": webcfs_index: missing (not a webcfs index)");
  }
  if (version->get<uint64_t>() != kIndexVersion) {
    return Error::Unsupported(where + ": index version " + version->dump() +
                              " (this webcfs reads " + std::to_string(kIndexVersion) + ")");
  }
  auto packages = doc.find("packages");
  if (packages == doc.end() || !packages->is_object()) {
    return Error::Corrupt(where + ": packages: missing or not an object");
  }
  std::vector<IndexFileEntry> out;
  for (const auto& [name, list] : packages->items()) {
    const std::string at = where + ": packages." + name;
    if (auto valid = ValidatePackageName(name); !valid) return std::move(valid).error().With(at);
    if (!list.is_array()) return Error::Corrupt(at + ": expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      auto e = ParseEntry(name, list[i], at + "[" + std::to_string(i) + "]");
      if (!e) return std::move(e).error();
      out.push_back(std::move(*e));
    }
  }
  return out;
}

Result<std::string> BuildIndexFile(const std::string& dir, std::vector<std::string>* skipped) {
  std::error_code ec;
  std::vector<std::string> names;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (IsRegistryFileName(name)) names.push_back(std::move(name));
  }
  if (ec) return Error::Io("registry " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  std::map<std::string, Json> packages;
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    auto zstd = IsZstdFile(path);
    if (!zstd) return std::move(zstd).error();
    if (*zstd) {
      skipped->push_back(path + ": skipped: compressed (.webc.zst) files are not indexed");
      continue;
    }
    auto container = webc::Container::OpenFile(path);
    if (!container) return std::move(container).error();
    const webc::Manifest& m = (*container)->manifest();
    if (!m.package_name || !m.package_version) {
      skipped->push_back(path + ": skipped: unnamed package");
      continue;
    }
    auto hex = HashContainerFile(path);
    if (!hex) return std::move(hex).error();
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Error::Io(path, errno);
    Json e = Json::object();
    e["version"] = *m.package_version;
    e["file"] = name;
    e["sha256"] = *hex;
    auto header = (*container)->HeaderDigest();
    if (!header) return std::move(header).error().With(path);
    if (*header) e["header_sha256"] = webc::ToHex(**header);
    e["size"] = static_cast<uint64_t>(st.st_size);
    bool all_strings = std::all_of(m.uses.begin(), m.uses.end(), [](const webc::Dependency& d) {
      return d.specifier.has_value();
    });
    if (all_strings) {
      Json uses = Json::object();
      for (const webc::Dependency& d : m.uses) uses[d.alias] = *d.specifier;
      e["uses"] = std::move(uses);
    }
    packages[*m.package_name].push_back(std::move(e));
  }
  Json doc = Json::object();
  doc["webcfs_index"] = kIndexVersion;
  Json list = Json::object();
  for (auto& [name, entries] : packages) list[name] = std::move(entries);
  doc["packages"] = std::move(list);
  return doc.dump(1, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace webcfs::resolver
