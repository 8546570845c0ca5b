#include "daemon/libsystemd.h"

#include <dlfcn.h>

namespace webcfs::daemon::libsystemd {

namespace {

struct Loaded {
  Api api;
  std::string error;  // empty when every symbol was found
};

template <typename Fn>
bool Resolve(void* handle, const char* name, Fn* out, std::string* error) {
  *out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (*out == nullptr) *error = std::string("libsystemd.so.0 has no ") + name;
  return *out != nullptr;
}

Loaded LoadOnce() {
  Loaded l;
  // Never closed: the functions are used until exit.
  void* handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    l.error = std::string("cannot load libsystemd.so.0: ") + (why != nullptr ? why : "unknown");
    return l;
  }
  (void)(Resolve(handle, "sd_notify", &l.api.notify, &l.error) &&
         Resolve(handle, "sd_watchdog_enabled", &l.api.watchdog_enabled, &l.error) &&
         Resolve(handle, "sd_journal_sendv", &l.api.journal_sendv, &l.error));
  return l;
}

}  // namespace

const Api* Load(std::string* error) {
  static const Loaded loaded = LoadOnce();  // C++ guarantees one thread-safe initialization
  if (!loaded.error.empty()) {
    if (error != nullptr) *error = loaded.error;
    return nullptr;
  }
  return &loaded.api;
}

}  // namespace webcfs::daemon::libsystemd
