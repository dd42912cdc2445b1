// The crypto module alone: base64url (RFC 4648 vectors, round trips, strict
// decoding), hex, random bytes and tokens. The same file is built twice:
// crypto_test (OpenSSL, with the runtime) and crypto_boringssl_test
// (CPLUGIN_EXPECT_BORINGSSL, crypto.c + BoringSSL only), so it includes
// nothing from the runtime but crypto/crypto.h.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <openssl/rand.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/errors.h"
#include "crypto/crypto.h"
#include "crypto/seal.h"
}

namespace {

std::string Encode(const std::string &raw) {
  std::vector<char> out(CP_BASE64URL_ENCODED_LEN(raw.size()) + 1);
  size_t n = cpi_base64url_encode(reinterpret_cast<const uint8_t *>(raw.data()),
                                  raw.size(), out.data(), out.size());
  EXPECT_EQ(CP_BASE64URL_ENCODED_LEN(raw.size()), n);
  EXPECT_EQ(n, std::strlen(out.data()));
  return std::string(out.data(), n);
}

// Returns the decode result; *raw receives the bytes on success.
int Decode(const std::string &text, std::string *raw) {
  std::vector<uint8_t> out(text.size() + 1);
  size_t len = 99;
  int rc = cpi_base64url_decode(text.data(), text.size(), out.data(),
                                out.size(), &len);
  if (rc != 0) {
    EXPECT_EQ(0u, len);
  }
  if (rc == 0 && raw != nullptr) {
    raw->assign(reinterpret_cast<const char *>(out.data()), len);
  }
  return rc;
}

TEST(CryptoTest, ReportsTheLibraryItRunsAgainst) {
  Dl_info info{};
  // The library that actually provides RAND_bytes at run time, not just the
  // headers this file was compiled with.
  ASSERT_NE(0, dladdr(reinterpret_cast<void *>(&RAND_bytes), &info));
  ASSERT_NE(nullptr, info.dli_fname);
  std::string lib = info.dli_fname;
  std::printf("crypto library: %s (RAND_bytes from %s)\n", cpi_crypto_library(),
              lib.c_str());
#if defined(CPLUGIN_EXPECT_BORINGSSL)
  EXPECT_STREQ("BoringSSL", cpi_crypto_library());
  EXPECT_NE(std::string::npos, lib.find("/android/libcrypto.so")) << lib;
#else
  EXPECT_STREQ("OpenSSL", cpi_crypto_library());
  EXPECT_EQ(std::string::npos, lib.find("/android/")) << lib;
  EXPECT_NE(std::string::npos, lib.find("libcrypto.so")) << lib;
#endif
}

TEST(CryptoTest, Rfc4648Vectors) {
  EXPECT_EQ("", Encode(""));
  EXPECT_EQ("Zg==", Encode("f"));
  EXPECT_EQ("Zm8=", Encode("fo"));
  EXPECT_EQ("Zm9v", Encode("foo"));
  EXPECT_EQ("Zm9vYg==", Encode("foob"));
  EXPECT_EQ("Zm9vYmE=", Encode("fooba"));
  EXPECT_EQ("Zm9vYmFy", Encode("foobar"));
  std::string raw;
  const char *pairs[][2] = {{"", ""},
                            {"Zg==", "f"},
                            {"Zm8=", "fo"},
                            {"Zm9v", "foo"},
                            {"Zm9vYg==", "foob"},
                            {"Zm9vYmE=", "fooba"},
                            {"Zm9vYmFy", "foobar"}};
  for (const auto &p : pairs) {
    ASSERT_EQ(0, Decode(p[0], &raw)) << p[0];
    EXPECT_EQ(p[1], raw);
  }
}

TEST(CryptoTest, UsesTheUrlAlphabet) {
  // Standard base64 would be "+/8=", "///+" and "+g==".
  EXPECT_EQ("-_8=", Encode(std::string("\xfb\xff", 2)));
  EXPECT_EQ("___-", Encode(std::string("\xff\xff\xfe", 3)));
  EXPECT_EQ("-g==", Encode(std::string("\xfa", 1)));
  // The 6-bit groups 0..63 in order give every character of the alphabet.
  std::string raw;
  for (int v = 0; v < 64; v += 4) {
    // Pack v, v+1, v+2, v+3 (6 bits each) into three bytes.
    uint32_t w = (uint32_t)v << 18 | (uint32_t)(v + 1) << 12 |
                 (uint32_t)(v + 2) << 6 | (uint32_t)(v + 3);
    raw.push_back(static_cast<char>(w >> 16));
    raw.push_back(static_cast<char>(w >> 8));
    raw.push_back(static_cast<char>(w));
  }
  EXPECT_EQ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            Encode(raw));
}

