// What the stand-ins (herd-standin, run as kube-apiserver, kube-controller-manager or
// kube-scheduler) share: the version they report, the recorded --help they parse against,
// the way they fail at start, and the loopback rule. standin.cc holds main() and the small
// stand-ins; kube_apiserver.cc the kube-apiserver stand-in. Stand-ins live in tests/support
// and never ship in herd.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace herd::standins {

// The version the stand-ins report: the release their flags were recorded from.
inline constexpr std::string_view kVersion = "v1.32.0";

// ../shared/kubernetes/flags/<binary>-help.txt.
Result<std::string> recordedHelp(std::string_view binary);

// Prints "Error: <message>" and the usage hint to stderr as the real binaries (cobra) do;
// returns their exit code, 1.
int failStart(std::string_view binary, const std::string& message);

// 127.0.0.0/8 or ::1. The stand-ins listen nowhere else.
bool isLoopback(const std::string& address);

// Go's error for a file that cannot be read: "open <path>: no such file or directory"; empty
// when it can.
std::string unreadable(const std::string& path);

// The kube-apiserver stand-in, given the arguments after the program name.
int runKubeApiServer(const std::vector<std::string>& args);

}  // namespace herd::standins
