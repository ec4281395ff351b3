#include "gateway/client_hello.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace herd::gateway {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put24(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 16));
  put16(b, v & 0xffff);
}
void append(Bytes& b, const Bytes& more) {
  b.insert(b.end(), more.begin(), more.end());
}

Bytes serverNameExtension(const std::string& name) {
  Bytes entry{0};  // host_name
  put16(entry, name.size());
  entry.insert(entry.end(), name.begin(), name.end());
  Bytes list;
  put16(list, entry.size());
  append(list, entry);
  Bytes ext;
  put16(ext, 0);  // server_name
  put16(ext, list.size());
  append(ext, list);
  return ext;
}

// A ClientHello body with the given extensions block (nullopt-like: empty vector and
// `with_extensions` false means none at all).
Bytes helloBody(const Bytes& extensions, bool with_extensions = true) {
  Bytes body{3, 3};
  body.insert(body.end(), 32, 0xab);  // random
  body.push_back(0);                  // session_id
  put16(body, 2);
  put16(body, 0x1301);  // TLS_AES_128_GCM_SHA256
  body.push_back(1);
  body.push_back(0);  // null compression
  if (with_extensions) {
    put16(body, extensions.size());
    append(body, extensions);
  }
  return body;
}

Bytes handshake(const Bytes& body) {
  Bytes h{1};
  put24(h, body.size());
  append(h, body);
  return h;
}

Bytes record(const Bytes& payload) {
  Bytes r{22, 3, 1};
  put16(r, payload.size());
  append(r, payload);
  return r;
}

Bytes helloWithSni(const std::string& name) {
  Bytes ext = serverNameExtension(name);
  Bytes other{0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04};  // supported_versions: TLS 1.3
  append(ext, other);
  return record(handshake(helloBody(ext)));
}

ClientHelloInfo inspect(const Bytes& b, size_t max = kDefaultMaxClientHelloBytes) {
  return inspectClientHello(std::span(b.data(), b.size()), max);
}

TEST(ClientHelloTest, FindsServerNameLowerCasedWithoutTrailingDot) {
  auto info = inspect(helloWithSni("Alpha.Herd.LocalHost."));
  EXPECT_EQ(info.outcome, HelloOutcome::kOk);
  EXPECT_EQ(info.sni, "alpha.herd.localhost");
}

TEST(ClientHelloTest, EveryPrefixNeedsMore) {
  Bytes hello = helloWithSni("etcd.alpha.herd.localhost");
  for (size_t n = 0; n < hello.size(); ++n) {
    auto info = inspect(Bytes(hello.begin(), hello.begin() + static_cast<long>(n)));
    ASSERT_EQ(info.outcome, HelloOutcome::kNeedMore) << "prefix " << n;
  }
  EXPECT_EQ(inspect(hello).sni, "etcd.alpha.herd.localhost");
}

TEST(ClientHelloTest, ReassemblesHelloSplitAcrossRecords) {
  Bytes hs = handshake(helloBody(serverNameExtension("beta.example.test")));
  Bytes split;
  // One byte per record at the start (legal, if odd), then the rest.
  for (size_t i = 0; i < 6; ++i) append(split, record(Bytes{hs[i]}));
  append(split, record(Bytes(hs.begin() + 6, hs.end())));
  auto info = inspect(split);
  EXPECT_EQ(info.outcome, HelloOutcome::kOk);
  EXPECT_EQ(info.sni, "beta.example.test");
}

TEST(ClientHelloTest, NoExtensionsOrNoServerNameMeansNoSni) {
  auto info = inspect(record(handshake(helloBody({}, false))));
  EXPECT_EQ(info.outcome, HelloOutcome::kOk);
  EXPECT_TRUE(info.sni.empty());
  Bytes alpn{0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, 'h', '2'};
  info = inspect(record(handshake(helloBody(alpn))));
  EXPECT_EQ(info.outcome, HelloOutcome::kOk);
  EXPECT_TRUE(info.sni.empty());
}

TEST(ClientHelloTest, NotTlsAndSslV2AreTold) {
  std::string get = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(inspect(Bytes(get.begin(), get.end())).outcome, HelloOutcome::kNotTls);
  Bytes ssh{'S', 'S', 'H', '-', '2'};
  EXPECT_EQ(inspect(ssh).outcome, HelloOutcome::kNotTls);
  Bytes sslv2{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15};
  EXPECT_EQ(inspect(sslv2).outcome, HelloOutcome::kSslV2);
  EXPECT_EQ(inspect(Bytes{0x80, 0x2e}).outcome, HelloOutcome::kNeedMore);
}

