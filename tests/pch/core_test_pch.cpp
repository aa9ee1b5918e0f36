// Anchor for the core tests' shared precompiled header (see tests/CMakeLists.txt).