TEST(CryptoTest, RoundTripsEveryLengthUpTo64) {
  for (size_t n = 0; n <= 64; n++) {
    std::string raw;
    for (size_t i = 0; i < n; i++) {
      raw.push_back(static_cast<char>((i * 37 + n * 11 + 0xA5) & 0xFF));
    }
    std::string text = Encode(raw);
    ASSERT_EQ(0u, text.size() % 4) << n;
    std::string back;
    ASSERT_EQ(0, Decode(text, &back)) << n << " " << text;
    EXPECT_EQ(raw, back) << n;
  }
}

TEST(CryptoTest, EncodeNeedsRoomForTheNul) {
  char out[9];
  const uint8_t in[6] = {'f', 'o', 'o', 'b', 'a', 'r'};
  EXPECT_EQ(0u, cpi_base64url_encode(in, 6, out, 8));
  EXPECT_STREQ("", out);
  EXPECT_EQ(8u, cpi_base64url_encode(in, 6, out, 9));
  EXPECT_STREQ("Zm9vYmFy", out);
  EXPECT_EQ(0u, cpi_base64url_encode(nullptr, 1, out, sizeof out));
  EXPECT_EQ(0u, cpi_base64url_encode(in, 6, nullptr, 0));
}

TEST(CryptoTest, DecodeIsStrict) {
  const char *bad[] = {
      "Zg",        // no padding
      "Zg=",       // wrong length
      "Zm9vY",     // wrong length
      "Zg===",     // wrong length
      "====",      // only padding
      "Z===",      // three '='
      "Zm=v",      // '=' in the middle
      "Zg==Zm9v",  // padding before the end
      "Zm9v+g==",  // standard alphabet '+'
      "Zm9v/w==",  // standard alphabet '/'
      "Zm9 ",      // space
      "Zm9\n",     // newline
      "Zh==",      // non-canonical: unused bits set ("Zg==" is canonical)
      "Zm9=",      // non-canonical: "Zm8=" is canonical
      "QR==",      // non-canonical "A"
  };
  for (const char *text : bad) {
    EXPECT_EQ(CP_EINVAL, Decode(text, nullptr)) << "'" << text << "'";
  }
  std::string nul("Zm\0v", 4);
  EXPECT_EQ(CP_EINVAL, Decode(nul, nullptr));
  std::string high("Zm9\xc3", 4);
  EXPECT_EQ(CP_EINVAL, Decode(high, nullptr));
  std::string raw;
  EXPECT_EQ(0, Decode("QQ==", &raw));
  EXPECT_EQ("A", raw);
}

