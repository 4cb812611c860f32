#include "common/jobspec/diagnostics.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

namespace vmae::jobspec::internal {

std::string Location::ToString() const {
  switch (origin) {
    case Origin::kFile:
      return absl::StrCat(source, ":", line + 1, ":", column + 1);
    case Origin::kOverride:
      return absl::StrCat("--set ", source);
    case Origin::kNone:
      break;
  }
  return "";
}

void Diagnostics::Add(const Location& location, absl::string_view path, absl::string_view what,
                      absl::string_view expected, absl::string_view suggestion) {
  std::string text = location.ToString();
  if (!text.empty()) {
    absl::StrAppend(&text, ": ");
  }
  absl::StrAppend(&text, path, ": ", what);
  if (!expected.empty()) {
    absl::StrAppend(&text, "; expected ", expected);
  }
  if (!suggestion.empty()) {
    absl::StrAppend(&text, "; did you mean '", suggestion, "'?");
  }
  entries_.push_back(
      {location, std::move(text), std::string(path), static_cast<int>(entries_.size())});
  Block(path);
}

void Diagnostics::RetainSection(absl::string_view prefix) {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [prefix](const Entry& e) {
                                  return !(e.path == prefix ||
                                           absl::StartsWith(e.path, absl::StrCat(prefix, ".")));
                                }),
                 entries_.end());
}

void Diagnostics::Block(absl::string_view path) { blocked_.insert(std::string(path)); }

bool Diagnostics::IsBlocked(absl::string_view path) const {
  // Walk "a.b.c" -> "a.b" -> "a": a broken section blocks its fields.
  while (true) {
    if (blocked_.find(path) != blocked_.end()) {
      return true;
    }
    const size_t dot = path.rfind('.');
    if (dot == absl::string_view::npos) {
      return false;
    }
    path = path.substr(0, dot);
  }
}

absl::Status Diagnostics::ToStatus() const {
  if (entries_.empty()) {
    return absl::OkStatus();
  }
  std::vector<const Entry*> sorted;
  sorted.reserve(entries_.size());
  for (const Entry& entry : entries_) {
    sorted.push_back(&entry);
  }
  auto key = [](const Entry* e) {
    const Location& l = e->location;
    // kFile < kOverride < kNone, then position, then the order found.
    const int group = l.origin == Location::Origin::kFile       ? 0
                      : l.origin == Location::Origin::kOverride ? 1
                                                                : 2;
    const int major = l.origin == Location::Origin::kFile ? l.line : l.override_index;
    const int minor = l.origin == Location::Origin::kFile ? l.column : 0;
    return std::make_tuple(group, major, minor, e->sequence);
  };
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](const Entry* a, const Entry* b) { return key(a) < key(b); });
  std::vector<absl::string_view> lines;
  lines.reserve(sorted.size());
  for (const Entry* entry : sorted) {
    lines.push_back(entry->text);
  }
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

}  // namespace vmae::jobspec::internal
