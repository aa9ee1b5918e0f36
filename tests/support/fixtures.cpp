#include "fixtures.h"

#include <QDir>
#include <QTemporaryDir>

namespace detox::test {

QString fixturesDir() {
    QByteArray fromEnvironment = qgetenv("DETOX_FIXTURES");
    return QDir::cleanPath(fromEnvironment.isEmpty() ? QString(DETOX_FIXTURES_DIR) : QString::fromLocal8Bit(fromEnvironment));
}

QString fixturePath(const QString& relative) { return fixturesDir() + "/" + relative; }

QString sourcePath(const QString& relative) { return QDir::cleanPath(QString(DETOX_SOURCE_DIR) + "/" + relative); }

QString cliPath() {
    QByteArray fromEnvironment = qgetenv("DETOX_CLI");
    return fromEnvironment.isEmpty() ? QString(DETOX_BINARY_DIR) + "/app/detox" : QString::fromLocal8Bit(fromEnvironment);
}

QString scratchDir() {
    static QTemporaryDir root;  // one per test process, cleaned at exit
    static int counter = 0;
    QString path = root.path() + QString("/t%1").arg(counter++);
    QDir().mkpath(path);
    return path;
}

}  // namespace detox::test
