#include "daemon/mount_settings.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <limits>

#include "daemon/logging.h"

namespace webcfs::daemon {

namespace {

Result<void> CheckLogLevel(const std::string& value) {
  if (auto level = ParseLogLevel(value); !level) return std::move(level.error());
  return Ok();
}

Result<void> CheckPathComponent(const std::string& value) {
  if (value.empty() || value.find('/') != std::string::npos || value == "." || value == "..") {
    return Error::InvalidArgument("'" + value + "' is not a single path component");
  }
  return Ok();
}

constexpr int64_t kMaxId = std::numeric_limits<uint32_t>::max() - 1;

// clang-format off
constexpr MountSetting kSettings[] = {
    {"spec", "package", "",
     "package: ./file.webc, sha256:<hex>, ns/name[@req], or a lockfile (*.json)",
     &MountConfig::spec},
    {"mountpoint", "mountpoint", "", "an existing, empty directory", &MountConfig::mountpoint},
    {"--config", "", "config", "JSON configuration file (keys: README.md); flags given override it",
     &MountConfig::config_file},
    {"--registry", "registries", "registry",
     "registry: a directory, a static mirror URL, or a Wasmer registry API ('wasmer' or a URL "
     "ending in /graphql) (repeatable; first wins on identical ids)",
     &MountConfig::registries},
    {"--registry-token", "registry_token", "",
     "bearer token for remote registries (default: $WASMER_TOKEN)", &MountConfig::registry_token},
    {"--offline", "offline", "offline", "use only the cache: never touch the network",
     &MountConfig::offline},
    {"--cache", "cache_dir", "cache", "content-addressed cache directory", &MountConfig::cache_dir},
    {"--cache-max-bytes", "cache_max_bytes", "cache_max_bytes",
     "evict least-recently-used cache entries above this size, never one a mount serves "
     "(0: no limit)", &MountConfig::cache_max_bytes},
    {"--no-cache", "", "",
     "serve package files in place instead of private cached copies (a file changed under the "
     "mount then reads as EIO)", &MountConfig::no_cache},
    {"-o", "mount_options", "",
     "mount options, comma-separated: FUSE options, or settings as NAME=VALUE as in fstab",
     &MountConfig::mount_options},
    {"--uid", "uid", "uid", "owner reported for every entry (default: the caller's)",
     &MountConfig::uid, 0, kMaxId},
    {"--gid", "gid", "gid", "group reported for every entry (default: the caller's)",
     &MountConfig::gid, 0, kMaxId},
    {"--meta-dir", "meta_dir", "meta_dir", "name of the control directory at the root",
     &MountConfig::meta_dir, 0, 0, CheckPathComponent},
    {"--no-meta-dir", "", "no_meta_dir", "do not show the control directory",
     &MountConfig::no_meta_dir},
    {"--threads", "threads", "threads", "FUSE worker threads", &MountConfig::threads, 1,
     kMaxThreads},
    {"-f,--foreground", "", "", "stay attached instead of daemonizing (systemd: Type=notify)",
     &MountConfig::foreground},
    {"--verify", "verify", "verify", "verify every container checksum before mounting",
     &MountConfig::verify},
    {"--no-lazy", "no_lazy", "no_lazy",
     "download remote packages whole before mounting (default: a remote v3 package whose "
     "registry gives its header digest is mounted at once and each file fetched and verified on "
     "first read)",
     &MountConfig::no_lazy},
    {"--prefetch", "prefetch", "prefetch",
     "once the mount answers, download the rest of each lazily mounted package in the background",
     &MountConfig::prefetch},
    {"--max-decompressed", "", "",
     "refuse a .webc.zst package that inflates past this many bytes",
     &MountConfig::max_decompressed_size},
    {"--log-level", "log_level", "log_level", "trace, debug, info, warn, error, critical or off",
     &MountConfig::log_level, 0, 0, CheckLogLevel},
    {"--catalog", "catalog", "",
     "serve every package of the registries at MOUNTPOINT/<ns>/<name>@<version>/ (then "
     "MOUNTPOINT is the only argument; fstab: 'catalog' as the source)", &MountConfig::catalog},
    {"--catalog-idle", "catalog_idle", "catalog_idle",
     "seconds a catalog keeps a package tree the kernel has forgotten",
     &MountConfig::catalog_idle, 1, kMaxCatalogIdle},
    {"--log-file", "log_file", "log_file",
     "append the serving daemon's log lines to this file (default: syslog in the background, "
     "the journal under systemd)", &MountConfig::log_file},
};

constexpr FuseOption kFuseOptions[] = {
    {"allow_other", "let other users access the mount",
     [](fuse::Options* o) { o->allow_other = true; }},
    {"xattr", "serve user.webc.* extended attributes", [](fuse::Options* o) { o->xattr = true; }},
    {"debug", "libfuse request tracing on stderr", [](fuse::Options* o) { o->debug = true; }},
    {"no_splice", "copy file bytes instead of splicing them",
     [](fuse::Options* o) { o->splice = false; }},
    {"no_push", "do not push small files into the page cache",
     [](fuse::Options* o) { o->push_small_files = false; }},
    {"nonempty", "mount over a directory that has entries, hiding them",
     [](fuse::Options* o) { o->nonempty = true; }},
    {"ro", "read-only (always)", [](fuse::Options*) {}},
    {"default_permissions", "the kernel checks permissions (always)", [](fuse::Options*) {}},
};
// clang-format on

constexpr std::string_view kGenericOptions[] = {
    "rw",       "defaults", "auto",       "noauto",      "user",     "users",  "nouser",
    "owner",    "group",    "nofail",     "_netdev",     "dev",      "nodev",  "suid",
    "nosuid",   "exec",     "noexec",     "sync",        "async",    "atime",  "noatime",
    "relatime", "diratime", "nodiratime", "strictatime", "lazytime", "silent", "loud"};

bool IsSet(const SettingField& field) { return std::holds_alternative<bool MountConfig::*>(field); }

std::vector<std::string> SplitCommas(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const std::string& item : items) {
    size_t start = 0;
    while (start <= item.size()) {
      size_t comma = item.find(',', start);
      if (comma == std::string::npos) comma = item.size();
      if (comma > start) out.push_back(item.substr(start, comma - start));
      start = comma + 1;
    }
  }
  return out;
}

const MountSetting* FstabSetting(std::string_view key) {
  for (const MountSetting& s : kSettings) {
    if (!s.fstab_key.empty() && s.fstab_key == key) return &s;
  }
  return nullptr;
}

const FuseOption* FindFuseOption(std::string_view name) {
  for (const FuseOption& o : kFuseOptions) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

std::string KnownDashOOptions() {
  std::string known = FuseOptionNames();
  for (const MountSetting& s : kSettings) {
    if (s.fstab_key.empty()) continue;
    known += ", " + std::string(s.fstab_key) + (IsSet(s.field) ? "" : "=");
  }
  return known;
}

Result<int64_t> ParseInteger(const MountSetting& s, const std::string& text) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool ranged = s.max > s.min;
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 ||
      (ranged && (value < s.min || value > s.max))) {
    return Error::InvalidArgument(
        "'" + text + "': expected an integer" +
        (ranged ? " in " + std::to_string(s.min) + ".." + std::to_string(s.max) : ""));
  }
  return value;
}

}  // namespace

