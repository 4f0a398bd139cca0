// Secrets never reach logs through URLs.
#include <gtest/gtest.h>

#include "domain/text.hpp"

using namespace rostersync;

TEST(Redact, MasksCredentialQueryParameters) {
  EXPECT_EQ(redact_url("https://lms/x?page=2&access_token=abc123&per_page=5"),
            "https://lms/x?page=2&access_token=REDACTED&per_page=5");
  EXPECT_EQ(redact_url("https://lms/x?LTIK=zzz"), "https://lms/x?LTIK=REDACTED");
  EXPECT_EQ(redact_url("https://lms/x?page=2"), "https://lms/x?page=2");
}

TEST(Redact, MasksUserInfo) {
  EXPECT_EQ(redact_url("https://user:pw@host/p?q=1"), "https://REDACTED@host/p?q=1");
}

TEST(Redact, MasksInsideANestedEncodedUrl) {
  std::string shown = redact_url(
      "https://school.ltiaas.com/api/memberships?url=https%3A%2F%2Flms%2Fx%3Fpage%3D2%26access_token%3Dsecret99%26a%3Db");
  EXPECT_EQ(shown.find("secret99"), std::string::npos) << shown;
  EXPECT_NE(shown.find("page%3D2"), std::string::npos) << shown;
}

TEST(Redact, ClipBlanksControlCharactersAndMarksCuts) {
  using rostersync::clip_for_message;
  EXPECT_EQ(clip_for_message("line1\nFAKE LOG LINE\r\x1b[31m", 100), "line1 FAKE LOG LINE  [31m");
  EXPECT_EQ(clip_for_message("abcdef", 3), "abc...");
  EXPECT_EQ(clip_for_message("abc", 3), "abc");
  EXPECT_EQ(clip_for_message("caf\xc3\xa9 \xff\xfe ok\x7f", 100), "caf\xc3\xa9 ?? ok ");  // valid UTF-8 kept
  EXPECT_EQ(clip_for_message("\xed\xa0\x80 \xc0\xaf", 100), "??? ??");  // a surrogate, an overlong slash
}

TEST(Text, XmlSafetyCheck) {
  EXPECT_TRUE(is_xml_safe("Ødegård & <O'Brien> \"x\"\t"));
  EXPECT_TRUE(is_xml_safe("\xF0\x9F\x98\x80"));  // U+1F600
  EXPECT_FALSE(is_xml_safe(std::string("a\0b", 3)));
  EXPECT_FALSE(is_xml_safe("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_xml_safe("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_xml_safe("\xE2\x82"));          // truncated
}
