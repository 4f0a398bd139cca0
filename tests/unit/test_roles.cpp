// Role normalisation and mapping to IMS-ES roleTypes, with priorities.
#include <gtest/gtest.h>

#include "sync/planning/roles.hpp"

using namespace rostersync;
using namespace rostersync::sync;

namespace {
const std::string kM = "http://purl.imsglobal.org/vocab/lis/v2/membership";
}

TEST(Roles, NormalisesEverySpelling) {
  EXPECT_EQ(normalize_role(kM + "#Instructor"), "Instructor");
  EXPECT_EQ(normalize_role(kM + "/Instructor#TeachingAssistant"), "Instructor#TeachingAssistant");
  EXPECT_EQ(normalize_role("Learner"), "Learner");
  EXPECT_EQ(normalize_role("urn:lti:role:ims/lis/Instructor/TeachingAssistant"), "Instructor#TeachingAssistant");
  EXPECT_EQ(normalize_role("urn:lti:role:ims/lis/Learner"), "Learner");
  std::string institution = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student";
  EXPECT_EQ(normalize_role(institution), institution);
}

TEST(Roles, PrincipalPatternMatchesSubRolesButNotOtherPrincipals) {
  EXPECT_TRUE(role_matches("Instructor", kM + "#Instructor"));
  EXPECT_TRUE(role_matches("Instructor", kM + "/Instructor#Lecturer"));
  EXPECT_FALSE(role_matches("Instructor", kM + "#Learner"));
  EXPECT_FALSE(role_matches("Instructor#TeachingAssistant", kM + "#Instructor"));
  EXPECT_TRUE(role_matches("Instructor#TeachingAssistant*", kM + "/Instructor#TeachingAssistantSection"));
  EXPECT_TRUE(role_matches(kM + "#Mentor", "Mentor"));  // full URI pattern, short role
}

TEST(Roles, DefaultPriorityPicksTheMostSpecificRole) {
  auto rules = config::default_role_map();
  // A TA carries the principal Instructor role too; TA wins.
  EXPECT_EQ(map_roles({kM + "#Instructor", kM + "/Instructor#TeachingAssistant"}, rules), "TeachingAssistant");
  EXPECT_EQ(map_roles({kM + "#Instructor"}, rules), "Instructor");
  EXPECT_EQ(map_roles({kM + "#Learner", kM + "#Instructor"}, rules), "Instructor");  // order in roles[] is irrelevant
  EXPECT_EQ(map_roles({"Learner"}, rules), "Learner");
  EXPECT_EQ(map_roles({kM + "#Mentor", kM + "#Learner"}, rules), "Learner");
  EXPECT_EQ(map_roles({kM + "#ContentDeveloper", kM + "#Mentor"}, rules), "Mentor");
  EXPECT_EQ(map_roles({kM + "#Administrator"}, rules), "Administrator");
  EXPECT_EQ(map_roles({"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"}, rules), std::nullopt);
  EXPECT_EQ(map_roles({}, rules), std::nullopt);
}

TEST(Roles, ConfiguredOrderIsThePriority) {
  std::vector<config::RoleRule> rules = {{"Learner", "Learner"}, {"Instructor", "Instructor"}};
  EXPECT_EQ(map_roles({kM + "#Instructor", kM + "#Learner"}, rules), "Learner");
}

TEST(Roles, DetectsTestUser) {
  EXPECT_TRUE(has_test_user_role({kM + "#Learner", "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"}));
  EXPECT_FALSE(has_test_user_role({kM + "#Learner"}));
}
