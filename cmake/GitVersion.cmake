# The git hash at configure time, for the configure summary. Binaries take theirs at build
# time (cmake/WriteVersion.cmake).
find_package(Git QUIET)
set(EPBENCH_GIT_HASH "unknown")
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} OUTPUT_VARIABLE _git OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET RESULT_VARIABLE _git_rc)
  if(_git_rc EQUAL 0 AND _git)
    set(EPBENCH_GIT_HASH "${_git}")
  endif()
endif()