TEST(CryptoTest, DecodeChecksArgumentsAndCapacity) {
  uint8_t out[8];
  size_t len = 5;
  EXPECT_EQ(CP_EINVAL,
            cpi_base64url_decode("Zg==", 4, out, sizeof out, nullptr));
  EXPECT_EQ(CP_EINVAL, cpi_base64url_decode(nullptr, 4, out, sizeof out, &len));
  EXPECT_EQ(0u, len);
  EXPECT_EQ(CP_EINVAL, cpi_base64url_decode("Zg==", 4, nullptr, 0, &len));
  EXPECT_EQ(0, cpi_base64url_decode(nullptr, 0, nullptr, 0, &len));
  EXPECT_EQ(0u, len);
  // "foobar" needs 6 bytes.
  EXPECT_EQ(CP_ETOOBIG, cpi_base64url_decode("Zm9vYmFy", 8, out, 5, &len));
  EXPECT_EQ(0, cpi_base64url_decode("Zm9vYmFy", 8, out, 6, &len));
  EXPECT_EQ(6u, len);
  EXPECT_EQ(0, std::memcmp(out, "foobar", 6));
}

TEST(CryptoTest, HexEncode) {
  const uint8_t in[] = {0x00, 0x01, 0x9a, 0xbf, 0xff, 0x10};
  char out[2 * sizeof in + 1];
  cpi_hex_encode(in, sizeof in, out);
  EXPECT_STREQ("00019abfff10", out);
  cpi_hex_encode(in, 0, out);
  EXPECT_STREQ("", out);
}

TEST(CryptoTest, HexDecodeU64) {
  uint64_t v = 0;
  ASSERT_EQ(0, cpi_hex_decode_u64("0123456789abcdef", &v));
  EXPECT_EQ(0x0123456789abcdefULL, v);
  ASSERT_EQ(0, cpi_hex_decode_u64("ffffffffffffffff", &v));
  EXPECT_EQ(UINT64_MAX, v);
  ASSERT_EQ(0, cpi_hex_decode_u64("0000000000000000", &v));
  EXPECT_EQ(0u, v);
  const char *bad[] = {"",
                       "0123456789abcde",   // 15
                       "0123456789ABCDEF",  // upper case
                       "0123456789abcdeg",
                       " 123456789abcdef",
                       "0x23456789abcdef"};
  for (const char *text : bad) {
    v = 42;
    EXPECT_EQ(CP_EINVAL, cpi_hex_decode_u64(text, &v)) << text;
    EXPECT_EQ(42u, v);
  }
  // Exactly 16 characters are read: the ID suffix of a longer buffer that
  // is not NUL-terminated after them parses.
  const char window[] = {'-', '0', '0', '0', '0', '0', '0', '0', '0',
                         '0', '0', '0', '0', '0', '0', '2', 'a', 'Z'};
  ASSERT_EQ(0, cpi_hex_decode_u64(window + 1, &v));
  EXPECT_EQ(0x2au, v);
  EXPECT_EQ(CP_EINVAL, cpi_hex_decode_u64(nullptr, &v));
  EXPECT_EQ(CP_EINVAL, cpi_hex_decode_u64("0123456789abcdef", nullptr));
  // Hex round trip of a u64 written most significant byte first.
  const uint8_t be[8] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33};
  char hex[17];
  cpi_hex_encode(be, 8, hex);
  ASSERT_EQ(0, cpi_hex_decode_u64(hex, &v));
  EXPECT_EQ(0xdeadbeef00112233ULL, v);
}

TEST(CryptoTest, ConstantTimeEqual) {
  uint8_t a[32];
  uint8_t b[32];
  for (int i = 0; i < 32; i++) {
    a[i] = b[i] = static_cast<uint8_t>(i * 7);
  }
  EXPECT_TRUE(cpi_ct_equal(a, b, sizeof a));
  EXPECT_TRUE(cpi_ct_equal(a, b, 0));
  EXPECT_TRUE(cpi_ct_equal(nullptr, nullptr, 0));
  EXPECT_FALSE(cpi_ct_equal(nullptr, b, 1));
  for (size_t pos = 0; pos < sizeof a; pos++) {
    for (int bit = 0; bit < 8; bit++) {
      b[pos] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(cpi_ct_equal(a, b, sizeof a)) << pos << " " << bit;
      EXPECT_TRUE(cpi_ct_equal(a, b, pos)) << "prefix " << pos;
      b[pos] ^= static_cast<uint8_t>(1 << bit);
    }
  }
}

