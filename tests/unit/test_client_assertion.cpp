// The client assertion JWT: its header and claims as the IMS Security
// Framework asks for them, and its RS256 signature verified with OpenSSL
// directly against the public key (not with the code that signed it).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "sync/platform/client_assertion.hpp"

using namespace rostersync;
using namespace rostersync::sync;

namespace {

// base64url -> bytes with OpenSSL's decoder.
std::string decode(std::string text) {
  for (char& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (text.size() % 4) text += '=';
  std::string out(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  EXPECT_GE(n, 0);
  std::size_t pad = text.size() - text.find_last_not_of('=') - 1;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

bool verify_rs256(const std::string& public_pem, const std::string& signing_input, const std::string& signature) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
}

const GeneratedKey& tool_key() {
  static const GeneratedKey key = generate_rsa_key(2048);
  return key;
}

AssertionClaims claims() {
  AssertionClaims c;
  c.client_id = "10000000000042";
  c.audience = "https://sso.canvaslms.com/login/oauth2/token";
  c.deployment_id = "42:8865aa05b4b79b64a91a86042e43af5ea8ae79eb";
  c.key_id = "rostersync-2026";
  c.issued_at = 1'800'000'000;
  c.lifetime = std::chrono::seconds(300);
  c.jti = "0123456789abcdef0123456789abcdef";
  return c;
}

struct Parts {
  std::string header, body, signature, signing_input;
};

Parts split(const std::string& jwt) {
  auto a = jwt.find('.'), b = jwt.rfind('.');
  EXPECT_NE(a, b);
  return {decode(jwt.substr(0, a)), decode(jwt.substr(a + 1, b - a - 1)), decode(jwt.substr(b + 1)), jwt.substr(0, b)};
}

}  // namespace

TEST(ClientAssertion, HeaderAndClaimsAreWhatTheSecurityFrameworkAsksFor) {
  Result<SigningKey> key = SigningKey::from_pem(tool_key().private_pem, "test");
  ASSERT_TRUE(key.ok()) << key.failure().describe();
  Result<std::string> jwt = make_client_assertion(*key, claims());
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->find('='), std::string::npos);  // base64url without padding
  Parts p = split(*jwt);
  boost::json::object header = boost::json::parse(p.header).as_object();
  EXPECT_EQ(header.at("alg").as_string(), "RS256");
  EXPECT_EQ(header.at("kid").as_string(), "rostersync-2026");
  boost::json::object body = boost::json::parse(p.body).as_object();
  EXPECT_EQ(body.at("iss").as_string(), "10000000000042");
  EXPECT_EQ(body.at("sub").as_string(), "10000000000042");
  EXPECT_EQ(body.at("aud").as_string(), "https://sso.canvaslms.com/login/oauth2/token");
  EXPECT_EQ(body.at("iat").as_int64(), 1'800'000'000);
  EXPECT_EQ(body.at("exp").as_int64(), 1'800'000'300);
  EXPECT_EQ(body.at("jti").as_string(), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(body.at("https://purl.imsglobal.org/spec/lti/claim/deployment_id").as_string(),
            "42:8865aa05b4b79b64a91a86042e43af5ea8ae79eb");
}

TEST(ClientAssertion, TheSignatureVerifiesWithThePublicKeyAndOnlyForThisContent) {
  Result<SigningKey> key = SigningKey::from_pem(tool_key().private_pem, "test");
  ASSERT_TRUE(key.ok());
  Parts p = split(*make_client_assertion(*key, claims()));
  EXPECT_EQ(p.signature.size(), 256u);  // 2048-bit RSA
  EXPECT_TRUE(verify_rs256(tool_key().public_pem, p.signing_input, p.signature));
  EXPECT_FALSE(verify_rs256(tool_key().public_pem, p.signing_input + "x", p.signature));
  GeneratedKey other = generate_rsa_key(2048);
  EXPECT_FALSE(verify_rs256(other.public_pem, p.signing_input, p.signature));
}

TEST(ClientAssertion, EveryJtiIsNew) {
  std::string a = random_jti(), b = random_jti();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(ClientAssertion, KeysThatCannotSignRS256AreRefusedNamingWhere) {
  Result<SigningKey> garbage = SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                                                    "rostersync.yaml:7:5: sources.canvas.private_key_file");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.failure().kind, FailureKind::config);
  EXPECT_NE(garbage.failure().message.find("sources.canvas.private_key_file"), std::string::npos);

  GeneratedKey small = generate_rsa_key(1024);
  Result<SigningKey> weak = SigningKey::from_pem(small.private_pem, "where");
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.failure().message.find("1024 bits"), std::string::npos);

  // A public key in the private key's place.
  EXPECT_FALSE(SigningKey::from_pem(tool_key().public_pem, "where").ok());
}

TEST(ClientAssertion, Base64UrlRoundTripsEveryByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 255u, 256u}) {
    std::string encoded = base64url_encode(bytes.substr(0, n));
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
    EXPECT_EQ(decode(encoded), bytes.substr(0, n));
    std::string back;
    ASSERT_TRUE(base64url_decode(encoded, back));
    EXPECT_EQ(back, bytes.substr(0, n));
  }
  std::string ignored;
  EXPECT_FALSE(base64url_decode("ab+/", ignored));
  EXPECT_FALSE(base64url_decode("a", ignored));
}
