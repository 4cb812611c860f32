// The verbs of the `vmae` tool. Each takes the words after the verb, prints
// its own usage on -h/--help, writes results to stdout and one-line errors
// (what went wrong, what to do) to stderr, and returns the process exit
// code from exit_codes.h.
#ifndef VMAE_WORKER_TOOL_COMMANDS_H_
#define VMAE_WORKER_TOOL_COMMANDS_H_

#include <string>
#include <vector>

namespace vmae::tool {

int RunInspect(const std::vector<std::string>& args);
int RunConvert(const std::vector<std::string>& args);
int RunReconstruct(const std::vector<std::string>& args);
int RunPredict(const std::vector<std::string>& args);
int RunBench(const std::vector<std::string>& args);
int RunDatagen(const std::vector<std::string>& args);
int RunPrepare(const std::vector<std::string>& args);
int RunPreview(const std::vector<std::string>& args);
// Defined with the trainer (worker/trainer/train_command.cc).
int RunTrain(const std::vector<std::string>& args);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_COMMANDS_H_
