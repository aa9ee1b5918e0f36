// Toxic-layer location: both variants against distances computed by hand from the public forward's
// captures, argmax, identical texts.
#include <QtTest>
#include <cmath>

#include "detox/analysis/locate.h"
#include "test_methods_models.h"

using namespace detox;

namespace {

// Residual after each layer from the public API: [layers][seq][hidden] for one unpadded sequence.
std::vector<FloatTensor> residuals(const Model& model, const std::vector<int>& ids) {
    CaptureRequest request;
    request.points = {Capture::ResidPost};
    request.logits = false;
    ForwardOutput out = model.forward({ids}, request);
    std::vector<FloatTensor> result;
    for (int layer = 0; layer < model.config().numLayers; ++layer)
        result.push_back(out.captures.at(captureKey(Capture::ResidPost, layer)));
    return result;
}

std::vector<double> tokenMean(const FloatTensor& residual) {  // [1, seq, hidden]
    const int64_t seq = residual.shape[1], hidden = residual.shape[2];
    std::vector<double> mean(static_cast<size_t>(hidden), 0.0);
    for (int64_t t = 0; t < seq; ++t)
        for (int64_t h = 0; h < hidden; ++h) mean[size_t(h)] += residual.at({0, t, h}) / static_cast<double>(seq);
    return mean;
}

// Llama's RMSNorm with unit weight (the random models' norms are 1), by hand.
std::vector<double> rmsNormRow(const FloatTensor& residual, int64_t t, double eps) {
    const int64_t hidden = residual.shape[2];
    double square = 0;
    for (int64_t h = 0; h < hidden; ++h) square += std::pow(residual.at({0, t, h}), 2);
    const double scale = 1.0 / std::sqrt(square / static_cast<double>(hidden) + eps);
    std::vector<double> row;
    for (int64_t h = 0; h < hidden; ++h) row.push_back(residual.at({0, t, h}) * scale);
    return row;
}

const std::vector<int> kSafe = {256, 73, 32, 99, 97, 110, 39, 116, 32, 104, 101, 108, 112, 46};
const std::vector<int> kUnsafe = {256, 83, 117, 114, 101, 44, 32, 104, 101, 114, 101, 32, 105, 116, 32, 105, 115};
const std::vector<int> kUnsafeSameLength = {256, 83, 117, 114, 101, 44, 32, 104, 101, 114, 101, 32, 105, 116};

}  // namespace

