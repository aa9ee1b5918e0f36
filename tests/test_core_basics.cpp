// Core basics: the error type, version, compute set-up and the CLI's exit codes.
#include <dlfcn.h>

#include <QProcess>
#include <QtTest>
#include <thread>

#include "detox/runtime/compute.h"
#include "detox/error.h"
#include "detox/version.h"
#include "fixtures.h"

class CoreBasicsTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void errorNamesFileAndField() {
        detox::Error error("/data/model.safetensors", "tensor 'wte.weight'", "offsets outside the file");
        QCOMPARE(QString(error.what()), QString("/data/model.safetensors: tensor 'wte.weight': offsets outside the file"));
        QCOMPARE(QString::fromStdString(error.file()), QString("/data/model.safetensors"));
        QCOMPARE(QString::fromStdString(error.field()), QString("tensor 'wte.weight'"));
    }

    void versionMatchesProject() {
        QVERIFY(QRegularExpression("^\\d+\\.\\d+\\.\\d+$").match(QString::fromStdString(detox::appVersion())).hasMatch());
    }

    void computeUsesEveryCore() {
        detox::initCompute();
        QCOMPARE(detox::computeThreads(), int(std::max(1u, std::thread::hardware_concurrency())));
        // Our own at::parallel_for loops run on every thread (they ran on one when core lacked -fopenmp).
        QCOMPARE(detox::parallelLoopThreads(), detox::computeThreads());
        detox::initCompute(1);
        QCOMPARE(detox::computeThreads(), 1);
        QCOMPARE(detox::parallelLoopThreads(), 1);
        QVERIFY(QString::fromStdString(detox::computeDescription()).startsWith("LibTorch 1."));
    }

    // OpenBLAS falls back to its generic SSE3 (Prescott) kernels on a CPU it does not know (this machine:
    // 4.5x slower GEMM); after initCompute it runs kernels for the instructions the CPU has.
    void openBlasRunsKernelsForThisCpu() {
        detox::initCompute();
        using CoreName = char* (*)();
        auto coreName = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
        if (!coreName) QSKIP("LibTorch does not use OpenBLAS here");
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) QSKIP("no AVX2+FMA on this CPU");
        QVERIFY2(QString(coreName()).compare("prescott", Qt::CaseInsensitive) != 0, coreName());
    }

    void cliDistinguishesBadInput() {
        QProcess cli;
        cli.start(detox::test::cliPath(), {"no-such-command"});
        QVERIFY(cli.waitForFinished(30000));
        QCOMPARE(cli.exitCode(), 2);
        QVERIFY(cli.readAllStandardError().contains("unknown command"));

        cli.start(detox::test::cliPath(), {"version"});
        QVERIFY(cli.waitForFinished(30000));
        QCOMPARE(cli.exitCode(), 0);
        QVERIFY(cli.readAllStandardOutput().contains("\"app_version\""));
    }
};

QTEST_GUILESS_MAIN(CoreBasicsTest)
#include "test_core_basics.moc"
