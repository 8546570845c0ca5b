#include "daemon/config.h"

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/mount_settings.h"
#include "resolver/http.h"
#include "resolver/registry.h"
#include "webc/base/regular_file.h"

namespace webcfs::daemon {

namespace {

using Json = nlohmann::json;

Error KeyError(const std::string& key, const std::string& what) {
  return Error::InvalidArgument("key '" + key + "': " + what);
}

Result<std::string> String(const Json& v, const std::string& key) {
  if (!v.is_string()) return KeyError(key, "expected a string");
  return v.get<std::string>();
}

Result<std::string> NonEmptyString(const Json& v, const std::string& key) {
  auto s = String(v, key);
  if (s && s->empty()) return KeyError(key, "must not be empty");
  return s;
}

Result<std::vector<std::string>> StringList(const Json& v, const std::string& key) {
  if (!v.is_array()) return KeyError(key, "expected an array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    auto s = NonEmptyString(v[i], key + "[" + std::to_string(i) + "]");
    if (!s) return std::move(s.error());
    out.push_back(std::move(*s));
  }
  return out;
}

Result<int64_t> Integer(const Json& v, const std::string& key, int64_t lo, int64_t hi) {
  const std::string range =
      "expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
  if (!v.is_number_integer()) return KeyError(key, range);
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo) return KeyError(key, range);
    return static_cast<int64_t>(u);
  }
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) return KeyError(key, range);
  return i;
}

// A value of a setting's row (daemon/mount_settings.h), type-checked as JSON.
Result<void> ApplySetting(const MountSetting& s, const std::string& key, const Json& v,
                          MountConfig* c) {
  return std::visit(Overloaded{
                        [&](std::string MountConfig::*m) -> Result<void> {
                          auto text = NonEmptyString(v, key);
                          if (!text) return std::move(text.error());
                          if (s.check != nullptr) {
                            if (auto r = s.check(*text); !r)
                              return KeyError(key, r.error().message());
                          }
                          c->*m = std::move(*text);
                          return Ok();
                        },
                        [&](std::vector<std::string> MountConfig::*m) -> Result<void> {
                          auto list = StringList(v, key);
                          if (!list) return std::move(list.error());
                          c->*m = std::move(*list);
                          return Ok();
                        },
                        [&](bool MountConfig::*m) -> Result<void> {
                          if (!v.is_boolean()) return KeyError(key, "expected true or false");
                          c->*m = v.get<bool>();
                          return Ok();
                        },
                        [&](auto m) -> Result<void> {
                          const int64_t hi =
                              s.max > s.min ? s.max : std::numeric_limits<int64_t>::max();
                          auto i = Integer(v, key, s.min, hi);
                          if (!i) return std::move(i.error());
                          c->*m = static_cast<std::remove_reference_t<decltype(c->*m)>>(*i);
                          return Ok();
                        },
                    },
                    s.field);
}

const MountSetting* ConfigSetting(std::string_view key) {
  for (const MountSetting& s : MountSettings()) {
    if (!s.config_key.empty() && s.config_key == key) return &s;
  }
  return nullptr;
}

std::string KnownKeys() {
  std::string known = "lockfile";
  for (const MountSetting& s : MountSettings()) {
    if (!s.config_key.empty()) known += ", " + std::string(s.config_key);
  }
  return known;
}

Result<void> ApplyKey(const std::string& key, const Json& v, bool* saw_spec, MountConfig* c) {
  if (key == "package" || key == "lockfile") {
    if (*saw_spec) return KeyError(key, "give either 'package' or 'lockfile', not both");
    *saw_spec = true;
  }
  if (key == "lockfile") return ApplySetting(*ConfigSetting("package"), key, v, c);
  // null or false: no control directory.
  if (key == "meta_dir" && (v.is_null() || (v.is_boolean() && !v.get<bool>()))) {
    c->no_meta_dir = true;
    return Ok();
  }
  if (key == "meta_dir" && !v.is_string()) {
    return KeyError(key, "expected a directory name, null or false");
  }
  const MountSetting* s = ConfigSetting(key);
  if (s == nullptr) return KeyError(key, "unknown key (known: " + KnownKeys() + ")");
  WEBCFS_RETURN_IF_ERROR(ApplySetting(*s, key, v, c));
  if (key == "meta_dir") c->no_meta_dir = false;
  return Ok();
}

