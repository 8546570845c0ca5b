// `webcfs inspect FILE [--json] [--verify]`: what a container holds.
//
// --json prints the schema of one entry of the fixtures' expected.json
// (documented in fixtures/webc/README.md), so the reader can be compared with
// the reference data and with Wasmer's own reader. Only webc/ is used.
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/commands.h"
#include "resolver/resolution.h"
#include "webc/container.h"

namespace webcfs::daemon {
namespace {

using Json = nlohmann::ordered_json;
using webc::Container;
using webc::Entry;
using webc::Volume;

struct InspectArgs {
  std::string file;
  bool json = false;
  bool verify = false;
  uint64_t max_decompressed = webc::OpenOptions().max_decompressed_size;
};

Json Parse(const std::string& text) { return Json::parse(text); }

Json OptionalString(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

Result<webc::Sha256Digest> FileDigest(const Container& c, const Entry& file) {
  webc::Sha256 h;
  std::vector<std::byte> scratch(1 << 20);
  for (uint64_t off = 0; off < file.size;) {
    auto chunk = c.ReadFile(file, off, scratch.size(), scratch.data());
    if (!chunk) return std::move(chunk).error();
    if (chunk->empty()) return Error::Io("file ended early");
    h.Update(*chunk);
    off += chunk->size();
  }
  return h.Finish();
}

Result<Json> VolumeJson(const Container& c, const Volume& volume) {
  Json out = Json::object();
  const bool v3 = c.version() == webc::Version::kV3;
  auto walked =
      webc::WalkVolume(volume, [&](const Entry& e, std::string_view path) -> Result<void> {
        Json entry = Json::object();
        if (e.is_file()) {
          auto digest = FileDigest(c, e);
          if (!digest) return std::move(digest).error();
          entry["type"] = "file";
          entry["size"] = e.size;
          entry["sha256"] = webc::ToHex(*digest);
        } else {
          entry["type"] = "dir";
        }
        if (v3) entry["mtime"] = e.mtime;
        out[std::string(path)] = std::move(entry);
        return Ok();
      });
  if (!walked) return std::move(walked).error();
  return out;
}

Result<Json> AtomsJson(const Container& c) {
  const webc::Manifest& m = c.manifest();
  Json out = Json::object();
  auto describe = [&](const std::string& name, Json& atom) {
    const webc::AtomInfo* info = m.FindAtom(name);
    atom["kind"] = info != nullptr && !info->kind.empty() ? Json(info->kind) : Json(nullptr);
    atom["signature"] =
        info != nullptr && !info->signature.empty() ? Json(info->signature) : Json(nullptr);
  };
  const Volume& atoms = c.atoms();
  for (const Entry& e : atoms.Children(atoms.root())) {
    if (!e.is_file()) continue;
    auto digest = FileDigest(c, e);
    if (!digest) return std::move(digest).error();
    Json atom = {{"size", e.size}, {"sha256", webc::ToHex(*digest)}};
    const std::string name(atoms.NameOf(e));
    describe(name, atom);
    out[name] = std::move(atom);
  }
  // Atoms the manifest lists but the container lacks are shown, not hidden.
  for (const webc::AtomInfo& info : m.atoms) {
    if (out.contains(info.name)) continue;
    Json atom = {{"size", nullptr}, {"sha256", nullptr}};
    describe(info.name, atom);
    out[info.name] = std::move(atom);
  }
  return out;
}

Result<Json> BuildJson(const Container& c) {
  const webc::Manifest& m = c.manifest();
  Json out = Json::object();
  out["version"] = "00" + std::to_string(static_cast<int>(c.version()));
  out["size"] = c.source().size();
  auto whole = c.WholeFileHash();
  if (!whole) return std::move(whole).error();
  out["sha256"] = webc::ToHex(*whole);
  out["package_name"] = OptionalString(m.package_name);
  out["package_version"] = OptionalString(m.package_version);
  out["wapm"] = Parse(m.wapm_json);

  Json uses = Json::object();
  for (const webc::Dependency& d : m.uses) {
    uses[d.alias] = d.specifier ? Json(*d.specifier) : Parse(d.embedded->json);
  }
  out["uses"] = std::move(uses);

  Json commands = Json::object();
  for (const webc::Command& cmd : m.commands) {
    Json j = Json::object();
    j["runner"] = cmd.runner;
    j["atom"] = cmd.atom ? Json(cmd.atom->name) : Json(nullptr);
    j["dependency"] = cmd.atom ? OptionalString(cmd.atom->dependency) : Json(nullptr);
    j["annotations"] = Parse(cmd.annotations_json);
    commands[cmd.name] = std::move(j);
  }
  out["commands"] = std::move(commands);
  out["entrypoint"] = OptionalString(m.entrypoint);

  auto atoms = AtomsJson(c);
  if (!atoms) return std::move(atoms).error();
  out["atoms"] = std::move(*atoms);

  Json volumes = Json::object();
  for (const Volume& v : c.volumes()) {
    auto vj = VolumeJson(c, v);
    if (!vj) return std::move(vj).error();
    volumes[v.name()] = std::move(*vj);
  }
  out["volumes"] = std::move(volumes);

  // package.fs exactly as stored: which of original_path / host_path a writer
  // used is part of what inspect shows.
  Json fs = Json::array();
  const Json manifest = Parse(m.json);
  if (auto pkg = manifest.find("package"); pkg != manifest.end() && pkg->is_object()) {
    if (auto f = pkg->find("fs"); f != pkg->end() && f->is_array()) fs = *f;
  }
  out["fs_mappings"] = std::move(fs);
  out["bindings"] = Parse(m.bindings_json);

  if (c.version() == webc::Version::kV1) {
    auto valid = c.CheckV1Checksum();
    if (!valid) return std::move(valid).error();
    out["v1_checksum"] = {{"type", c.v1_checksum().type},
                          {"valid", valid->has_value() ? Json(**valid) : Json(nullptr)},
                          {"signature_len", c.v1_checksum().signature_len}};
  } else {
    out["v1_checksum"] = nullptr;
  }
  out["index_padding"] = c.index_padding() ? Json(*c.index_padding()) : Json(nullptr);
  return out;
}

struct VolumeStats {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t bytes = 0;
};

VolumeStats StatsOf(const Volume& v) {
  VolumeStats s;
  for (const Entry& e : v.entries().subspan(1)) {
    if (e.is_file()) {
      ++s.files;
      s.bytes += e.size;
    } else {
      ++s.dirs;
    }
  }
  return s;
}

Result<std::string> Summary(const Container& c, bool verified) {
  const webc::Manifest& m = c.manifest();
  auto whole = c.WholeFileHash();
  if (!whole) return std::move(whole).error();
  std::string out;
  auto line = [&](const std::string& key, const std::string& value) {
    out += key;
    out.append(key.size() < 12 ? 12 - key.size() : 1, ' ');
    out += value + "\n";
  };
  line("version:", "v" + std::to_string(static_cast<int>(c.version())));
  line("size:", std::to_string(c.source().size()) + " bytes");
  line("sha256:", webc::ToHex(*whole));
  std::string package = m.package_name.value_or("(unnamed)");
  if (m.package_version) package += "@" + *m.package_version;
  line("package:", package);
  line("entrypoint:", m.entrypoint.value_or("(none)"));
  for (const webc::Dependency& d : m.uses) {
    line("use:", d.alias + " = " + (d.specifier ? *d.specifier : std::string("(embedded)")));
  }
  const Volume& atoms = c.atoms();
  for (const Entry& e : atoms.Children(atoms.root())) {
    if (e.is_file())
      line("atom:", std::string(atoms.NameOf(e)) + " (" + std::to_string(e.size) + " bytes)");
  }
  for (const webc::Command& cmd : m.commands) {
    std::string target = "(no atom named)";
    if (cmd.atom) {
      target = cmd.atom->name;
      if (cmd.atom->dependency) target += " from " + *cmd.atom->dependency;
    }
    line("command:", cmd.name + " -> " + target + " [" + cmd.runner + "]");
  }
  for (const Volume& v : c.volumes()) {
    VolumeStats s = StatsOf(v);
    line("volume:", v.name() + ": " + std::to_string(s.files) + " files, " +
                        std::to_string(s.dirs) + " directories, " + std::to_string(s.bytes) +
                        " bytes");
  }
  for (const webc::FsMapping& f : m.fs) {
    std::string source = f.from ? *f.from + ":" : std::string();
    source += f.volume_name;
    if (f.original_path) source += *f.original_path;
    line("mount:", f.mount_path + " <- " + source);
  }
  if (c.version() == webc::Version::kV1) {
    std::string checksum = c.v1_checksum().type;
    if (c.v1_checksum().valid) checksum += *c.v1_checksum().valid ? " (valid)" : " (INVALID)";
    line("checksum:", checksum);
  }
  if (verified) line("verified:", "all stored checksums match");
  return out;
}

int RunInspect(const InspectArgs& args) {
  auto fail = [&](const Error& e) {
    // One line: the container's own errors already start with the path.
    std::string msg = e.message();
    if (msg.rfind(args.file + ": ", 0) != 0) msg = args.file + ": " + msg;
    std::fprintf(stderr, "webcfs: %s\n", msg.c_str());
    return 1;
  };
  webc::OpenOptions options;
  options.verify = args.verify;
  options.max_decompressed_size = args.max_decompressed;
  auto container = Container::OpenFile(args.file, options);
  if (!container) return fail(container.error());
  // A package whose mappings cannot be served is refused here as by `mount`.
  if (auto mappings = resolver::CheckOwnMappings(**container); !mappings) {
    return fail(mappings.error());
  }
  try {
    if (args.json) {
      auto json = BuildJson(**container);
      if (!json) return fail(json.error());
      std::string text = json->dump(2, ' ', false, Json::error_handler_t::replace);
      std::printf("%s\n", text.c_str());
    } else {
      auto text = Summary(**container, args.verify);
      if (!text) return fail(text.error());
      std::fputs(text->c_str(), stdout);
    }
  } catch (const std::exception& e) {
    return fail(Error::Corrupt(std::string("cannot render: ") + e.what()));
  }
  return 0;
}

}  // namespace

void AddInspectCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd =
      app.add_subcommand("inspect", "Show what a WEBC container (.webc, .webc.zst) holds");
  cmd->add_option("FILE", args->file, "container file")->required();
  cmd->add_flag("--json", args->json, "print the fixtures' expected.json schema");
  cmd->add_flag("--verify", args->verify, "check every stored checksum and hash");
  cmd->add_option("--max-decompressed", args->max_decompressed,
                  "refuse a .webc.zst that inflates past this many bytes")
      ->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = RunInspect(*args); });
}

}  // namespace webcfs::daemon
