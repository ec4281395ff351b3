#include "gateway/client_hello.h"

#include <algorithm>
#include <vector>

namespace herd::gateway {
namespace {

// Wire constants from RFC 8446 (TLS 1.3) and RFC 6066 (server_name).
constexpr uint8_t kRecordHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kRecordHeaderBytes = 5;
constexpr size_t kHandshakeHeaderBytes = 4;
constexpr size_t kMaxRecordPayload = 16384;  // 2^14: larger plaintext records are illegal
constexpr uint16_t kExtensionServerName = 0;
constexpr uint8_t kServerNameTypeHost = 0;
constexpr size_t kRandomBytes = 32;
constexpr size_t kMaxSessionIdBytes = 32;

// A bounds-checked cursor over untrusted bytes: every read fails instead of running past the
// end, so the parser below reads like the RFC's structure definitions.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  size_t remaining() const { return bytes_.size() - pos_; }
  bool u8(uint8_t& out) {
    if (remaining() < 1) return false;
    out = bytes_[pos_++];
    return true;
  }
  bool u16(uint16_t& out) {
    if (remaining() < 2) return false;
    out = static_cast<uint16_t>(bytes_[pos_] << 8 | bytes_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }
  // A vector with a 1- or 2-byte length prefix, as a sub-reader.
  bool prefixed8(Reader& out) {
    uint8_t n = 0;
    return u8(n) && take(n, out);
  }
  bool prefixed16(Reader& out) {
    uint16_t n = 0;
    return u16(n) && take(n, out);
  }
  bool take(size_t n, Reader& out) {
    if (remaining() < n) return false;
    out = Reader(bytes_.subspan(pos_, n));
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> rest() const { return bytes_.subspan(pos_); }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

ClientHelloInfo fail(HelloOutcome outcome, std::string_view detail) {
  return ClientHelloInfo{outcome, {}, detail};
}

ClientHelloInfo parseServerName(Reader ext) {
  Reader list(std::span<const uint8_t>{});
  if (!ext.prefixed16(list) || ext.remaining() != 0 || list.remaining() == 0) {
    return fail(HelloOutcome::kMalformed, "server_name extension length");
  }
  while (list.remaining() > 0) {
    uint8_t type = 0;
    Reader name(std::span<const uint8_t>{});
    if (!list.u8(type) || !list.prefixed16(name)) {
      return fail(HelloOutcome::kMalformed, "server_name entry length");
    }
    if (type != kServerNameTypeHost) continue;  // unknown name types are skipped, per RFC 6066
    auto bytes = name.rest();
    std::string host(bytes.begin(), bytes.end());
    if (!host.empty() && host.back() == '.') host.pop_back();
    if (!isValidHostName(host)) return fail(HelloOutcome::kInvalidSni, "server name not a host");
    for (char& c : host) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return ClientHelloInfo{HelloOutcome::kOk, std::move(host), {}};
  }
  return ClientHelloInfo{HelloOutcome::kOk, {}, {}};
}

// The ClientHello body (after the 4-byte handshake header), complete.
ClientHelloInfo parseBody(std::span<const uint8_t> body) {
  Reader r(body);
  uint16_t legacy_version = 0;
  if (!r.u16(legacy_version) || (legacy_version >> 8) != 3) {
    return fail(HelloOutcome::kMalformed, "client_version");
  }
  Reader session(body), ciphers(body), compression(body);
  if (!r.skip(kRandomBytes) || !r.prefixed8(session) || session.remaining() > kMaxSessionIdBytes) {
    return fail(HelloOutcome::kMalformed, "random or session_id");
  }
  if (!r.prefixed16(ciphers) || ciphers.remaining() < 2 || ciphers.remaining() % 2 != 0) {
    return fail(HelloOutcome::kMalformed, "cipher_suites");
  }
  if (!r.prefixed8(compression) || compression.remaining() < 1) {
    return fail(HelloOutcome::kMalformed, "compression_methods");
  }
  // A hello without extensions is legal (TLS 1.0 era) and simply has no SNI.
  if (r.remaining() == 0) return ClientHelloInfo{HelloOutcome::kOk, {}, {}};
  Reader extensions(body);
  if (!r.prefixed16(extensions) || r.remaining() != 0) {
    return fail(HelloOutcome::kMalformed, "extensions length");
  }
  ClientHelloInfo result{HelloOutcome::kOk, {}, {}};
  bool seen_server_name = false;
  while (extensions.remaining() > 0) {
    uint16_t type = 0;
    Reader ext(body);
    if (!extensions.u16(type) || !extensions.prefixed16(ext)) {
      return fail(HelloOutcome::kMalformed, "extension length");
    }
    if (type != kExtensionServerName) continue;
    // Two server_name extensions could route one way and be served another: refuse.
    if (seen_server_name) return fail(HelloOutcome::kMalformed, "duplicate server_name");
    seen_server_name = true;
    result = parseServerName(ext);
    if (result.outcome != HelloOutcome::kOk) return result;
  }
  return result;
}

}  // namespace

std::string_view helloOutcomeName(HelloOutcome outcome) {
  switch (outcome) {
    case HelloOutcome::kNeedMore:
      return "need_more";
    case HelloOutcome::kOk:
      return "ok";
    case HelloOutcome::kNotTls:
      return "not_tls";
    case HelloOutcome::kSslV2:
      return "sslv2";
    case HelloOutcome::kMalformed:
      return "malformed";
    case HelloOutcome::kInvalidSni:
      return "invalid_sni";
    case HelloOutcome::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

bool isValidHostName(std::string_view name) {
  constexpr size_t kMaxName = 253;
  constexpr size_t kMaxLabel = 63;
  if (name.empty() || name.size() > kMaxName) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok || ++label > kMaxLabel) return false;
  }
  return label > 0;
}

ClientHelloInfo inspectClientHello(std::span<const uint8_t> data, size_t max_bytes) {
  if (data.empty()) return fail(HelloOutcome::kNeedMore, {});
  // SSLv2 framing: a 2-byte length with the top bit set, then msg_type 1 (CLIENT-HELLO).
  if (data[0] & 0x80) {
    if (data.size() < 3) return fail(HelloOutcome::kNeedMore, {});
    return data[2] == kHandshakeClientHello ? fail(HelloOutcome::kSslV2, "sslv2 hello")
                                            : fail(HelloOutcome::kNotTls, "not a tls record");
  }
  if (data[0] != kRecordHandshake) return fail(HelloOutcome::kNotTls, "not a tls record");

  // Walk the records, collecting handshake bytes until the ClientHello is whole. Almost every
  // hello fits in the first record, so the bytes are only copied when it does not.
  std::span<const uint8_t> handshake;
  std::vector<uint8_t> joined;
  size_t pos = 0;
  size_t hello_end = 0;  // length of the whole handshake message, once its header is known
  while (true) {
    if (data.size() - pos < kRecordHeaderBytes) {
      if (pos + kRecordHeaderBytes > max_bytes) return fail(HelloOutcome::kTooLarge, "records");
      // Check the bytes of the header that did arrive, so garbage fails early.
      if (data.size() > pos && data[pos] != kRecordHandshake) {
        return fail(HelloOutcome::kMalformed, "record type");
      }
      if (data.size() > pos + 1 && data[pos + 1] != 3) {
        return fail(HelloOutcome::kMalformed, "record version");
      }
      return fail(HelloOutcome::kNeedMore, {});
    }
    if (data[pos] != kRecordHandshake) return fail(HelloOutcome::kMalformed, "record type");
    if (data[pos + 1] != 3) return fail(HelloOutcome::kMalformed, "record version");
    size_t length = static_cast<size_t>(data[pos + 3]) << 8 | data[pos + 4];
    if (length == 0 || length > kMaxRecordPayload) {
      return fail(HelloOutcome::kMalformed, "record length");
    }
    size_t fragment_start = pos + kRecordHeaderBytes;
    size_t available = std::min(length, data.size() - fragment_start);
    auto fragment = data.subspan(fragment_start, available);
    if (pos == 0) {
      handshake = fragment;
    } else {
      if (joined.empty()) joined.assign(handshake.begin(), handshake.end());
      joined.insert(joined.end(), fragment.begin(), fragment.end());
      handshake = joined;
    }
    if (handshake.size() >= kHandshakeHeaderBytes && hello_end == 0) {
      if (handshake[0] != kHandshakeClientHello) {
        return fail(HelloOutcome::kMalformed, "not a client hello");
      }
      size_t body = static_cast<size_t>(handshake[1]) << 16 |
                    static_cast<size_t>(handshake[2]) << 8 | handshake[3];
      hello_end = kHandshakeHeaderBytes + body;
      // Each record adds a header; bound the bytes the hello needs from below.
      if (hello_end + kRecordHeaderBytes > max_bytes) {
        return fail(HelloOutcome::kTooLarge, "client hello length");
      }
    }
    if (hello_end != 0 && handshake.size() >= hello_end) {
      // Trailing handshake bytes after the hello would be a protocol violation by the client,
      // but they belong to TLS, not to routing: the backend will judge them.
      return parseBody(handshake.subspan(kHandshakeHeaderBytes, hello_end - kHandshakeHeaderBytes));
    }
    if (available < length) {
      if (fragment_start + length > max_bytes) return fail(HelloOutcome::kTooLarge, "record");
      return fail(HelloOutcome::kNeedMore, {});
    }
    pos = fragment_start + length;
    if (pos >= max_bytes) return fail(HelloOutcome::kTooLarge, "records");
  }
}

}  // namespace herd::gateway
