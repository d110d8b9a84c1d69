// File helpers; see files.hpp.
#include "common/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace epbench {

namespace {

std::string cannot_read(const std::filesystem::path& path, const std::string& why) {
  return "cannot read " + path.string() + ": " + why;
}

// Maximum nesting of arrays and objects, counted outside strings: one linear pass, so a
// hostile depth is refused before the parser or any recursive code sees it.
int json_depth(const std::string& text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (const char ch : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (ch == '\\') escaped = true;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace

std::string read_text_file(const std::filesystem::path& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw InputError(cannot_read(path, err == ENOENT ? "no such file" : std::strerror(err)));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw InputError(cannot_read(path, std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) throw InputError(cannot_read(path, "it is a directory"));
  if (!S_ISREG(st.st_mode))
    throw InputError(cannot_read(path, "not a regular file (a FIFO, device or socket)"));
  const auto limit = [&] {
    return "larger than the input limit of " + std::to_string(max_bytes) + " bytes";
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) throw InputError(cannot_read(path, limit()));
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (true) {
    if (done == text.size()) {  // the file may have grown since fstat
      if (text.size() > max_bytes) throw InputError(cannot_read(path, limit()));
      text.resize(std::min(max_bytes + 1, text.size() + 65536));
    }
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw InputError(cannot_read(path, std::strerror(errno)));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 byte-order mark
  const size_t nul = text.find('\0');
  if (nul != std::string::npos) {
    const auto line = std::count(text.begin(), text.begin() + static_cast<ptrdiff_t>(nul), '\n');
    throw InputError(cannot_read(path, "line " + std::to_string(line + 1) +
                                           " holds a NUL byte (not a text file)"));
  }
  return text;
}

nlohmann::json parse_json_text(const std::string& text, const std::string& source) {
  const int depth = json_depth(text);
  if (depth > kMaxJsonDepth)
    throw InputError(source + ": malformed JSON: nested " + std::to_string(depth) +
                     " levels deep, more than the limit of " + std::to_string(kMaxJsonDepth));
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // Drop the "[json.exception.parse_error.101] " prefix: the rest says what and where.
    std::string what = e.what();
    if (what.rfind("[json.exception.", 0) == 0 && what.find("] ") != std::string::npos)
      what = what.substr(what.find("] ") + 2);
    throw InputError(source + ": malformed JSON: " + what);
  }
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  return parse_json_text(read_text_file(path), path.string());
}

void check_output_path(const std::filesystem::path& path, bool overwrite) {
  namespace fs = std::filesystem;
  const std::string where = "cannot write " + path.string() + ": ";
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);
  if (fs::exists(st)) {
    if (fs::is_directory(fs::status(path, ec)))
      throw InputError(where + "it is a folder (give a file path)");
    if (!overwrite) throw InputError(where + "the file exists (never overwritten)");
  }
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  // Walk up to the nearest existing ancestor: it must be a folder, not a file.
  for (fs::path p = folder; !p.empty(); p = p.parent_path()) {
    const fs::file_status s = fs::status(p, ec);
    if (fs::exists(s)) {
      if (!fs::is_directory(s)) throw InputError(where + p.string() + " is not a folder");
      break;
    }
    if (p == p.parent_path()) break;
  }
  fs::create_directories(folder, ec);
  if (ec) throw InputError(where + "cannot create folder " + folder.string() + ": " + ec.message());
  // Permissions alone do not tell (root, read-only mounts, /proc): try it.
  const fs::path probe = folder / (".epbench-write-probe-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    throw InputError(where + "folder " + folder.string() + " is not writable: " +
                     std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

void write_file_atomic(const std::filesystem::path& path, const std::string& contents,
                       bool overwrite) {
  namespace fs = std::filesystem;
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError("cannot write " + path.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw InputError("cannot write " + path.string() + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw InputError("cannot write " + path.string() + ": " + std::strerror(errno));
  }
  if (!overwrite) {
    // link() fails if the target exists: no run ever replaces another's results.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw InputError("cannot write " + path.string() + ": " + std::strerror(err));
    }
    ::unlink(tmp.c_str());
    return;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw InputError("cannot write " + path.string() + ": " + std::strerror(err));
  }
}

}  // namespace epbench
