#include "client/cli.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/exit_codes.h"

namespace vmae::client {
namespace {

constexpr char kDefaultServer[] = "127.0.0.1:7070";

enum class GlobalFlag { kServer, kToken, kTokenFile, kTlsCa, kOutput, kTimeout, kHelp, kVersion };

struct GlobalFlagSpec {
  GlobalFlag flag;
  FlagSpec spec;
};

const std::vector<GlobalFlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<GlobalFlagSpec>{
      {GlobalFlag::kServer,
       {"server", 0, true, false, "ADDR",
        "coordinator address host:port (env VMAE_SERVER; default 127.0.0.1:7070)"}},
      {GlobalFlag::kToken, {"token", 0, true, false, "TOKEN", "bearer token (env VMAE_TOKEN)"}},
      {GlobalFlag::kTokenFile,
       {"token-file", 0, true, false, "FILE", "read the bearer token from FILE"}},
      {GlobalFlag::kTlsCa,
       {"tls-ca", 0, true, false, "FILE",
        "PEM CA certificate; use TLS to reach the coordinator (plaintext without it)"}},
      {GlobalFlag::kOutput,
       {"output", 'o', true, false, "FORMAT", "table (default), json or yaml"}},
      {GlobalFlag::kTimeout,
       {"timeout", 0, true, false, "SECONDS", "deadline of each request (default 30)"}},
      {GlobalFlag::kHelp, {"help", 'h', false, false, "", "show help (also: vmaectl VERB --help)"}},
      {GlobalFlag::kVersion, {"version", 0, false, false, "", "print vmaectl's version"}},
  };
  return *flags;
}

std::string FlagDisplay(const FlagSpec& f) {
  std::string s = f.short_name != 0
                      ? absl::StrCat("-", std::string(1, f.short_name), ", --", f.name)
                      : absl::StrCat("    --", f.name);
  if (f.takes_value) {
    absl::StrAppend(&s, " ", f.value_name.empty() ? "VALUE" : f.value_name);
  }
  return s;
}

std::string HelpHint(const std::string& verb) {
  return verb.empty() ? "see 'vmaectl --help'" : absl::StrCat("see 'vmaectl ", verb, " --help'");
}

// Matches argv token `token` ("--name", "--name=v", "-x", "-xv") against
// `spec`. On a match sets *inline_value when the value was attached.
bool MatchFlag(const std::string& token, const FlagSpec& spec,
               std::optional<std::string>* inline_value) {
  inline_value->reset();
  if (absl::StartsWith(token, "--")) {
    std::string body = token.substr(2);
    size_t eq = body.find('=');
    std::string name = body.substr(0, eq);
    if (name != spec.name) {
      return false;
    }
    if (eq != std::string::npos) {
      *inline_value = body.substr(eq + 1);
    }
    return true;
  }
  if (spec.short_name == 0 || token.size() < 2 || token[0] != '-' || token[1] != spec.short_name) {
    return false;
  }
  if (token.size() == 2) {
    return true;
  }
  if (!spec.takes_value) {
    return false;  // "-fx": combined switches are not supported.
  }
  *inline_value = token[2] == '=' ? token.substr(3) : token.substr(2);
  return true;
}

absl::StatusOr<bool> ParseSwitch(const std::string& display,
                                 const std::optional<std::string>& value) {
  if (!value.has_value() || *value == "true" || *value == "1") {
    return true;
  }
  if (*value == "false" || *value == "0") {
    return false;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("flag ", display, " takes no value (or =true/=false), got '", *value, "'"));
}

}  // namespace

std::string ParsedCommandLine::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) {
    return fallback;
  }
  return it->second.back();
}

