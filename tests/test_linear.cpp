// nn::linear (runtime/linear.h): the row kernel for decode-sized inputs against torch::linear, for 1..8
// rows (and the fallback beyond), with and without bias, F32 and BF16 weights, contiguous weights and
// GPT-2's transposed Conv1D views (the column kernel); under autograd the same values and
// torch::linear's gradients.
#include <QtTest>

#include "detox/runtime/compute.h"
#include "runtime/linear.h"

namespace {

bool cpuHasRowKernel() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Largest |a - b| relative to the largest |b| (the outputs are sums of ~in products of unit-scale terms).
double relativeDifference(const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
}

}  // namespace

class LinearTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Every core, as the executables run (LibTorch's default here is one thread): the kernels' parallel
    // paths (work split across threads, per-chunk partial sums) are what these tests check.
    void initTestCase() {
        detox::initCompute();
        if (detox::computeThreads() < 2) qWarning("one core: the kernels' multi-thread paths are not exercised");
    }

    // Every row kernel this CPU has (AVX-512, AVX2) and the fallback alone.
    void matchesTorchLinearForFewRows_data() {
        QTest::addColumn<int>("isa");
        QTest::newRow("avx512") << int(detox::nn::Isa::Avx512);
        QTest::newRow("avx2") << int(detox::nn::Isa::Avx2);
        QTest::newRow("none") << int(detox::nn::Isa::None);
    }

    void matchesTorchLinearForFewRows() {
        QFETCH(int, isa);
        const detox::nn::Isa detected = detox::nn::selectedRowKernel();
        if (!detox::nn::selectRowKernel(detox::nn::Isa(isa))) QSKIP("this CPU lacks that instruction set");
        auto restore = qScopeGuard([&] { detox::nn::selectRowKernel(detected); });
        torch::manual_seed(7);
        c10::InferenceMode inference;
        // out not a multiple of the row blocking; in with and without a vector tail.
        for (int64_t in : {768, 2053}) {
            const int64_t out = 77;
            torch::Tensor weight = torch::randn({out, in});
            torch::Tensor conv1d = torch::randn({in, out}).t();  // GPT-2 layout: stored [in, out]
            torch::Tensor bias = torch::randn({out});
            for (int64_t rows = 1; rows <= 10; ++rows) {
                for (bool withBias : {false, true}) {
                    torch::Tensor b = withBias ? bias : torch::Tensor();
                    // Decode shape [batch, 1, in] and flat [rows, in].
                    for (auto x : {torch::randn({rows, 1, in}), torch::randn({rows, in})}) {
                        for (const auto& w : {weight, conv1d}) {
                            torch::Tensor ours = detox::nn::linear(x, w, b);
                            torch::Tensor reference = torch::linear(x, w, b);
                            QCOMPARE(ours.sizes(), reference.sizes());
                            const double difference = relativeDifference(ours, reference);
                            QVERIFY2(difference < 1e-5, qPrintable(QString("in %1 rows %2 bias %3 contiguous %4: %5")
                                                                       .arg(in).arg(rows).arg(withBias)
                                                                       .arg(w.is_contiguous()).arg(difference)));
                        }
                    }
                }
            }
        }
    }

    void takesTheRowKernelOnlyWhereItShould() {
        if (!cpuHasRowKernel()) QSKIP("this CPU has no AVX2/FMA: nn::linear always falls back");
        torch::Tensor weight = torch::randn({64, 128});
        using detox::nn::linearTakesRowKernel;
        c10::InferenceMode inference;
        QVERIFY(linearTakesRowKernel(torch::randn({1, 1, 128}), weight));
        QVERIFY(linearTakesRowKernel(torch::randn({2, 128}), weight, torch::randn({64})));
        QVERIFY(linearTakesRowKernel(torch::randn({1, 128}), weight.to(torch::kBFloat16)));
        QVERIFY(!linearTakesRowKernel(torch::randn({detox::nn::kMaxFastRows + 1, 128}), weight));  // prefill
        QVERIFY(linearTakesRowKernel(torch::randn({1, 128}), torch::randn({128, 64}).t()));  // Conv1D view
        QVERIFY(linearTakesRowKernel(torch::randn({1, 128}), torch::randn({128, 64}).to(torch::kBFloat16).t()));
        QVERIFY(!linearTakesRowKernel(torch::randn({1, 128}), torch::randn({64, 256}).narrow(1, 0, 128)));  // strided
        QVERIFY(!linearTakesRowKernel(torch::randn({1, 128}), weight.to(torch::kFloat16)));
        QVERIFY(!linearTakesRowKernel(torch::randn({1, 128}, torch::kFloat64), weight.to(torch::kFloat64)));
    }

    // A row's result does not depend on how many rows share the call (batched decode = one-by-one decode),
    // nor on which thread took which part (the same call twice gives the same bits); for both layouts.
    void rowsAreIndependentOfTheBatch() {
        torch::manual_seed(3);
        c10::InferenceMode inference;
        torch::Tensor bias = torch::randn({300});
        torch::Tensor x = torch::randn({detox::nn::kMaxFastRows, 1024});
        for (const torch::Tensor& weight : {torch::randn({300, 1024}), torch::randn({1024, 300}).t()}) {
            torch::Tensor together = detox::nn::linear(x, weight, bias);
            for (int repeat = 0; repeat < 20; ++repeat) QVERIFY(torch::equal(detox::nn::linear(x, weight, bias), together));
            for (int64_t row = 0; row < x.size(0); ++row)
                QVERIFY(torch::equal(detox::nn::linear(x.narrow(0, row, 1), weight, bias)[0], together[row]));
        }
    }

    // BF16 weights (stored-dtype mode): converted in registers; equal to converting first.
    void bfloat16WeightsMatchConvertedWeights() {
        torch::manual_seed(5);
        c10::InferenceMode inference;
        torch::Tensor bias = torch::randn({130});
        // [out, in] and GPT-2's Conv1D view of a stored [in, out]
        for (const torch::Tensor& weight : {torch::randn({130, 2051}).to(torch::kBFloat16),
                                            torch::randn({2051, 130}).to(torch::kBFloat16).t()}) {
            for (int64_t rows : {1, 3, 8}) {
                torch::Tensor x = torch::randn({rows, 1, 2051});
                torch::Tensor ours = detox::nn::linear(x, weight, bias);
                QCOMPARE(ours.scalar_type(), torch::kFloat32);
                QVERIFY(relativeDifference(ours, torch::linear(x, weight.to(torch::kFloat32), bias)) < 1e-5);
            }
        }
    }

    // Under autograd the kernel runs forward too: the same values as without autograd, and the gradients
    // of torch::linear (inputs, weight, bias).
    void autogradGivesTheSameValuesAndTorchsGradients() {
        torch::manual_seed(9);
        torch::Tensor weight = torch::randn({40, 96}, torch::requires_grad());
        torch::Tensor bias = torch::randn({40}, torch::requires_grad());
        torch::Tensor x = torch::randn({3, 1, 96}, torch::requires_grad());
        torch::Tensor recorded = detox::nn::linear(x, weight, bias);
        {
            torch::NoGradGuard noGrad;
            QVERIFY(torch::equal(recorded.detach(), detox::nn::linear(x, weight, bias)));
        }
        recorded.pow(2).sum().backward();
        auto ours = std::vector<torch::Tensor>{x.grad().clone(), weight.grad().clone(), bias.grad().clone()};
        for (auto* t : {&x, &weight, &bias}) t->mutable_grad().zero_();
        torch::linear(x, weight, bias).pow(2).sum().backward();
        QVERIFY(relativeDifference(ours[0], x.grad()) < 1e-5);
        QVERIFY(relativeDifference(ours[1], weight.grad()) < 1e-5);
        QVERIFY(relativeDifference(ours[2], bias.grad()) < 1e-5);
        // Only the input records a graph (a frozen weight, no bias): weight gets no gradient.
        torch::Tensor frozen = weight.detach();
        torch::Tensor input = torch::randn({2, 96}, torch::requires_grad());
        detox::nn::linear(input, frozen).sum().backward();
        QVERIFY(relativeDifference(input.grad(), frozen.sum(0).expand({2, 96})) < 1e-5);
        QVERIFY(!frozen.grad().defined());
    }
};

QTEST_GUILESS_MAIN(LinearTest)
#include "test_linear.moc"
