// File helpers: whole-file reads with clear errors, and atomic writes (write a temporary file
// beside the target, then rename) so a results file is never half-written or lost.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace epbench {

// Reads a whole file; throws InputError("cannot read FILE: reason") when missing or unreadable.
std::string read_text_file(const std::filesystem::path& path);

// Reads and parses a JSON file; InputError("FILE: malformed JSON: ...") on a syntax error.
nlohmann::json read_json_file(const std::filesystem::path& path);

// Writes `contents` to `path` atomically. With overwrite=false an existing file is never replaced
// (throws InputError instead). Creates missing parent folders.
void write_file_atomic(const std::filesystem::path& path, const std::string& contents,
                       bool overwrite = true);

}  // namespace epbench