// Parses `text`, refusing a key that appears twice in one object: nlohmann
// keeps the last silently, and a file that sets a key twice is ambiguous
// about which value was meant. Errors name the file (`name`).
Result<Json> ParseWithoutDuplicateKeys(std::string_view text, const std::string& name) {
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  auto check = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == Json::parse_event_t::key && !duplicate) {
      std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second) duplicate = std::move(key);
    }
    return true;
  };
  // nlohmann throws on malformed input: caught here, at the one call site.
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), check);
  } catch (const Json::exception& e) {
    return Error::InvalidArgument(name + ": " + e.what());
  }
  if (duplicate) return KeyError(*duplicate, "appears more than once").With(name);
  return doc;
}

}  // namespace

Result<void> ApplyConfigJson(std::string_view text, const std::string& name, MountConfig* config) {
  auto parsed = ParseWithoutDuplicateKeys(text, name);
  if (!parsed) return std::move(parsed).error();
  const Json& doc = *parsed;
  if (!doc.is_object()) return Error::InvalidArgument(name + ": expected a JSON object");
  bool saw_spec = false;
  MountConfig updated = *config;
  for (const auto& [key, value] : doc.items()) {
    if (auto r = ApplyKey(key, value, &saw_spec, &updated); !r) {
      return std::move(r.error()).With(name);
    }
  }
  *config = std::move(updated);
  return Ok();
}

Result<void> ApplyConfigFile(const std::string& path, MountConfig* config) {
  // A configuration file is a few hundred bytes; refuse anything absurd (a
  // huge file) before reading it all, and a FIFO or device before it blocks.
  constexpr size_t kMaxConfigBytes = 1 << 20;
  auto text = webc::ReadRegularFile(path, kMaxConfigBytes);
  if (!text) return std::move(text).error();
  WEBCFS_RETURN_IF_ERROR(ApplyConfigJson(*text, path, config));
  std::error_code ec;
  const std::filesystem::path file = std::filesystem::absolute(path, ec);
  if (ec) return Error::Io(path + ": " + ec.message());
  MakePathsAbsolute(file.parent_path().string(), config);
  return Ok();
}

void MakePathsAbsolute(const std::string& base, MountConfig* config) {
  auto absolute = [&base](std::string* path) {
    if (path->empty() || path->front() == '/') return;
    *path = (std::filesystem::path(base) / *path).lexically_normal().string();
  };
  absolute(&config->mountpoint);
  absolute(&config->cache_dir);
  absolute(&config->log_file);
  for (std::string& dir : config->registries) {
    // URLs and the word `wasmer` name remote registries, not folders.
    if (!resolver::IsHttpUrl(dir) && resolver::WasmerRegistryUrl(dir).empty() &&
        !resolver::IsOciRegistry(dir)) {
      absolute(&dir);
    }
  }
  // What the resolver reads as a file: a path starting with '.', or a lockfile.
  if (config->spec.starts_with('.') || config->spec.ends_with(".json")) absolute(&config->spec);
}

resolver::ResolveOptions ResolveOptionsFor(const MountConfig& config) {
  resolver::ResolveOptions o;
  o.registries = config.registries;
  o.registry_token = RegistryToken(config.registry_token);
  o.offline = config.offline;
  o.cache_dir = config.cache_dir;
  o.cache_max_bytes = config.cache_max_bytes;
  o.use_cache = !config.no_cache;
  o.verify = config.verify;
  o.lazy = !config.no_lazy;
  o.prefetch = config.prefetch;
  o.max_decompressed_size = config.max_decompressed_size;
  return o;
}

std::string RegistryToken(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("WASMER_TOKEN");
  return env != nullptr ? std::string(env) : std::string();
}

}  // namespace webcfs::daemon
