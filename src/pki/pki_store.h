// A tenant's PKI on disk, in kubeadm's layout under one directory (pki/, pki/etcd/, *.conf,
// tokens/, ssh/): reading the set back and writing it with the right modes. Writes are atomic
// per file and touch only files whose content or mode changed, so re-running `herd pki
// generate` leaves valid material untouched. Stateless functions; one writer per directory.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "pki/tenant_pki.h"

namespace herd::pki {

// Every file of the layout present under `dir` (missing ones are simply absent).
Result<PkiFiles> readPkiDir(const std::string& dir);

// Writes the files that differ from what is on disk; returns their relative paths.
Result<std::vector<std::string>> writePkiDir(const std::string& dir, const PkiFiles& files);

}  // namespace herd::pki