TEST(CryptoTest, SecureZero) {
  uint8_t buf[17];
  std::memset(buf, 0xAB, sizeof buf);
  cpi_secure_zero(buf, sizeof buf);
  for (uint8_t c : buf) {
    EXPECT_EQ(0, c);
  }
  cpi_secure_zero(nullptr, 0);
}

TEST(CryptoTest, RandomBytesDifferAcrossCalls) {
  EXPECT_EQ(0, cpi_random_bytes(nullptr, 0));
  EXPECT_EQ(CP_EINVAL, cpi_random_bytes(nullptr, 1));
  std::set<std::string> seen;
  for (int i = 0; i < 16; i++) {
    uint8_t buf[32];
    ASSERT_EQ(0, cpi_random_bytes(buf, sizeof buf));
    std::string s(reinterpret_cast<char *>(buf), sizeof buf);
    // 256 random bits: a repeat (or all bytes equal) means no randomness.
    EXPECT_TRUE(seen.insert(s).second);
    EXPECT_NE(std::string(sizeof buf, s[0]), s);
  }
  // Larger than one internal chunk of 1 MiB.
  std::vector<uint8_t> big((1u << 20) + 3);
  ASSERT_EQ(0, cpi_random_bytes(big.data(), big.size()));
  size_t zeros = 0;
  for (uint8_t c : big) {
    zeros += c == 0;
  }
  // About 1/256 of the bytes are zero; far more means a part was not filled.
  EXPECT_LT(zeros, big.size() / 128);
}

// Requests small enough for the pool and at its edges: every draw is fresh.
TEST(CryptoTest, PooledDrawsNeverRepeat) {
  std::set<std::string> seen;
  for (size_t n : {1u, 7u, 40u, 255u, 256u, 257u, 4096u}) {
    for (int i = 0; i < 300; i++) {
      std::vector<uint8_t> buf(n);
      ASSERT_EQ(0, cpi_random_bytes(buf.data(), n));
      if (n >= 7) {  // shorter draws may repeat by chance
        std::string s(buf.begin(), buf.end());
        EXPECT_TRUE(seen.insert(s).second) << n;
      }
    }
  }
}

// A forked child must not hand out the bytes its parent will: the pool is
// emptied in the child.
TEST(CryptoTest, ForkedChildDrawsDifferentBytes) {
  uint8_t warm[8];
  ASSERT_EQ(0, cpi_random_bytes(warm, sizeof warm));  // the pool is now full
  int fds[2];
  ASSERT_EQ(0, pipe(fds));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    uint8_t mine[32];
    int rc = cpi_random_bytes(mine, sizeof mine);
    ssize_t w = write(fds[1], mine, sizeof mine);
    _exit(rc == 0 && w == (ssize_t)sizeof mine ? 0 : 1);
  }
  close(fds[1]);
  uint8_t parent[32];
  ASSERT_EQ(0, cpi_random_bytes(parent, sizeof parent));
  uint8_t child[32];
  ssize_t got = read(fds[0], child, sizeof child);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ((ssize_t)sizeof child, got);
  EXPECT_NE(0, std::memcmp(parent, child, sizeof parent));
}

TEST(CryptoTest, TokenFormat) {
  std::set<std::string> seen;
  for (int i = 0; i < 32; i++) {
    char tok[CP_RANDOM_TOKEN_CHARS + 1];
    std::memset(tok, 'x', sizeof tok);
    ASSERT_EQ(0, cpi_random_token(tok));
    std::string t(tok);
    ASSERT_EQ(44u, t.size());
    EXPECT_EQ('=', t[43]);
    for (size_t j = 0; j < 43; j++) {
      char c = t[j];
      bool url = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '_';
      EXPECT_TRUE(url) << t;
    }
    uint8_t raw[CP_RANDOM_TOKEN_BYTES];
    size_t len = 0;
    ASSERT_EQ(0, cpi_base64url_decode(tok, 44, raw, sizeof raw, &len));
    EXPECT_EQ(32u, len);
    EXPECT_TRUE(seen.insert(t).second);
  }
}

}  // namespace