std::vector<std::string> ParsedCommandLine::GetAll(const std::string& name) const {
  auto it = flags.find(name);
  return it == flags.end() ? std::vector<std::string>{} : it->second;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

absl::StatusOr<ParsedCommandLine> ParseCommandLine(const std::vector<std::string>& argv,
                                                   const std::vector<VerbSpec>& verbs,
                                                   const EnvLookup& env) {
  ParsedCommandLine parsed;
  GlobalOptions& g = parsed.global;
  std::optional<std::string> server_flag;
  std::optional<std::string> token_flag;
  std::optional<std::string> output_flag;
  const VerbSpec* verb = nullptr;
  bool only_args = false;

  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& token = argv[i];
    const std::string verb_name = verb != nullptr ? verb->name : "";
    if (only_args || token == "-" || token.empty() || token[0] != '-') {
      if (verb == nullptr && !only_args) {
        for (const VerbSpec& v : verbs) {
          if (v.name == token) {
            verb = &v;
          }
        }
        if (verb == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("unknown command '", token, "'; see 'vmaectl --help'"));
        }
        parsed.verb = token;
        continue;
      }
      parsed.args.push_back(token);
      continue;
    }
    if (token == "--") {
      only_args = true;
      continue;
    }

    // The verb's own flags first, then the global ones.
    const FlagSpec* spec = nullptr;
    std::optional<GlobalFlag> global;
    std::optional<std::string> value;
    if (verb != nullptr) {
      for (const FlagSpec& f : verb->flags) {
        if (MatchFlag(token, f, &value)) {
          spec = &f;
          break;
        }
      }
    }
    if (spec == nullptr) {
      for (const GlobalFlagSpec& f : GlobalFlags()) {
        if (MatchFlag(token, f.spec, &value)) {
          spec = &f.spec;
          global = f.flag;
          break;
        }
      }
    }
    if (spec == nullptr) {
      std::string name = token.substr(0, token.find('='));
      if (verb == nullptr) {
        for (const VerbSpec& v : verbs) {
          for (const FlagSpec& f : v.flags) {
            std::optional<std::string> ignored;
            if (MatchFlag(token, f, &ignored)) {
              return absl::InvalidArgumentError(
                  absl::StrCat("flag ", name,
                               " belongs to a command; put it after the command, e.g. "
                               "'vmaectl ",
                               v.name, " ... ", name, "'"));
            }
          }
        }
      }
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", name,
                       verb != nullptr ? absl::StrCat(" for 'vmaectl ", verb_name, "'") : "", "; ",
                       HelpHint(verb_name)));
    }
    const std::string display = absl::StrCat("--", spec->name);
    if (spec->takes_value && !value.has_value()) {
      if (i + 1 >= argv.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "flag ", display, " needs a value (", spec->value_name, "); ", HelpHint(verb_name)));
      }
      value = argv[++i];
    }

    if (!global.has_value()) {
      if (spec->takes_value) {
        if (!spec->repeated) {
          parsed.flags[spec->name].clear();
        }
        parsed.flags[spec->name].push_back(*value);
      } else {
        absl::StatusOr<bool> on = ParseSwitch(display, value);
        if (!on.ok()) {
          return on.status();
        }
        if (*on) {
          parsed.flags[spec->name] = {"true"};
        } else {
          parsed.flags.erase(spec->name);
        }
      }
      continue;
    }
    switch (*global) {
      case GlobalFlag::kServer:
        server_flag = *value;
        break;
      case GlobalFlag::kToken:
        token_flag = *value;
        break;
      case GlobalFlag::kTokenFile:
        g.token_file = *value;
        break;
      case GlobalFlag::kTlsCa:
        g.tls_ca = *value;
        break;
      case GlobalFlag::kOutput:
        output_flag = *value;
        break;
      case GlobalFlag::kTimeout: {
        double seconds = 0;
        if (!absl::SimpleAtod(*value, &seconds) || !(seconds > 0)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "flag --timeout needs a positive number of seconds, got '", *value, "'"));
        }
        g.timeout = absl::Seconds(seconds);
        break;
      }
      case GlobalFlag::kHelp: {
        absl::StatusOr<bool> on = ParseSwitch(display, value);
        if (!on.ok()) {
          return on.status();
        }
        g.help = *on;
        break;
      }
      case GlobalFlag::kVersion: {
        absl::StatusOr<bool> on = ParseSwitch(display, value);
        if (!on.ok()) {
          return on.status();
        }
        g.version = *on;
        break;
      }
    }
  }

  // Flags win over the environment, which wins over defaults.
  if (server_flag.has_value()) {
    g.server = *server_flag;
  } else if (auto e = env("VMAE_SERVER"); e.has_value() && !e->empty()) {
    g.server = *e;
  } else {
    g.server = kDefaultServer;
  }
  if (g.server.empty()) {
    return absl::InvalidArgumentError("flag --server needs an address host:port");
  }
  if (token_flag.has_value()) {
    g.token = *token_flag;
  } else if (g.token_file.empty()) {
    if (auto e = env("VMAE_TOKEN"); e.has_value()) {
      g.token = *e;
    }
  }
  if (token_flag.has_value() && !g.token_file.empty()) {
    return absl::InvalidArgumentError("give either --token or --token-file, not both");
  }
  // A token copied from a file or a Secret often ends in a newline, which
  // gRPC refuses as a header value (and aborts on); the token itself never
  // holds whitespace.
  g.token = std::string(absl::StripAsciiWhitespace(g.token));
  for (const char c : g.token) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return absl::InvalidArgumentError(
          "the token (--token or VMAE_TOKEN) holds a space or control character; give the "
          "token alone, as printed in the coordinator's tokens file");
    }
  }

  if (output_flag.has_value()) {
    g.output_given = true;
    if (verb != nullptr && verb->output_is_path) {
      g.output_path = *output_flag;
    } else {
      absl::StatusOr<OutputFormat> format = ParseOutputFormat(*output_flag);
      if (!format.ok()) {
        return format.status();
      }
      g.format = *format;
    }
  }

  if (g.help || g.version || verb == nullptr) {
    return parsed;
  }
  const int n = static_cast<int>(parsed.args.size());
  if (n < verb->min_args) {
    return absl::InvalidArgumentError(absl::StrCat("'vmaectl ", verb->name, "' needs ",
                                                   verb->args_usage, "; ", HelpHint(verb->name)));
  }
  if (n > verb->max_args) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument '", parsed.args[verb->max_args], "' for 'vmaectl ", verb->name,
        "' (usage: vmaectl ", verb->name, verb->args_usage.empty() ? "" : " ", verb->args_usage,
        "); ", HelpHint(verb->name)));
  }
  return parsed;
}

