#include "sync/imses/membership_id.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace rostersync::sync {

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest(sha256) failed");  // only on OpenSSL misconfiguration
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

std::string membership_id(std::string_view person_key, std::string_view hierarchy_id) {
  std::string plain = "rs:" + std::to_string(person_key.size()) + ":";
  plain.append(person_key);
  plain += ':';
  plain.append(hierarchy_id);
  if (plain.size() <= kMaxMembershipIdLength) return plain;
  return "rs:h:" + sha256_hex(plain);
}

}  // namespace rostersync::sync