class TestLocate : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void maskedMatchesHandComputation_data() {
        QTest::addColumn<QString>("family");
        QTest::newRow("llama") << "llama";
        QTest::newRow("gpt2") << "gpt2";
    }
    void maskedMatchesHandComputation() {
        QFETCH(QString, family);
        Model model = test::tinyModel(family.toStdString(), 3);
        auto safe = residuals(model, kSafe), unsafe = residuals(model, kUnsafe);
        std::vector<double> expected;
        for (int layer = 0; layer < model.config().numLayers; ++layer) {
            auto a = tokenMean(safe[size_t(layer)]), b = tokenMean(unsafe[size_t(layer)]);
            double square = 0;
            for (size_t h = 0; h < a.size(); ++h) square += (a[h] - b[h]) * (a[h] - b[h]);
            expected.push_back(std::sqrt(square));
        }
        auto distances = layerDistances(model, kSafe, kUnsafe, LocateVariant::Masked, 256);
        QCOMPARE(distances.size(), expected.size());
        for (size_t i = 0; i < expected.size(); ++i)
            QVERIFY2(std::abs(distances[i] - expected[i]) < 1e-4 * std::max(1.0, expected[i]),
                     qPrintable(QString("layer %1: %2 vs %3").arg(i).arg(distances[i]).arg(expected[i])));
        // Distances grow with depth on a random model; the answer is the argmax either way.
        QCOMPARE(argmaxLayer(distances), argmaxLayer(expected));
    }

    void easyEditMatchesHandComputationWithoutPadding() {
        // Equal lengths: no padding, so the public forward (each text alone) gives the same hidden states.
        Model model = test::tinyModel("llama", 5);
        auto safe = residuals(model, kSafe), unsafe = residuals(model, kUnsafeSameLength);
        const int layers = model.config().numLayers;
        std::vector<double> expected;
        for (int layer = 0; layer < layers; ++layer) {
            double square = 0;
            for (int64_t t = 0; t < static_cast<int64_t>(kSafe.size()); ++t) {
                if (layer == layers - 1) {  // after the final norm, as HF's output_hidden_states
                    auto a = rmsNormRow(safe[size_t(layer)], t, model.config().normEps);
                    auto b = rmsNormRow(unsafe[size_t(layer)], t, model.config().normEps);
                    for (size_t h = 0; h < a.size(); ++h) square += (a[h] - b[h]) * (a[h] - b[h]);
                } else {
                    for (int64_t h = 0; h < model.config().hiddenSize; ++h)
                        square += std::pow(double(safe[size_t(layer)].at({0, t, h})) - unsafe[size_t(layer)].at({0, t, h}), 2);
                }
            }
            expected.push_back(std::sqrt(square));
        }
        auto distances = layerDistances(model, kSafe, kUnsafeSameLength, LocateVariant::EasyEdit, 256);
        for (size_t i = 0; i < expected.size(); ++i)
            QVERIFY2(std::abs(distances[i] - expected[i]) < 1e-4 * std::max(1.0, expected[i]),
                     qPrintable(QString("layer %1: %2 vs %3").arg(i).arg(distances[i]).arg(expected[i])));
    }

    void easyEditIncludesPadPositions() {
        // With padding the shorter text's pad rows (EOS tokens) count: the distance exceeds the one over the
        // real positions only, which equals the hand value on the common prefix length.
        Model model = test::tinyModel("gpt2", 9);
        auto distances = layerDistances(model, kSafe, kUnsafe, LocateVariant::EasyEdit, 256);
        auto safe = residuals(model, kSafe);
        std::vector<int> unsafePrefix(kUnsafe.begin(), kUnsafe.begin() + static_cast<long>(kSafe.size()));
        auto unsafe = residuals(model, unsafePrefix);
        for (int layer = 0; layer + 1 < model.config().numLayers; ++layer) {
            double square = 0;
            for (int64_t t = 0; t < static_cast<int64_t>(kSafe.size()); ++t)
                for (int64_t h = 0; h < model.config().hiddenSize; ++h)
                    square += std::pow(double(safe[size_t(layer)].at({0, t, h})) - unsafe[size_t(layer)].at({0, t, h}), 2);
            QVERIFY(distances[size_t(layer)] > std::sqrt(square) + 1e-3);
        }
    }

    void identicalTextsGiveZero() {
        Model model = test::tinyModel("llama", 7);
        // Alone, the same text gives the same bits; in one batch the two rows may round differently.
        auto masked = layerDistances(model, kSafe, kSafe, LocateVariant::Masked, 256);
        QCOMPARE(masked.size(), size_t(model.config().numLayers));
        for (double d : masked) QCOMPARE(d, 0.0);
        auto easy = layerDistances(model, kSafe, kSafe, LocateVariant::EasyEdit, 256);
        QCOMPARE(easy.size(), size_t(model.config().numLayers));
        for (double d : easy) QVERIFY(d < 1e-5);
    }

    void recordLevelWithTokenizer() {
        QTemporaryDir dir;
        test::writeByteTokenizer(dir.path().toStdString());
        Model model = test::tinyModel("llama", 11, dir.path().toStdString());
        SafeEditRecord record;
        record.id = 12;
        record.safeGeneration = "I won't help with that.";
        record.unsafeGeneration = "Sure, here is how you do it.";
        LocateResult result = locateToxicLayer(model, record, LocateVariant::Masked);
        QCOMPARE(result.recordId, 12);
        QCOMPARE(result.variant, std::string("masked"));
        auto direct = layerDistances(model, model.tokenizer().encode(record.safeGeneration),
                                     model.tokenizer().encode(record.unsafeGeneration), LocateVariant::Masked, 256);
        QCOMPARE(result.distances, direct);
        QCOMPARE(result.toxicLayer, argmaxLayer(direct));
        LocateResult easy = locateToxicLayer(model, record, LocateVariant::EasyEdit);
        QCOMPARE(easy.variant, std::string("easyedit"));
        QVERIFY(easy.distances != result.distances);
        nlohmann::json json = result;
        QCOMPARE(json.at("toxic_layer").get<int>(), result.toxicLayer);
        QCOMPARE(json.at("distances").size(), size_t(4));
        QCOMPARE(json.get<LocateResult>().distances, result.distances);
        // Several records, cancellable.
        JobControl job([&](const Progress&) { job.requestCancel(); });
        QVERIFY_THROWS_EXCEPTION(Cancelled, locateToxicLayers(model, {record, record, record}, LocateVariant::Masked, job));
    }

    void argmaxAndNames() {
        QCOMPARE(argmaxLayer({0.1, 0.5, 0.5, 0.2}), 1);
        QCOMPARE(argmaxLayer({}), -1);
        QCOMPARE(locateVariantFromName("easyedit").value(), LocateVariant::EasyEdit);
        QVERIFY(!locateVariantFromName("other").has_value());
    }
};

QTEST_GUILESS_MAIN(TestLocate)
#include "test_locate.moc"
