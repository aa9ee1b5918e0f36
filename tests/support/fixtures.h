// Finding test inputs: the shared reference fixtures and this project's own files.
#pragma once
#include <QString>
#include <QtTest>

namespace detox::test {

// The reference fixtures folder: $DETOX_FIXTURES, else the configured default (../shared/fixtures).
QString fixturesDir();
// A path inside the fixtures folder.
QString fixturePath(const QString& relative);
// A path inside this source tree (datasets/, resources/ ...).
QString sourcePath(const QString& relative);
// The CLI binary under test ($DETOX_CLI, set by CTest).
QString cliPath();
// A fresh temporary directory path for a test, removed when the process ends.
QString scratchDir();

}  // namespace detox::test

// Skips the current test with the reason when a fixture is absent: a skip, never a silent pass.
#define DETOX_REQUIRE_FIXTURE(relative)                                                           \
    do {                                                                                          \
        if (!QFileInfo::exists(detox::test::fixturePath(relative)))                               \
            QSKIP(qPrintable(QStringLiteral("fixture not found: %1 (set DETOX_FIXTURES)")         \
                                 .arg(detox::test::fixturePath(relative))));                      \
    } while (0)
