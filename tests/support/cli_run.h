// Running the real `detox` binary ($DETOX_CLI) as a separate process, for the end-to-end CLI tests.
#pragma once
#include <QString>
#include <QStringList>

namespace detox::test {

struct CliRun {
    int exitCode = -1;  // -1 when it crashed or ran past the timeout (then it is killed)
    QString out, err;
};

CliRun runCli(const QStringList& arguments, int timeoutMs = 300000);

}  // namespace detox::test
