// Malformed Cluster manifests: each gets exactly the errors a user should see, with field
// paths, and nothing else.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "api/manifests.h"

namespace herd::api {
namespace {

constexpr const char* kHeader =
    "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\n";

// Every problem reported for `text`: the parse error, or each document's field errors.
std::vector<std::string> problems(const std::string& text) {
  auto docs = loadClusters(text);
  if (!docs) return {docs.status().message()};
  std::vector<std::string> out;
  if (docs->empty()) out.push_back("no objects");
  for (const auto& d : *docs) {
    for (const auto& e : d.decoded.errors) out.push_back(e.toString());
  }
  return out;
}

struct Case {
  const char* name;
  std::string manifest;
  std::vector<std::string> errors;
};

std::string withSpec(const std::string& spec) {
  return std::string(kHeader) + "spec:\n" + spec;
}

const std::string kLabelRule =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const std::string kSubdomainRule =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

std::vector<Case> cases() {
  return {
      {"BadYamlIndentation",
       "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\n spec: {}\n",
       {"invalid YAML: line 5, column 2: end of map not found"}},
      {"UnterminatedFlowMapping",
       std::string(kHeader) + "spec: {version: \"1.32\"\n",
       {"invalid YAML: line 6, column 1: end of map flow not found"}},
      {"InvalidJson",
       "{\"apiVersion\": \"herd.io/v1alpha1\", \"kind\": \"Cluster\",}",
       {"invalid JSON: [json.exception.parse_error.101] parse error at line 1, column 54: syntax "
        "error while "
        "parsing object key - unexpected '}'; expected string literal"}},
      {"DuplicateKey",
       std::string(kHeader) + "spec:\n  version: \"1.31\"\n  version: \"1.32\"\n",
       {"invalid YAML: line 7, column 3: mapping key \"version\" already defined"}},
      {"WrongApiVersion",
       "apiVersion: herd.io/v1\nkind: Cluster\nmetadata:\n  name: demo\n",
       {"apiVersion: Unsupported value: \"herd.io/v1\": supported values: \"herd.io/v1alpha1\""}},
      {"WrongKind",
       "apiVersion: herd.io/v1alpha1\nkind: Deployment\nmetadata:\n  name: demo\n",
       {"kind: Unsupported value: \"Deployment\": supported values: \"Cluster\""}},
      {"MissingTypeMeta",
       "metadata:\n  name: demo\n",
       {"apiVersion: Required value", "kind: Required value"}},
      {"NotAnObject",
       "just a string\n",
       {"<nil>: Invalid value: \"just a string\": must be an object, not string"}},
      {"SpecIsAList",
       std::string(kHeader) + "spec:\n- version\n",
       {"spec: Invalid value: [\"version\"]: must be an object, not array"}},
      {"UnknownSpecField", withSpec("  versoin: \"1.32\"\n"), {"unknown field \"spec.versoin\""}},
      {"UnknownNestedField",
       withSpec("  controlPlane:\n    etcd:\n      backups: daily\n"),
       {"unknown field \"spec.controlPlane.etcd.backups\""}},
      {"UppercaseName",
       "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: Demo\n",
       {"metadata.name: Invalid value: \"Demo\": " + kLabelRule}},
      {"DottedName",
       "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: team.a\n",
       {"metadata.name: Invalid value: \"team.a\": " + kLabelRule}},
      {"NameTooLong",
       "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: "
       "a23456789012345678901234567890123456789012\n",
       {"metadata.name: Invalid value: \"a23456789012345678901234567890123456789012\": must be no "
        "more than 40 "
        "characters, to leave room for the names herd derives from it (namespace "
        "herd-a23456789012345678901234567890123456789012)"}},
      {"MissingName",
       "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata: {}\n",
       {"metadata.name: Required value: name is required"}},
      {"NamespacedCluster",
       std::string(kHeader) + "  namespace: default\n",
       {"metadata.namespace: Forbidden: Cluster is cluster-scoped: remove metadata.namespace"}},
      {"UnsupportedVersion",
       withSpec("  version: \"1.25\"\n"),
       {"spec.version: Unsupported value: \"1.25\": supported values: \"1.30\", \"1.31\", "
        "\"1.32\", \"1.33\", \"1.34\", \"1.35\", \"1.36\""}},
      {"MalformedPatchVersion",
       withSpec("  version: \"1.32.x\"\n"),
       {"spec.version: Unsupported value: \"1.32.x\": supported values: \"1.30\", \"1.31\", "
        "\"1.32\", \"1.33\", \"1.34\", \"1.35\", \"1.36\""}},
      {"UnquotedVersionIsANumber",
       withSpec("  version: 1.32\n"),
       {"spec.version: Invalid value: 1.32: must be a string, not number (quote it in YAML: "
        "\"1.32\")"}},
      {"EvenEtcdReplicas",
       withSpec("  controlPlane:\n    etcd:\n      replicas: 2\n"),
       {"spec.controlPlane.etcd.replicas: Invalid value: 2: must be 1, 3 or 5"}},
      {"ZeroEtcdReplicas",
       withSpec("  controlPlane:\n    etcd:\n      replicas: 0\n"),
       {"spec.controlPlane.etcd.replicas: Invalid value: 0: must be 1, 3 or 5"}},
      {"NegativeApiServerReplicas",
       withSpec("  controlPlane:\n    apiServer:\n      replicas: -1\n"),
       {"spec.controlPlane.apiServer.replicas: Invalid value: -1: must be greater than or equal to "
        "1"}},
      {"ReplicasAsWord",
       withSpec("  controlPlane:\n    scheduler:\n      replicas: three\n"),
       {"spec.controlPlane.scheduler.replicas: Invalid value: \"three\": must be an integer, not "
        "string"}},
      {"ReplicasOverflow",
       withSpec("  controlPlane:\n    controllerManager:\n      replicas: 4294967296\n"),
       {"spec.controlPlane.controllerManager.replicas: Invalid value: 4294967296: must fit in a "
        "32-bit integer"}},
      {"FractionalReplicas",
       withSpec("  controlPlane:\n    apiServer:\n      replicas: 2.5\n"),
       {"spec.controlPlane.apiServer.replicas: Invalid value: 2.5: must be an integer, not "
        "number"}},
      {"BadServiceCidr",
       withSpec("  network:\n    serviceCIDR: 10.96.0.0/33\n"),
       {"spec.network.serviceCIDR: Invalid value: \"10.96.0.0/33\": must be a valid CIDR, e.g. "
        "10.96.0.0/12"}},
      {"ServiceCidrWithHostBits",
       withSpec("  network:\n    serviceCIDR: 10.96.0.1/12\n"),
       {"spec.network.serviceCIDR: Invalid value: \"10.96.0.1/12\": must be a network address with "
        "no host bits "
        "set; did you mean 10.96.0.0/12?"}},
      {"ServiceCidrTooWide",
       withSpec("  network:\n    serviceCIDR: 10.0.0.0/8\n    podCIDR: 192.168.0.0/16\n"),
       {"spec.network.serviceCIDR: Invalid value: \"10.0.0.0/8\": must be no wider than /12 "
        "(kube-apiserver allows at "
        "most 2^20 service addresses)"}},
      {"OverlappingCidrs",
       withSpec("  network:\n    serviceCIDR: 10.96.0.0/12\n    podCIDR: 10.100.0.0/16\n"),
       {"spec.network.podCIDR: Invalid value: \"10.100.0.0/16\": must not overlap with "
        "spec.network.serviceCIDR "
        "(10.96.0.0/12)"}},
      {"MixedFamilies",
       withSpec("  network:\n    podCIDR: fd00::/64\n"),
       {"spec.network.podCIDR: Invalid value: \"fd00::/64\": must be of the same IP family as "
        "spec.network.serviceCIDR (10.96.0.0/12)"}},
      {"DnsServiceIpOutsideRange",
       withSpec("  network:\n    dnsServiceIP: 10.0.0.10\n"),
       {"spec.network.dnsServiceIP: Invalid value: \"10.0.0.10\": must be inside "
        "spec.network.serviceCIDR "
        "(10.96.0.0/12)"}},
      {"DnsServiceIpIsKubernetesService",
       withSpec("  network:\n    dnsServiceIP: 10.96.0.1\n"),
       {"spec.network.dnsServiceIP: Invalid value: \"10.96.0.1\": must not be 10.96.0.1: the first "
        "service address "
        "belongs to the kubernetes Service"}},
      {"BadDnsDomain",
       withSpec("  network:\n    dnsDomain: Cluster.Local\n"),
       {"spec.network.dnsDomain: Invalid value: \"Cluster.Local\": " + kSubdomainRule}},
      {"BadHostname",
       withSpec("  expose:\n    hostname: api_demo.example.com\n"),
       {"spec.expose.hostname: Invalid value: \"api_demo.example.com\": " + kSubdomainRule}},
      {"BadStorageQuantity",
       withSpec("  controlPlane:\n    etcd:\n      storageSize: lots\n"),
       {"spec.controlPlane.etcd.storageSize: Invalid value: \"lots\": quantities must match the "
        "regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"}},
      {"RequestAboveLimit",
       withSpec("  controlPlane:\n    apiServer:\n      resources:\n        requests:\n          "
                "cpu: \"2\"\n"
                "        limits:\n          cpu: 1500m\n"),
       {"spec.controlPlane.apiServer.resources.requests[cpu]: Invalid value: \"2\": must be less "
        "than or equal to cpu "
        "limit of 1500m"}},
      {"UnsupportedResource",
       withSpec(
           "  controlPlane:\n    etcd:\n      resources:\n        limits:\n          gpu: 1\n"),
       {"spec.controlPlane.etcd.resources.limits[gpu]: Unsupported value: \"gpu\": supported "
        "values: \"cpu\", "
        "\"memory\", \"ephemeral-storage\""}},
      {"UnknownFlag",
       withSpec(
           "  controlPlane:\n    apiServer:\n      extraArgs:\n        enable-turbo: \"true\"\n"),
       {"spec.controlPlane.apiServer.extraArgs[enable-turbo]: Invalid value: \"enable-turbo\": not "
        "a flag of "
        "kube-apiserver"}},
      {"ManagedFlag",
       withSpec(
           "  controlPlane:\n    apiServer:\n      extraArgs:\n        etcd-servers: http://x\n"),
       {"spec.controlPlane.apiServer.extraArgs[etcd-servers]: Forbidden: herd sets --etcd-servers "
        "itself; it cannot "
        "be overridden"}},
      {"DashedFlag",
       withSpec("  controlPlane:\n    scheduler:\n      extraArgs:\n        --v: \"4\"\n"),
       {"spec.controlPlane.scheduler.extraArgs[--v]: Invalid value: \"--v\": write the flag "
        "without its leading "
        "dashes"}},
      {"FlagValueNotAString",
       withSpec("  controlPlane:\n    etcd:\n      extraArgs:\n        snapshot-count: 1000\n"),
       {"spec.controlPlane.etcd.extraArgs[snapshot-count]: Invalid value: 1000: must be a string, "
        "not integer (quote "
        "it in YAML: \"1000\")"}},
      {"AddonEnabledAsString",
       withSpec("  addons:\n    dashboard:\n      enabled: \"yes\"\n"),
       {"spec.addons.dashboard.enabled: Invalid value: \"yes\": must be a boolean, not string"}},
      {"BadStatus",
       std::string(kHeader) +
           "status:\n  phase: Exploding\n  conditions:\n  - type: Ready\n    status: Maybe\n",
       {"status.phase: Unsupported value: \"Exploding\": supported values: \"Pending\", "
        "\"Provisioning\", \"Running\", "
        "\"Updating\", \"Degraded\", \"Deleting\", \"Failed\"",
        "status.conditions[0].status: Unsupported value: \"Maybe\": supported values: \"True\", "
        "\"False\", "
        "\"Unknown\""}},
      {"ManyProblemsAtOnce",
       "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: Bad_Name\nspec:\n  "
       "version: \"1.10\"\n"
       "  controlPlane:\n    etcd:\n      replicas: 4\n",
       {"metadata.name: Invalid value: \"Bad_Name\": " + kLabelRule,
        "spec.version: Unsupported value: \"1.10\": supported values: \"1.30\", \"1.31\", "
        "\"1.32\", "
        "\"1.33\", \"1.34\", \"1.35\", \"1.36\"",
        "spec.controlPlane.etcd.replicas: Invalid value: 4: must be 1, 3 or 5"}},
      {"AliasBomb",
       "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, "
       "*c]\n"
       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, "
       "*e]\n"
       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
       {"invalid YAML: document expands to more than 1000000 nodes through aliases"}},
      {"EmptyDocument", "---\n# nothing here\n", {"no objects"}},
  };
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class MalformedManifestTest : public ::testing::TestWithParam<Case> {};

TEST_P(MalformedManifestTest, ReportsExactlyTheExpectedErrors) {
  const Case& c = GetParam();
  EXPECT_EQ(problems(c.manifest), c.errors) << c.manifest;
}

INSTANTIATE_TEST_SUITE_P(Manifests, MalformedManifestTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return param_info.param.name;
                         });

// The table itself: no two cases share a name or a manifest, and every expected error says
// where the problem is, as a user needs it: a parse error, or a field path; a field or map key
// said to be wrong (not missing) is one the manifest has.
TEST(MalformedManifestTest, CasesAreDistinctAndEachErrorSaysWhere) {
  static const std::regex kParseError(R"(^invalid (YAML|JSON): .+)");
  static const std::regex kFieldError(
      R"(^(<nil>|[A-Za-z]+(\.[A-Za-z]+|\[[^\]]+\])*): (Required value|Invalid value|)"
      R"(Unsupported value|Forbidden|Duplicate value)(: .+)?$)");
  static const std::regex kUnknownField(R"re(^unknown field "([A-Za-z]+(\.[A-Za-z]+)*)"$)re");
  std::set<std::string> names, manifests;
  for (const Case& c : cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "two cases named " << c.name;
    EXPECT_TRUE(manifests.insert(c.manifest).second) << c.name << " repeats another's manifest";
    EXPECT_FALSE(c.errors.empty()) << c.name;
    for (const std::string& error : c.errors) {
      std::smatch m;
      if (std::regex_match(error, kParseError) || error == "no objects") continue;
      std::string path;
      if (std::regex_match(error, m, kUnknownField)) {
        path = m[1];
      } else if (std::regex_match(error, m, kFieldError)) {
        if (m[3] == "Required value" || m[1] == "<nil>") continue;
        path = m[1];
      } else {
        ADD_FAILURE() << c.name << ": names neither a field path nor a parse error: " << error;
        continue;
      }
      // The last name in the path: a map key (requests[cpu]) or a field (replicas).
      std::string field = path.substr(path.rfind('.') + 1);
      if (auto open = field.rfind('['); open != std::string::npos) {
        std::string key = field.substr(open + 1, field.size() - open - 2);
        field =
            key.find_first_not_of("0123456789") == std::string::npos ? field.substr(0, open) : key;
      }
      EXPECT_NE(c.manifest.find(field), std::string::npos)
          << c.name << ": " << error << " names " << field << ", which the manifest lacks";
    }
  }
}

TEST(ManifestTest, ValidManifestPassesAndIsDefaulted) {
  auto docs = loadClusters(std::string(kHeader));
  ASSERT_TRUE(docs.isOk());
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_TRUE((*docs)[0].decoded.errors.empty());
  EXPECT_EQ((*docs)[0].decoded.cluster.spec.controlPlane.etcd.replicas, 3);
}

TEST(ManifestTest, MultipleDocumentsAreEachChecked) {
  std::string text =
      std::string(kHeader) + "---\n" +
      "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: two\nspec:\n  paused: on\n";
  auto docs = loadClusters(text);
  ASSERT_TRUE(docs.isOk());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[1].index, 1u);
  EXPECT_EQ((*docs)[1].decoded.cluster.metadata.name, "two");
  EXPECT_EQ((*docs)[1].decoded.cluster.spec.paused,
            true);  // YAML 1.1: `on` is true, as kubectl reads it
}

TEST(ManifestTest, LoadOneClusterSummarisesAllErrors) {
  auto r = loadOneCluster(
      withSpec("  controlPlane:\n    etcd:\n      replicas: 2\n  version: \"9.9\"\n"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(
      r.status().message(),
      "Cluster \"demo\" is invalid: [spec.version: Unsupported value: \"9.9\": supported values: "
      "\"1.30\", "
      "\"1.31\", \"1.32\", \"1.33\", \"1.34\", \"1.35\", \"1.36\", "
      "spec.controlPlane.etcd.replicas: Invalid value: 2: must be 1, 3 or 5]");
  EXPECT_EQ(loadOneCluster(std::string(kHeader) + "---\n" + kHeader).status().message(),
            "expected exactly one Cluster, found 2 objects");
}

}  // namespace
}  // namespace herd::api
