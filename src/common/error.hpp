// Error types shared by the whole suite. InputError is bad user input (config, file, flags):
// the command prints its message as one line and exits with code 2. Anything else is a bug or
// a system failure and exits with code 1.
#pragma once

#include <stdexcept>
#include <string>

namespace epbench {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws InputError(message) when the condition does not hold.
inline void require_input(bool condition, const std::string& message) {
  if (!condition) throw InputError(message);
}

inline constexpr int kExitInputError = 2;
inline constexpr int kExitFailure = 1;

}  // namespace epbench
