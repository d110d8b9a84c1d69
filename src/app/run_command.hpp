// `epbench run`: the MPI suite. Every rank parses the same flags; validation errors are agreed
// on before any other collective, printed once by rank 0, and make every rank exit with code 2.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace epbench {

void add_run_command(CLI::App& app, std::vector<std::string> argv);

// Thrown after rank 0 has already reported the problem: main exits with `code`, printing nothing.
struct ExitRequest {
  int code;
};

// The launcher's rank of this process from the environment (OpenMPI, PMIx, PMI, Slurm), 0 when
// not launched by one: lets errors before MPI_Init be printed once.
int launcher_rank();

}  // namespace epbench
