// Lets Abseil flags be spelled with dashes (--state-dir) as users of
// kubectl-like tools expect, as well as with underscores (--state_dir):
// rewrites the name part of every "--flag[=value]" argument in place.
#ifndef VMAE_COMMON_FLAG_NAMES_H_
#define VMAE_COMMON_FLAG_NAMES_H_

#include <cstring>

namespace vmae {

inline void DashesToUnderscoresInFlagNames(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* a = argv[i];
    if (std::strcmp(a, "--") == 0) break;  // everything after is positional
    if (a[0] != '-' || a[1] != '-') continue;
    for (char* p = a + 2; *p != '\0' && *p != '='; ++p) {
      if (*p == '-') *p = '_';
    }
  }
}

}  // namespace vmae

#endif  // VMAE_COMMON_FLAG_NAMES_H_
