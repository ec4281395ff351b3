#include "storage.h"

namespace herd::fake {

const char* watchEventType(ChangeType type) {
  switch (type) {
    case ChangeType::kAdded:
      return "ADDED";
    case ChangeType::kModified:
      return "MODIFIED";
    case ChangeType::kDeleted:
      return "DELETED";
  }
  return "ERROR";
}

}  // namespace herd::fake
