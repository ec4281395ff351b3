#include "pki/pki_store.h"

#include <sys/stat.h>

#include "common/files.h"

namespace herd::pki {
namespace {

// Directories holding private keys are closed to other users as well.
constexpr mode_t kDirMode = 0700;

std::string parentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

Result<PkiFiles> readPkiDir(const std::string& dir) {
  PkiFiles files;
  for (const auto& rel : layout::allPaths()) {
    const std::string path = dir + "/" + rel;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;
    HERD_ASSIGN_OR_RETURN(std::string data, files::read(path));
    files[rel] = PkiFile{std::move(data), static_cast<unsigned>(st.st_mode & 07777)};
  }
  return files;
}

Result<std::vector<std::string>> writePkiDir(const std::string& dir, const PkiFiles& files) {
  HERD_ASSIGN_OR_RETURN(PkiFiles on_disk, readPkiDir(dir));
  std::vector<std::string> written;
  for (const auto& [rel, file] : files) {
    auto it = on_disk.find(rel);
    if (it != on_disk.end() && it->second == file) continue;
    const std::string path = dir + "/" + rel;
    HERD_RETURN_IF_ERROR(files::makeDirs(parentOf(path), kDirMode));
    HERD_RETURN_IF_ERROR(files::writeAtomic(path, file.data, static_cast<mode_t>(file.mode)));
    written.push_back(rel);
  }
  return written;
}

}  // namespace herd::pki
