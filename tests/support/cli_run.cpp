#include "cli_run.h"

#include <QProcess>

#include "fixtures.h"

namespace detox::test {

CliRun runCli(const QStringList& arguments, int timeoutMs) {
    QProcess cli;
    cli.start(cliPath(), arguments);
    CliRun run;
    if (!cli.waitForFinished(timeoutMs)) {
        cli.kill();
        cli.waitForFinished();
        return run;
    }
    run.exitCode = cli.exitStatus() == QProcess::NormalExit ? cli.exitCode() : -1;
    run.out = QString::fromUtf8(cli.readAllStandardOutput());
    run.err = QString::fromUtf8(cli.readAllStandardError());
    return run;
}

}  // namespace detox::test
