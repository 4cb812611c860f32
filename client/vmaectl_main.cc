// vmaectl: the user's command line for a vmae coordinator. Dispatch only;
// the verbs live in client/commands/.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "client/cli.h"
#include "client/commands/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  vmae::client::Io io;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.out_is_tty = ::isatty(STDOUT_FILENO) == 1;
  io.err_is_tty = ::isatty(STDERR_FILENO) == 1;
  int code = vmae::client::RunVmaectl(args, vmae::client::ProcessEnv(), io);
  std::cout.flush();
  return code;
}
