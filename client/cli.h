// vmaectl's command line: global flags (accepted anywhere), one verb, and the
// verb's own flags and arguments. Hand-parsed so that the same flag name can
// mean different things per verb (`-o` is a format, but a directory for
// `download`; `--from` is a job for `submit`, a step for `metrics`).
// Parsing is a pure function of argv and the environment (unit-tested).
#ifndef VMAE_CLIENT_CLI_H_
#define VMAE_CLIENT_CLI_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/output.h"

namespace vmae::client {

struct FlagSpec {
  std::string name;          // long name without dashes: "set" for --set.
  char short_name = 0;       // 'f' for -f; 0 for none.
  bool takes_value = false;  // false: a switch.
  bool repeated = false;     // may be given several times (values collect).
  std::string value_name;    // for help: "K=V".
  std::string help;
};

struct VerbSpec {
  std::string name;
  std::string args_usage;  // "FILE.yaml", "ID [CKPT]".
  std::string summary;     // one line for the verb list.
  std::string details;     // extra paragraphs for `vmaectl VERB --help`.
  std::vector<FlagSpec> flags;
  int min_args = 0;
  int max_args = 0;
  // `-o/--output` names a path for this verb, not a format.
  bool output_is_path = false;
};

// Global flags, after the environment and defaults were applied.
struct GlobalOptions {
  std::string server;                          // --server, VMAE_SERVER, "127.0.0.1:7070".
  std::string token;                           // --token, VMAE_TOKEN.
  std::string token_file;                      // --token-file (read when connecting).
  std::string tls_ca;                          // --tls-ca.
  OutputFormat format = OutputFormat::kTable;  // -o/--output (not for output_is_path verbs).
  std::string output_path;                     // -o/--output for output_is_path verbs.
  bool output_given = false;
  absl::Duration timeout = absl::Seconds(30);  // --timeout SECONDS.
  bool help = false;                           // -h/--help.
  bool version = false;                        // --version.
};

struct ParsedCommandLine {
  GlobalOptions global;
  std::string verb;               // empty when none was given.
  std::vector<std::string> args;  // the verb's positional arguments.
  // Verb flags by long name; switches hold "true".
  std::map<std::string, std::vector<std::string>> flags;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  // Last value given, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Every value, in order (empty when not given).
  std::vector<std::string> GetAll(const std::string& name) const;
};

// Returns the value of an environment variable, or nullopt.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// argv[0] is the program name. INVALID_ARGUMENT (exit 2) names the flag or
// argument at fault and where to read more. With --help or --version the
// verb's argument count is not checked.
absl::StatusOr<ParsedCommandLine> ParseCommandLine(const std::vector<std::string>& argv,
                                                   const std::vector<VerbSpec>& verbs,
                                                   const EnvLookup& env);

// `vmaectl --help` and `vmaectl VERB --help`.
std::string GlobalHelp(const std::vector<VerbSpec>& verbs);
std::string VerbHelp(const VerbSpec& verb);

}  // namespace vmae::client

#endif  // VMAE_CLIENT_CLI_H_
