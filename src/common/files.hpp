// File helpers: whole-file reads with clear errors, and atomic writes (write a temporary file
// beside the target, then rename) so a results file is never half-written or lost. Every input
// file goes through read_text_file, so the input limits live here (docs/inputs.md): regular
// files only (a FIFO, /dev/zero or a socket is refused, never read), at most kMaxInputBytes,
// no NUL byte; a UTF-8 byte-order mark is skipped. JSON is nested at most kMaxJsonDepth deep.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace epbench {

inline constexpr size_t kMaxInputBytes = size_t{1} << 30;  // 1 GiB
inline constexpr int kMaxJsonDepth = 512;

// Reads a whole text file; throws InputError("cannot read FILE: reason") when it is missing,
// unreadable, not a regular file, larger than max_bytes, or holds a NUL byte.
std::string read_text_file(const std::filesystem::path& path, size_t max_bytes = kMaxInputBytes);

// Parses JSON text; InputError("SOURCE: malformed JSON: ...") on a syntax error, a number
// beyond double range (1e400) or nesting deeper than kMaxJsonDepth.
nlohmann::json parse_json_text(const std::string& text, const std::string& source);

// read_text_file + parse_json_text.
nlohmann::json read_json_file(const std::filesystem::path& path);

// Checks, before any work is done, that `path` can be written later: it must not exist (unless
// overwrite), and its folder must be a writable folder (created when missing, probed by
// creating and removing a file). InputError naming the path and the reason otherwise.
void check_output_path(const std::filesystem::path& path, bool overwrite = false);

// Writes `contents` to `path` atomically. With overwrite=false an existing file is never replaced
// (throws InputError instead). Creates missing parent folders.
void write_file_atomic(const std::filesystem::path& path, const std::string& contents,
                       bool overwrite = true);

}  // namespace epbench
