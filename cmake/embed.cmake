# Writes OUTPUT, a C++ source defining `extern const std::string_view SYMBOL` with INPUT's bytes.
# Run as: cmake -DINPUT=... -DOUTPUT=... -DSYMBOL=... -P embed.cmake
file(READ "${INPUT}" content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT}; do not edit.\n#include <string_view>\n"
  "namespace herd::embedded {\nstatic const char kData[] = {${bytes} 0};\n"
  "extern const std::string_view ${SYMBOL}(kData, sizeof kData - 1);\n}\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
