#include "sync/platform/client_assertion.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <stdexcept>

namespace rostersync::sync {

struct SigningKey::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

// OpenSSL's most recent error, for a message; the queue is emptied.
std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no reason given";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

Result<SigningKey> SigningKey::from_pem(std::string_view pem, const std::string& where) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return fail(FailureKind::config, where + ": cannot read the private key", 0, openssl_reason());
  // No passphrase callback: an encrypted key fails here instead of prompting.
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (!pkey) {
    return fail(FailureKind::config, where + ": not a readable, unencrypted PEM private key", 0, openssl_reason());
  }
  SigningKey key;
  key.key_ = std::make_shared<Key>();
  key.key_->pkey = pkey;
  if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
    return fail(FailureKind::config, where + ": the private key is not an RSA key (RS256 needs one)");
  }
  if (key.bits() < 2048) {
    return fail(FailureKind::config,
                where + ": the RSA key has " + std::to_string(key.bits()) + " bits; at least 2048 are required");
  }
  return key;
}

int SigningKey::bits() const { return key_ ? EVP_PKEY_get_bits(key_->pkey) : 0; }

Result<std::string> SigningKey::sign_rs256(std::string_view data) const {
  if (!key_) return fail(FailureKind::config, "no signing key");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return fail(FailureKind::config, "signing the client assertion failed", 0, openssl_reason());
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return fail(FailureKind::config, "signing the client assertion failed", 0, openssl_reason());
  }
  signature.resize(length);
  return signature;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  std::string b64(text);
  for (char& c : b64) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') return false;
  }
  if (b64.size() % 4 == 1) return false;
  std::size_t padding = (4 - b64.size() % 4) % 4;
  b64.append(padding, '=');
  out.assign(3 * b64.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return false;
  out.resize(static_cast<std::size_t>(n) - padding);
  return true;
}

std::string random_jti() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("OpenSSL's random generator failed: " + openssl_reason());
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Result<std::string> make_client_assertion(const SigningKey& key, const AssertionClaims& claims) {
  boost::json::object header{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", claims.key_id}};
  boost::json::object body{{"iss", claims.client_id},
                           {"sub", claims.client_id},
                           {"aud", claims.audience},
                           {"iat", claims.issued_at},
                           {"exp", claims.issued_at + claims.lifetime.count()},
                           {"jti", claims.jti},
                           {"https://purl.imsglobal.org/spec/lti/claim/deployment_id", claims.deployment_id}};
  std::string signing_input =
      base64url_encode(boost::json::serialize(header)) + "." + base64url_encode(boost::json::serialize(body));
  Result<std::string> signature = key.sign_rs256(signing_input);
  if (!signature) return signature.failure();
  return signing_input + "." + base64url_encode(*signature);
}

GeneratedKey generate_rsa_key(int bits) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(EVP_RSA_gen(static_cast<unsigned>(bits)), EVP_PKEY_free);
  if (!pkey) throw std::runtime_error("generating an RSA key failed: " + openssl_reason());
  Bio priv(BIO_new(BIO_s_mem())), pub(BIO_new(BIO_s_mem()));
  if (!priv || !pub || PEM_write_bio_PrivateKey(priv.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), pkey.get()) != 1) {
    throw std::runtime_error("writing the RSA key failed: " + openssl_reason());
  }
  return {bio_text(priv.get()), bio_text(pub.get())};
}

}  // namespace rostersync::sync
