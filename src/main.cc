#include <csignal>
#include <iostream>

#include "cli/app.h"

int main(int argc, char** argv) {
  // A peer that goes away mid-write is an error to handle, not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  return herd::cli::run(argc, argv, std::cout, std::cerr);
}