std::span<const MountSetting> MountSettings() { return kSettings; }
std::span<const FuseOption> FuseOptions() { return kFuseOptions; }

bool IsGenericMountOption(std::string_view option) {
  if (option.starts_with("x-") || option.starts_with("comment=") || option.starts_with("helper=")) {
    return true;
  }
  for (std::string_view g : kGenericOptions) {
    if (g == option) return true;
  }
  return false;
}

std::string FuseOptionNames() {
  std::string names;
  for (const FuseOption& o : kFuseOptions) {
    if (!names.empty()) names += ", ";
    names += o.name;
  }
  return names;
}

void AddSettingFlags(CLI::App* cmd, MountConfig* values,
                     std::vector<std::pair<CLI::Option*, const MountSetting*>>* given) {
  for (const MountSetting& s : kSettings) {
    const std::string flag(s.flag);
    std::string help(s.help);
    if (s.flag == "-o") help += " (FUSE options: " + FuseOptionNames() + ")";
    CLI::Option* opt = std::visit(
        Overloaded{
            [&](bool MountConfig::*m) { return cmd->add_flag(flag, values->*m, help); },
            [&](std::vector<std::string> MountConfig::*m) {
              return cmd->add_option(flag, values->*m, help);
            },
            [&](std::string MountConfig::*m) {
              CLI::Option* opt = cmd->add_option(flag, values->*m, help);
              return (values->*m).empty() ? opt : opt->capture_default_str();
            },
            [&](int64_t MountConfig::*m) { return cmd->add_option(flag, values->*m, help); },
            [&](auto m) { return cmd->add_option(flag, values->*m, help)->capture_default_str(); },
        },
        s.field);
    if (s.max > s.min) opt->check(CLI::Range(s.min, s.max));
    if (s.check != nullptr) {
      opt->check(
          [check = s.check](const std::string& v) {
            auto r = check(v);
            return r ? std::string() : r.error().message();
          },
          "", "");
    }
    given->emplace_back(opt, &s);
  }
}