std::string GlobalHelp(const std::vector<VerbSpec>& verbs) {
  std::string s =
      "vmaectl: submit, watch and manage VideoMAE training jobs on a vmae coordinator.\n\n"
      "Usage: vmaectl [global flags] COMMAND [args] [flags]\n\nCommands:\n";
  for (const VerbSpec& v : verbs) {
    absl::StrAppendFormat(&s, "  %-12s %s\n", v.name, v.summary);
  }
  s += "\nGlobal flags (anywhere on the line):\n";
  for (const GlobalFlagSpec& f : GlobalFlags()) {
    absl::StrAppendFormat(&s, "  %-24s %s\n", FlagDisplay(f.spec), f.spec.help);
  }
  s += "\n";
  s += kExitCodeHelp;
  s += "\nRun 'vmaectl COMMAND --help' for a command's flags.\n";
  return s;
}

std::string VerbHelp(const VerbSpec& verb) {
  std::string s = absl::StrCat("vmaectl ", verb.name, ": ", verb.summary, "\n\nUsage: vmaectl ",
                               verb.name, verb.args_usage.empty() ? "" : " ", verb.args_usage,
                               verb.flags.empty() ? "" : " [flags]", "\n");
  if (!verb.details.empty()) {
    absl::StrAppend(&s, "\n", verb.details, "\n");
  }
  if (!verb.flags.empty()) {
    s += "\nFlags:\n";
    for (const FlagSpec& f : verb.flags) {
      absl::StrAppendFormat(&s, "  %-26s %s%s\n", FlagDisplay(f), f.help,
                            f.repeated ? " (repeatable)" : "");
    }
  }
  s += "\nGlobal flags: --server, --token, --token-file, --tls-ca, -o/--output, --timeout "
       "(see 'vmaectl --help').\n\n";
  s += kExitCodeHelp;
  return s;
}

}  // namespace vmae::client