namespace {

cpi_seal_key Key(const std::string &secret) {
  cpi_seal_key k;
  EXPECT_EQ(0, cpi_seal_key_derive(&k, secret.data(), secret.size(),
                                   "crypto_test purpose"));
  return k;
}

}  // namespace

// Sealed values open only under the same key and name, unaltered.
TEST(SealTest, OpensOnlyUnderTheSameKeyAndName) {
  cpi_seal_key key = Key("the replicas' secret");
  const std::string name = "/prefix/id/kv-0123456789abcdef";
  const std::string plain = "identity state";
  std::vector<uint8_t> sealed(plain.size() + CPI_SEAL_OVERHEAD);
  ASSERT_EQ(0, cpi_seal(&key, name.data(), name.size(), plain.data(),
                        plain.size(), sealed.data()));
  EXPECT_EQ(std::string::npos,
            std::string(sealed.begin(), sealed.end()).find(plain));
  std::vector<uint8_t> out(plain.size());
  size_t len = 99;
  ASSERT_EQ(0, cpi_seal_open(&key, name.data(), name.size(), sealed.data(),
                             sealed.size(), out.data(), &len));
  EXPECT_EQ(plain, std::string(out.begin(), out.begin() + len));

  cpi_seal_key other = Key("another secret");
  EXPECT_EQ(CP_EDECODE,
            cpi_seal_open(&other, name.data(), name.size(), sealed.data(),
                          sealed.size(), out.data(), &len));
  EXPECT_EQ(0u, len);
  const std::string moved = "/prefix/id/kv-fedcba9876543210";
  EXPECT_EQ(CP_EDECODE,
            cpi_seal_open(&key, moved.data(), moved.size(), sealed.data(),
                          sealed.size(), out.data(), &len));
  for (size_t i = 0; i < sealed.size(); i++) {
    std::vector<uint8_t> altered = sealed;
    altered[i] ^= 0x20;
    EXPECT_EQ(CP_EDECODE,
              cpi_seal_open(&key, name.data(), name.size(), altered.data(),
                            altered.size(), out.data(), &len))
        << "byte " << i;
  }
  EXPECT_EQ(CP_EDECODE,
            cpi_seal_open(&key, name.data(), name.size(), sealed.data(),
                          CPI_SEAL_OVERHEAD - 1, out.data(), &len));
}

TEST(SealTest, NoncesDifferAndEmptyValuesSeal) {
  cpi_seal_key key = Key("the replicas' secret");
  uint8_t a[CPI_SEAL_OVERHEAD];
  uint8_t b[CPI_SEAL_OVERHEAD];
  ASSERT_EQ(0, cpi_seal(&key, "n", 1, "", 0, a));
  ASSERT_EQ(0, cpi_seal(&key, "n", 1, "", 0, b));
  EXPECT_NE(0, memcmp(a, b, sizeof a));
  uint8_t out[1];
  size_t len = 7;
  EXPECT_EQ(0, cpi_seal_open(&key, "n", 1, a, sizeof a, out, &len));
  EXPECT_EQ(0u, len);
  cpi_seal_key k;
  EXPECT_EQ(CP_EINVAL, cpi_seal_key_derive(&k, "", 0, "p"));
  // One secret, two purposes: two keys.
  cpi_seal_key p1, p2;
  ASSERT_EQ(0, cpi_seal_key_derive(&p1, "s", 1, "one"));
  ASSERT_EQ(0, cpi_seal_key_derive(&p2, "s", 1, "two"));
  EXPECT_NE(0, memcmp(p1.bytes, p2.bytes, sizeof p1.bytes));
}