TEST(ClientHelloTest, MalformedStructuresAreRefused) {
  auto malformed = [](Bytes b) { return inspect(b).outcome == HelloOutcome::kMalformed; };
  // Not a ClientHello (ServerHello type 2).
  Bytes hs = handshake(helloBody({}));
  hs[0] = 2;
  EXPECT_TRUE(malformed(record(hs)));
  // Record version 2.x, record of length 0, an alert record.
  Bytes r = helloWithSni("a.b");
  r[1] = 2;
  EXPECT_TRUE(malformed(r));
  EXPECT_TRUE(malformed(Bytes{22, 3, 1, 0, 0}));
  EXPECT_TRUE(malformed(Bytes{22, 3, 1, 0, 2, 1, 0, 21, 3, 1, 0, 2}));
  // Record longer than 2^14.
  EXPECT_TRUE(malformed(Bytes{22, 3, 1, 0x40, 0x01}));
  // Extensions length runs past the body.
  Bytes body = helloBody(serverNameExtension("a.b"));
  body[body.size() - serverNameExtension("a.b").size() - 1] += 5;
  EXPECT_TRUE(malformed(record(handshake(body))));
  // Odd cipher_suites length.
  Bytes odd = helloBody({});
  odd[2 + 32 + 1 + 1] = 3;
  EXPECT_TRUE(malformed(record(handshake(odd))));
  // Session id over 32 bytes.
  Bytes sid = helloBody({});
  sid[2 + 32] = 33;
  EXPECT_TRUE(malformed(record(handshake(sid))));
  // Two server_name extensions.
  Bytes twice = serverNameExtension("a.example");
  append(twice, serverNameExtension("b.example"));
  EXPECT_TRUE(malformed(record(handshake(helloBody(twice)))));
  // server_name list whose entry runs past the list.
  Bytes bad_entry{0x00, 0x00, 0x00, 0x06, 0x00, 0x04, 0x00, 0x00, 0x09, 'a'};
  EXPECT_TRUE(malformed(record(handshake(helloBody(bad_entry)))));
}

TEST(ClientHelloTest, ServerNamesThatAreNotHostNamesAreRefused) {
  for (std::string bad :
       {std::string("a..b"), std::string("exa mple.com"), std::string(".a"), std::string("a/b"),
        std::string("x\0y", 3), std::string(64, 'a') + ".b", std::string(254, 'a')}) {
    EXPECT_EQ(inspect(helloWithSni(bad)).outcome, HelloOutcome::kInvalidSni) << bad;
  }
  EXPECT_EQ(inspect(helloWithSni("")).outcome, HelloOutcome::kInvalidSni);
}

TEST(ClientHelloTest, SizeCapBoundsWhatIsHeld) {
  // A hello announcing 60 KiB is refused from its first header, not after 60 KiB arrived.
  Bytes header{22, 3, 1, 0x40, 0x00, 1, 0x00, 0xf0, 0x00};
  EXPECT_EQ(inspect(header).outcome, HelloOutcome::kTooLarge);
  // A real hello over a tight cap.
  EXPECT_EQ(inspect(helloWithSni("alpha.herd.localhost"), 40).outcome, HelloOutcome::kTooLarge);
  // Many one-byte records add up to the cap.
  Bytes tiny;
  for (int i = 0; i < 4000; ++i) append(tiny, record(Bytes{1}));
  // The first four bytes announce a 65,793-byte hello: over the cap.
  EXPECT_EQ(inspect(tiny).outcome, HelloOutcome::kTooLarge);
}

TEST(ClientHelloTest, NamesOfOutcomesAreStable) {
  EXPECT_EQ(helloOutcomeName(HelloOutcome::kSslV2), "sslv2");
  EXPECT_EQ(helloOutcomeName(HelloOutcome::kTooLarge), "too_large");
}

std::vector<std::filesystem::path> corpusFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(HERD_GATEWAY_CORPUS)) {
    files.push_back(e.path());
  }
  return files;
}

Bytes readBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), {});
}

// The committed fuzz corpus, replayed through the parser in plain builds: every file and
// every prefix of it gives an answer, and the real clients' hellos give the expected names.
TEST(ClientHelloTest, CorpusReplaysCleanly) {
  auto files = corpusFiles();
  ASSERT_GE(files.size(), 8u);
  for (const auto& f : files) {
    Bytes b = readBytes(f);
    for (size_t n = 0; n <= b.size(); ++n) {
      inspect(Bytes(b.begin(), b.begin() + static_cast<long>(n)));
    }
  }
  EXPECT_EQ(inspect(readBytes(std::string(HERD_GATEWAY_CORPUS) + "/openssl_tls13_sni")).sni,
            "alpha.herd.localhost");
  EXPECT_EQ(inspect(readBytes(std::string(HERD_GATEWAY_CORPUS) + "/openssl_tls12_sni")).sni,
            "etcd.alpha.herd.localhost");
  EXPECT_EQ(inspect(readBytes(std::string(HERD_GATEWAY_CORPUS) + "/split_records")).sni,
            "alpha.herd.localhost");
  EXPECT_EQ(inspect(readBytes(std::string(HERD_GATEWAY_CORPUS) + "/kubectl_go")).sni,
            "alpha.herd.localhost");
  auto no_sni = inspect(readBytes(std::string(HERD_GATEWAY_CORPUS) + "/openssl_no_sni"));
  EXPECT_EQ(no_sni.outcome, HelloOutcome::kOk);
  EXPECT_TRUE(no_sni.sni.empty());
  EXPECT_EQ(inspect(readBytes(std::string(HERD_GATEWAY_CORPUS) + "/sslv2_hello")).outcome,
            HelloOutcome::kSslV2);
}

}  // namespace
}  // namespace herd::gateway
