// Splits one line of CSV (RFC 4180 without line breaks inside fields).
#ifndef VMAE_WORKER_DATA_MANIFEST_CSV_LINE_H_
#define VMAE_WORKER_DATA_MANIFEST_CSV_LINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmae::data {

// Fields separated by commas. A field that starts (after spaces) with a
// double quote runs to the matching quote, with "" standing for one quote;
// only spaces may follow it before the next comma. Unquoted fields have
// surrounding spaces and tabs trimmed. INVALID_ARGUMENT (message without a
// location; the caller adds it) for an unterminated quote or text after a
// closing quote.
absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_MANIFEST_CSV_LINE_H_