void CopySetting(const MountSetting& setting, const MountConfig& from, MountConfig* to) {
  std::visit([&](auto m) { to->*m = from.*m; }, setting.field);
}

Result<void> SetFromText(const MountSetting& s, const std::string& text, MountConfig* c) {
  if (s.check != nullptr) WEBCFS_RETURN_IF_ERROR(s.check(text));
  return std::visit(Overloaded{
                        [&](std::string MountConfig::*m) -> Result<void> {
                          if (text.empty()) return Error::InvalidArgument("must not be empty");
                          c->*m = text;
                          return Ok();
                        },
                        [&](std::vector<std::string> MountConfig::*m) -> Result<void> {
                          if (text.empty()) return Error::InvalidArgument("must not be empty");
                          (c->*m).push_back(text);
                          return Ok();
                        },
                        [&](bool MountConfig::*m) -> Result<void> {
                          if (text != "true" && text != "1" && !text.empty()) {
                            return Error::InvalidArgument("'" + text + "': takes no value");
                          }
                          c->*m = true;
                          return Ok();
                        },
                        [&](auto m) -> Result<void> {
                          auto value = ParseInteger(s, text);
                          if (!value) return std::move(value.error());
                          c->*m = static_cast<std::remove_reference_t<decltype(c->*m)>>(*value);
                          return Ok();
                        },
                    },
                    s.field);
}

Result<void> ApplyDashOOptions(const std::vector<std::string>& items, MountConfig* config,
                               std::vector<const MountSetting*>* set) {
  std::vector<std::string> fuse_options;
  for (const std::string& item : SplitCommas(items)) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (FindFuseOption(item) != nullptr) {
      fuse_options.push_back(item);
    } else if (const MountSetting* s = FstabSetting(key); s != nullptr) {
      if (eq == std::string::npos && !IsSet(s->field)) {
        return Error::InvalidArgument("mount option '" + key + "' needs a value (" + key + "=...)");
      }
      if (auto r = SetFromText(*s, value, config); !r) {
        return std::move(r.error()).With("mount option '" + key + "'");
      }
      if (set != nullptr) set->push_back(s);
    } else if (!IsGenericMountOption(item)) {
      return Error::InvalidArgument("unknown mount option '" + item +
                                    "' (known: " + KnownDashOOptions() + ")");
    }
  }
  config->mount_options = std::move(fuse_options);
  return Ok();
}

Result<void> ApplyFuseOptions(const std::vector<std::string>& list, fuse::Options* options) {
  for (const std::string& item : SplitCommas(list)) {
    const FuseOption* o = FindFuseOption(item);
    if (o == nullptr) {
      return Error::InvalidArgument("unknown mount option '" + item +
                                    "' (known: " + FuseOptionNames() + ")");
    }
    o->apply(options);
  }
  return Ok();
}

}  // namespace webcfs::daemon
