// Version and git hash of this build, for --version and results files. The hash is taken at
// build time (cmake/WriteVersion.cmake), so it names the commit that was built.
#pragma once

namespace epbench {

const char* version_string();
const char* git_hash();

}  // namespace epbench
