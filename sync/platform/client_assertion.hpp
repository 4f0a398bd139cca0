// The client assertion of OAuth2 client credentials for LTI Advantage
// (RFC 7523 as the IMS Security Framework profiles it): a JWT the tool signs
// with its RSA private key (RS256) to prove to the platform's token endpoint
// who it is.
//
// The assertion is a credential for as long as it is valid: it is never
// logged or stored. OpenSSL stays inside the .cpp file.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "domain/result.hpp"

namespace rostersync::sync {

// The tool's RSA private key, parsed once. Copies share the key.
class SigningKey {
 public:
  // Parses a PEM private key (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE
  // KEY", unencrypted). Fails (FailureKind::config) naming `where` when it
  // is not one, not RSA, or shorter than 2048 bits; OpenSSL's reason is
  // the failure's peer text.
  static Result<SigningKey> from_pem(std::string_view pem, const std::string& where);

  // RSASSA-PKCS1-v1_5 with SHA-256 over `data`: the raw signature bytes.
  Result<std::string> sign_rs256(std::string_view data) const;
  int bits() const;

  struct Key;  // opaque: keeps OpenSSL out of this header

 private:
  std::shared_ptr<Key> key_;
};

struct AssertionClaims {
  std::string client_id;      // iss and sub
  std::string audience;       // aud
  std::string deployment_id;  // https://purl.imsglobal.org/spec/lti/claim/deployment_id
  std::string key_id;         // kid, in the header
  std::int64_t issued_at = 0; // iat, Unix seconds
  std::chrono::seconds lifetime{300};  // exp = iat + lifetime
  std::string jti;            // unique per assertion (random_jti)
};

// header.claims.signature, each base64url without padding.
Result<std::string> make_client_assertion(const SigningKey& key, const AssertionClaims& claims);

// 128 random bits from OpenSSL's generator, as 32 hex digits.
std::string random_jti();

// base64url (RFC 4648 section 5) without padding, and back (nullopt-like
// empty result with ok=false when the text is not base64url).
std::string base64url_encode(std::string_view bytes);
bool base64url_decode(std::string_view text, std::string& out);

// A fresh RSA private key as unencrypted PKCS#8 PEM, and its public key as
// SubjectPublicKeyInfo PEM: for the demo and the tests, which play the
// platform's side. Throws std::runtime_error if OpenSSL fails.
struct GeneratedKey {
  std::string private_pem;
  std::string public_pem;
};
GeneratedKey generate_rsa_key(int bits = 2048);

}  // namespace rostersync::sync
