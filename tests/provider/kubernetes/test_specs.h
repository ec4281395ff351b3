// A realistic tenant for the kubernetes provider's tests: the Cluster "alpha" and the four
// component specs a renderer gives it (etcd with 3 members, kube-apiserver with 2 replicas,
// kube-controller-manager with 2, kube-scheduler with 1), written out by hand so these tests
// do not depend on the renderer. Also a complete PKI file set of recognisable bytes.
#pragma once

#include <vector>

#include "api/cluster.h"
#include "pki/tenant_pki.h"
#include "render/component_spec.h"

namespace herd::provider::kubernetes::testdata {

// name "alpha" with the given uid (the seed's, in tests against an apiserver).
api::Cluster cluster(const std::string& uid = "5c0ffee0-0000-4000-8000-00000000a1fa");

render::ComponentSpec etcdSpec();
render::ComponentSpec apiServerSpec();
render::ComponentSpec controllerManagerSpec();
render::ComponentSpec schedulerSpec();
std::vector<render::ComponentSpec> allSpecs();

// Every path of pki::layout::allPaths(), holding "<path> of alpha\n"; private ones 0600.
pki::PkiFiles pkiFiles();

}  // namespace herd::provider::kubernetes::testdata
