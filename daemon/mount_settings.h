// The settings of `webcfs mount`, in one table: each row names a setting's
// command-line flag, configuration-file key, fstab option, help text and the
// MountConfig field it sets. The flag parser and --help, the configuration
// reader (daemon/config.cc), the fstab options that the mount helper passes
// through `-o`, and the README check are all driven by it, so a setting is
// added in one place.
//
// The FUSE options of `-o` (allow_other, xattr, ...) are a second, smaller
// table: they configure the kernel mount (fuse::Options), not MountConfig.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "daemon/config.h"
#include "fuse/options.h"
#include "webc/base/result.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace webcfs::daemon {

// Visits a SettingField with one lambda per member type.
template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

using SettingField =
    std::variant<std::string MountConfig::*, std::vector<std::string> MountConfig::*,
                 bool MountConfig::*, unsigned MountConfig::*, int64_t MountConfig::*,
                 uint64_t MountConfig::*>;

struct MountSetting {
  // CLI11 names ("--registry", "-f,--foreground"); a positional's name ("spec").
  std::string_view flag;
  std::string_view config_key;  // "" = command line only
  std::string_view fstab_key;   // "" = not an fstab / -o option
  std::string_view help;
  SettingField field;
  int64_t min = 0;  // integer settings: accepted range, when max > min
  int64_t max = 0;
  // String settings: refuses a bad value ("'x/y' is not a single path component").
  Result<void> (*check)(const std::string& value) = nullptr;
};

std::span<const MountSetting> MountSettings();

struct FuseOption {
  std::string_view name;  // as written after -o
  std::string_view help;
  void (*apply)(fuse::Options*);
};

std::span<const FuseOption> FuseOptions();

// Options mount(8) passes for every filesystem (ro, nofail, x-systemd.*, ...):
// accepted in fstab and after -o, and ignored.
bool IsGenericMountOption(std::string_view option);

// Registers every setting with a flag on `cmd`, bound to `values`; `given`
// receives each option with its row, so that the ones given override a file.
void AddSettingFlags(CLI::App* cmd, MountConfig* values,
                     std::vector<std::pair<CLI::Option*, const MountSetting*>>* given);

// Copies the field `setting` sets from `from` to `to`.
void CopySetting(const MountSetting& setting, const MountConfig& from, MountConfig* to);

// Applies `-o` items (comma-separated, repeatable) to `config`: a setting's
// fstab option (`registry=/srv/webc`, `verify`) sets it, a FUSE option is kept
// in config->mount_options, a generic mount(8) option is ignored. Anything
// else is an error naming the option and the known ones. `set`, if given,
// receives the rows of the settings set.
Result<void> ApplyDashOOptions(const std::vector<std::string>& items, MountConfig* config,
                               std::vector<const MountSetting*>* set = nullptr);

// The FUSE options in `list` (comma-separated items) applied to `options`.
Result<void> ApplyFuseOptions(const std::vector<std::string>& list, fuse::Options* options);

// Sets `setting` from a configuration-file value or fstab text, checking its
// type and range. Errors do not name the key; callers add it.
Result<void> SetFromText(const MountSetting& setting, const std::string& text, MountConfig* c);

// "allow_other, xattr, ..." for help texts and error messages.
std::string FuseOptionNames();

}  // namespace webcfs::daemon
