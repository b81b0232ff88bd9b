// What the CPU can do, read once at run time (the build targets baseline x86-64).
#pragma once
#include <map>
#include <string>

namespace pynn {
std::map<std::string, bool> cpu_features();
}
