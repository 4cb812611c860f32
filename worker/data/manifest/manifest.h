// The data lists: which videos a split holds and their labels.
//
// Formats, detected per file from its first non-blank line:
//  - CSV, when that line is the header `path,label` (the header is skipped),
//    or when it is not a space-separated line (below) and holds a comma or a
//    double quote. Each line is `path,label`; fields may be quoted ("a,b.mp4"
//    with "" for a quote), spaces around fields are trimmed, a line may not
//    continue a quoted field onto the next.
//  - Space-separated (the authors' lists), split on runs of spaces or tabs:
//    `path label` (VideoMAE), or `path start frames` (VideoMAE V2's
//    pre-training lists, e.g. `path 0 -1`; both numbers must be integers and
//    are not used; the label is -1). Paths with spaces therefore need the
//    CSV format, with the path quoted if you like.
// Blank lines are skipped; CRLF line ends are accepted. Labels are integers
// >= -1 (-1: none). Paths are relative to the data root and may not be
// absolute or climb out of it with "..".
#ifndef VMAE_WORKER_DATA_MANIFEST_MANIFEST_H_
#define VMAE_WORKER_DATA_MANIFEST_MANIFEST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace vmae::data {

struct ManifestEntry {
  std::string path;    // absolute: the root joined with the listed path, lexically normalised
  int64_t label = -1;  // -1 when the list gives none
  int line = 0;        // 1-based line in the list file
};

// Parses the text of one list. `list_name` names the list in errors
// ("train.csv:17: ..."); `root` is the data root the paths are relative to
// (made absolute against the working directory if it is not). Errors:
// INVALID_ARGUMENT naming the line and the problem, or an empty list.
absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(std::string_view text,
                                                         std::string_view list_name,
                                                         const std::string& root);

// Reads and parses root/relative_list_path (an absolute list path is used as
// is). NOT_FOUND / PERMISSION_DENIED when the file cannot be read.
absl::StatusOr<std::vector<ManifestEntry>> ReadManifest(const std::string& root,
                                                        const std::string& relative_list_path);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_MANIFEST_MANIFEST_H_
