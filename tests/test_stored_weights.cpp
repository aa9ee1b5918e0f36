// Stored-dtype weights (WeightMode::Stored): BF16/F16/F32 weights stay as views of the read-only file
// mapping and are converted per use. Checked against the F32-resident mode on the tiny HF fixtures and on
// BF16 copies of them written with our own safetensors writer: logits, captures, logit lens, generation,
// gradients through frozen BF16 layers, memory accounting, edit overrides, undo, save (RNE rounding) and
// the device option on this CPU-only LibTorch.
#include <QProcess>
#include <QtTest>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/methods/methods.h"
#include "detox/runtime/model.h"
#include "fixtures.h"
#include "runtime/transformer.h"
#include "runtime/weights.h"

namespace fs = std::filesystem;
using detox::LoadOptions;
using detox::Model;
using detox::WeightMode;

namespace {

const char* const kTinyModels[] = {"gpt2", "llama", "qwen2"};

std::string fixture(const std::string& relative) {
    return detox::test::fixturePath(QString::fromStdString(relative)).toStdString();
}

Model loadAs(const std::string& directory, WeightMode mode) {
    LoadOptions options;
    options.weights = mode;
    return Model::load(directory, options);
}

torch::Tensor logitsOf(const Model& model, const std::vector<std::vector<int>>& batch) {
    auto output = model.forward(batch);
    return torch::from_blob(output.logits.values.data(), output.logits.shape, torch::kFloat32).clone();
}

double relativeDifference(const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
}

// A copy of a fixture checkpoint with every tensor stored in `dtype` (our writer; RNE from the F32 file).
std::string halfCopy(const std::string& name, const std::string& dtype) {
    const std::string source = fixture("tiny-hf/" + name);
    const std::string target = detox::test::scratchDir().toStdString() + "/" + name + "-" + dtype;
    fs::create_directories(target);
    for (const auto& item : fs::directory_iterator(source))
        if (item.path().extension() != ".safetensors" && item.path().filename() != "reference.json")
            fs::copy_file(item.path(), fs::path(target) / item.path().filename());
    auto file = detox::nn::SafetensorsFile::open(source + "/model.safetensors");
    std::vector<detox::nn::TensorToWrite> tensors;
    for (const auto& entry : file.header().tensors) tensors.push_back({entry.name, file.readAsFloat(entry), dtype});
    detox::nn::writeSafetensors(target + "/model.safetensors", tensors);
    return target;
}

const std::vector<std::vector<int>> kBatch = {{1, 5, 9, 14, 3, 7}, {2, 4, 8}};

}  // namespace

class StoredWeightsTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void modeNamesRoundTrip() {
        for (WeightMode mode : {WeightMode::Auto, WeightMode::F32, WeightMode::Stored})
            QCOMPARE(*detox::weightModeFromName(detox::weightModeName(mode)), mode);
        QVERIFY(!detox::weightModeFromName("bf16"));
    }

    // F32 checkpoints: stored mode views the same mapping; logits within 1e-5 relative (in fact equal).
    void storedMatchesF32OnF32Fixtures() {
        for (const char* name : kTinyModels) {
            DETOX_REQUIRE_FIXTURE(QString("tiny-hf/%1/config.json").arg(name));
            Model f32 = loadAs(fixture(std::string("tiny-hf/") + name), WeightMode::F32);
            Model stored = loadAs(fixture(std::string("tiny-hf/") + name), WeightMode::Stored);
            QCOMPARE(f32.weightMode(), WeightMode::F32);
            QCOMPARE(stored.weightMode(), WeightMode::Stored);
            QVERIFY2(relativeDifference(logitsOf(stored, kBatch), logitsOf(f32, kBatch)) <= 1e-5, name);
            QCOMPARE(stored.weightBytes(), f32.weightBytes());  // F32 as stored: 4 bytes either way
        }
    }

    // BF16 checkpoints: stored mode is exactly the model converted at load (logits, captures, logit lens,
    // parameters, generation), GPT-2's transposed Conv1D weights and tied head included.
    void storedBf16IsIdenticalToConvertingAtLoad() {
        for (const char* name : kTinyModels) {
            DETOX_REQUIRE_FIXTURE(QString("tiny-hf/%1/config.json").arg(name));
            const std::string directory = halfCopy(name, "BF16");
            Model f32 = loadAs(directory, WeightMode::F32);
            Model stored = loadAs(directory, WeightMode::Stored);
            QVERIFY2(torch::equal(logitsOf(stored, kBatch), logitsOf(f32, kBatch)), name);

            detox::CaptureRequest request;
            request.points = detox::allCaptures();
            auto a = stored.forward(kBatch, request), b = f32.forward(kBatch, request);
            QCOMPARE(a.captures.size(), b.captures.size());
            for (const auto& [key, value] : b.captures) QVERIFY2(a.captures.at(key).values == value.values, key.c_str());
            QVERIFY(stored.logitLens(b.captures.at("resid_post.0")).values == f32.logitLens(b.captures.at("resid_post.0")).values);

            for (const auto& parameter : f32.parameterNames()) {
                auto x = stored.parameter(parameter), y = f32.parameter(parameter);
                QCOMPARE(x.shape, y.shape);
                QVERIFY2(x.values == y.values, parameter.c_str());
            }
            detox::GenerationSettings settings;
            settings.maxNewTokens = 6;
            auto g1 = stored.generate(kBatch, settings), g2 = f32.generate(kBatch, settings);
            for (size_t i = 0; i < g1.size(); ++i) QCOMPARE(g1[i].outputIds, g2[i].outputIds);
            QCOMPARE(stored.contentHash(), f32.contentHash());
            QVERIFY(stored.weightsDescription().find("stored-dtype (BF16)") != std::string::npos);
            QVERIFY(f32.weightsDescription().find("f32") == 0);
        }
    }

    // The resident weights of a BF16 checkpoint in stored mode are the BF16 bytes (matrices mapped) plus
    // the small tensors in F32 - not 4 bytes a parameter.
    void storedModeAccountsStoredBytes() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const std::string directory = halfCopy("llama", "BF16");
        Model stored = loadAs(directory, WeightMode::Stored);
        Model f32 = loadAs(directory, WeightMode::F32);
        long long expected = 0;
        auto file = detox::nn::SafetensorsFile::open(directory + "/model.safetensors");
        for (const auto& entry : file.header().tensors) {
            long long count = 1;
            for (auto dim : entry.shape) count *= dim;
            expected += count * (entry.shape.size() >= 2 ? 2 : 4);
            // Matrices are views of the file mapping (the model's own mapping), not copies.
            const auto& held = stored.impl().heldParameter(entry.name);
            if (entry.shape.size() >= 2) {
                QCOMPARE(held.scalar_type(), torch::kBFloat16);
                QVERIFY(!stored.impl().slot(entry.name).ownsMemory);
                QVERIFY(torch::equal(stored.impl().storedLayout(entry.name), file.readRaw(entry)));
            }
        }
        QCOMPARE(stored.weightBytes(), expected);
        QCOMPARE(f32.weightBytes(), f32.parameterCount() * 4);
        QVERIFY(stored.weightBytes() < f32.weightBytes() * 6 / 10);
    }

    // Backward through frozen BF16 layers (the custom autograd path) gives the F32 model's gradient.
    void gradientThroughStoredLayersMatchesF32() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const std::string directory = halfCopy("llama", "BF16");
        std::vector<torch::Tensor> gradients;
        for (WeightMode mode : {WeightMode::Stored, WeightMode::F32}) {
            Model model = loadAs(directory, mode);
            auto& impl = model.impl();
            const std::string trained = impl.mlpDownWeightName(0);
            impl.setRequiresGrad({trained}, true);
            auto batch = detox::nn::padTokens(kBatch, false, 0, model.config().vocabSize);
            torch::Tensor logits = impl.forwardLogits(batch);
            logits.pow(2).mean().backward();
            gradients.push_back(impl.heldParameter(trained).grad().clone());
            impl.setRequiresGrad({trained}, false);
        }
        QVERIFY(gradients[0].abs().max().item<float>() > 0);
        QVERIFY(relativeDifference(gradients[0], gradients[1]) <= 1e-5);
    }

    // Row-chunked conversion (big matrices, e.g. a 7B's LM head) = one whole conversion, forward and backward.
    void chunkedConversionMatchesWhole() {
        torch::manual_seed(3);
        const int64_t rows = detox::nn::kMaxScratchChunkBytes / (64 * 4) * 2 + 5;  // three chunks of 64 columns
        torch::Tensor weight = torch::randn({rows, 64}).to(torch::kBFloat16);
        torch::Tensor bias = torch::randn({rows});
        torch::Tensor x = torch::randn({2, 3, 64}, torch::requires_grad());
        torch::Tensor chunked = detox::nn::storedLinear(x, weight, bias);
        torch::Tensor whole = torch::linear(x, weight.to(torch::kFloat32), bias);
        QVERIFY(relativeDifference(chunked, whole) <= 1e-6);
        auto g1 = torch::autograd::grad({chunked.sum()}, {x})[0];
        auto g2 = torch::autograd::grad({whole.sum()}, {x})[0];
        QVERIFY(relativeDifference(g1, g2) <= 1e-5);
        QVERIFY(detox::nn::scratchBytes() <= detox::nn::kMaxScratchChunkBytes);
    }

    // Editing in stored mode: the edited tensor becomes an F32 override; DINM's undo restores the mapped
    // view itself (bit-exact, same memory); save writes BF16 (RNE of the F32 edit) and every other
    // tensor bit-identical to the source, and detox_save.json names the rounded tensor.
    void editUndoAndSaveInStoredMode() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const std::string directory = halfCopy("llama", "BF16");
        Model model = loadAs(directory, WeightMode::Stored);
        const std::string hash = model.contentHash();
        detox::ModelEditor editor(model);
        detox::DinmInputs inputs{{1, 5, 9, 14}, {3, 7, 11}, {2, 4, 8}, {6, 10}};
        detox::DinmSettings settings;
        settings.learningRate = 1e-2;
        settings.maxSteps = 3;
        const int layer = 1;
        const std::string target = model.impl().mlpDownWeightName(layer);
        const torch::Tensor mapped = model.impl().heldParameter(target);
        auto result = editor.dinm(inputs, layer, settings);
        QVERIFY(result.provenance.modelWeights.find("stored-dtype (BF16)") != std::string::npos);
        const torch::Tensor& edited = model.impl().heldParameter(target);
        QCOMPARE(edited.scalar_type(), torch::kFloat32);
        QVERIFY(!torch::equal(edited, mapped.to(torch::kFloat32)));
        QVERIFY(editor.hasEdits());
        QVERIFY(model.contentHash() != hash);
        // Everything else is still the mapping.
        QVERIFY(model.impl().heldParameter(model.impl().mlpDownWeightName(0)).scalar_type() == torch::kBFloat16);

        const torch::Tensor editedValue = model.impl().storedLayout(target).detach().clone();
        const std::string saved = detox::test::scratchDir().toStdString() + "/saved";
        model.save(saved);
        auto source = detox::nn::SafetensorsFile::open(directory + "/model.safetensors");
        auto written = detox::nn::SafetensorsFile::open(saved + "/model.safetensors");
        for (const auto& entry : source.header().tensors) {
            const auto* copy = written.find(entry.name);
            QVERIFY(copy);
            QCOMPARE(copy->dtype, std::string("BF16"));
            if (entry.name == target)
                QVERIFY(torch::equal(written.readRaw(*copy), editedValue.to(torch::kBFloat16)));  // RNE
            else
                QVERIFY2(torch::equal(written.readRaw(*copy), source.readRaw(entry)), entry.name.c_str());
        }
        auto marker = nlohmann::json::parse(detox::readFile(saved + "/detox_save.json"));
        QCOMPARE(marker["rounded_tensors"], nlohmann::json::array({target}));
        QVERIFY(marker["weights"].get<std::string>().find("stored-dtype") != std::string::npos);
        // Reloaded: the edited tensor is the BF16 rounding of the F32 edit.
        Model reloaded = loadAs(saved, WeightMode::Stored);
        QVERIFY(torch::equal(reloaded.impl().heldParameter(target), editedValue.to(torch::kBFloat16)));

        editor.undoAll();
        QVERIFY(!editor.hasEdits());
        QVERIFY(model.impl().heldParameter(target).is_same(mapped));  // the mapped view itself
        QCOMPARE(model.contentHash(), hash);
    }

    // setParameter in stored mode, then restoring a snapshot (the methods' cancel path): bit-exact.
    void snapshotRestoreIsBitExactInStoredMode() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/gpt2/config.json");
        const std::string directory = halfCopy("gpt2", "BF16");
        Model model = loadAs(directory, WeightMode::Stored);
        const std::string name = model.impl().mlpDownWeightName(0);  // a transposed Conv1D weight
        const torch::Tensor before = logitsOf(model, kBatch);
        auto snapshot = model.impl().snapshot({name});
        detox::FloatTensor value = model.parameter(name);
        for (auto& v : value.values) v += 0.01f;
        model.setParameter(name, value);
        QVERIFY(!torch::equal(logitsOf(model, kBatch), before));
        QCOMPARE(model.parameter(name).values, value.values);
        model.impl().restore(snapshot);
        QCOMPARE(model.impl().heldParameter(name).scalar_type(), torch::kBFloat16);
        QVERIFY(torch::equal(logitsOf(model, kBatch), before));
    }

    // PinnedWeights (DINM's layers above the toxic one): F32 copies while it lives, same logits, the mapped
    // views back afterwards; the budget bounds what is copied.
    void pinnedWeightsAreTemporary() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const std::string directory = halfCopy("llama", "BF16");
        Model model = loadAs(directory, WeightMode::Stored);
        auto& impl = model.impl();
        const std::string up = impl.layerParameterName(1, impl.spec->up);
        const torch::Tensor mapped = impl.heldParameter(up);
        const torch::Tensor before = logitsOf(model, kBatch);
        const long long storedBytes = model.weightBytes();
        {
            detox::PinnedWeights pinned(impl, {1}, true, 1ll << 40);
            QCOMPARE(impl.heldParameter(up).scalar_type(), torch::kFloat32);
            QVERIFY(!pinned.names().empty());
            QCOMPARE(model.weightBytes(), storedBytes + pinned.bytes() / 2);  // each pinned BF16 matrix now 4 bytes
            QVERIFY(torch::equal(logitsOf(model, kBatch), before));
            QCOMPARE(model.contentHash(), loadAs(directory, WeightMode::Stored).contentHash());  // not an edit
        }
        QVERIFY(impl.heldParameter(up).is_same(mapped));
        QCOMPARE(model.weightBytes(), storedBytes);
        // Pinning dropped the mapped copies' pages from the process; read again they are the file's.
        QVERIFY(torch::equal(logitsOf(model, kBatch), before));
        detox::PinnedWeights none(impl, {0, 1}, true, 16);
        QVERIFY(none.names().empty());
        QCOMPARE(impl.heldParameter(up).scalar_type(), torch::kBFloat16);
    }

    // DINM's lower layers leave the process while the steps run (releaseMappedLayerPages): the values read
    // afterwards are the file's, and owned (F32-resident) tensors are untouched.
    void releasedLayerPagesReadBackTheFile() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const std::string directory = halfCopy("llama", "BF16");
        for (WeightMode mode : {WeightMode::Stored, WeightMode::F32}) {
            Model model = loadAs(directory, mode);
            const torch::Tensor before = logitsOf(model, kBatch);
            detox::releaseMappedLayerPages(model.impl(), {0, 1});
            QVERIFY(torch::equal(logitsOf(model, kBatch), before));
        }
    }

    // DINM in stored mode (layers above the toxic one pinned in F32, lower ones released) follows the
    // same losses as on the model converted to F32 at load, and records what it pinned.
    void dinmInStoredModeMatchesF32Mode() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const std::string directory = halfCopy("llama", "BF16");
        detox::DinmInputs inputs{{1, 5, 9, 14}, {3, 7, 11}, {2, 4, 8}, {6, 10}};
        detox::DinmSettings settings;
        settings.learningRate = 1e-2;
        settings.maxSteps = 4;
        settings.stopLoss = 0;
        std::vector<std::vector<double>> losses;
        std::vector<long long> pinned;
        for (WeightMode mode : {WeightMode::Stored, WeightMode::F32}) {
            Model model = loadAs(directory, mode);
            const bool roomToPin = detox::pinningBudgetBytes(model.impl()) > (64ll << 20);  // the tiny model is ~1 MB
            detox::ModelEditor editor(model);
            auto result = editor.dinm(inputs, 0, settings);
            if (mode == WeightMode::Stored && roomToPin) QVERIFY(result.settings.at("pinned_f32_bytes").get<long long>() > 0);
            losses.emplace_back();
            for (const auto& record : result.lossHistory) losses.back().push_back(record.total);
            pinned.push_back(result.settings.at("pinned_f32_bytes").get<long long>());
            QVERIFY(model.impl().heldParameter(model.impl().layerParameterName(1, model.impl().spec->up)).scalar_type() ==
                    (mode == WeightMode::Stored ? torch::kBFloat16 : torch::kFloat32));  // pinning ended with the edit
        }
        QCOMPARE(losses[0].size(), size_t(4));
        QVERIFY(losses[0][3] < losses[0][0]);  // it trained
        for (size_t i = 0; i < losses[0].size(); ++i)
            QVERIFY2(std::abs(losses[0][i] - losses[1][i]) <= 1e-5 * std::abs(losses[1][i]), std::to_string(i).c_str());
        QCOMPARE(pinned[1], 0ll);  // nothing to pin in f32 mode
    }

    // The estimate knows both modes; auto picks one that fits; a refusal names the mode that would fit.
    void memoryEstimateKnowsBothModes() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const std::string directory = halfCopy("llama", "BF16");
        auto info = detox::inspectCheckpoint(directory);
        QVERIFY(info.memory.storedWeightBytes < info.memory.weightBytes);
        QCOMPARE(info.memory.storedTotalBytes, info.memory.storedWeightBytes + info.memory.activationBytes);
        QCOMPARE(loadAs(directory, WeightMode::Auto).weightMode(), WeightMode::F32);  // tiny: f32 fits
        detox::MemoryEstimate tight = info.memory;
        tight.availableBytes = (tight.storedTotalBytes + tight.totalBytes) / 2;
        QVERIFY(!tight.fitsF32() && tight.fitsStored() && tight.fits() && !tight.prefersF32());
    }

    void cudaOnCpuOnlyLibTorchFailsClearly() {
        if (torch::cuda::is_available()) QSKIP("this LibTorch has CUDA");
        LoadOptions options;
        options.device = "cuda";
        try {
            Model::load(fixture("tiny-hf/llama"), options);
            QFAIL("expected a detox::Error");
        } catch (const detox::Error& error) {
            QVERIFY2(std::string(error.what()).find("-DCMAKE_PREFIX_PATH=/path/to/libtorch") != std::string::npos, error.what());
        }
        options.device = "tpu";
        QVERIFY_THROWS_EXCEPTION(detox::Error, Model::load(fixture("tiny-hf/llama"), options));
        // The CLI fails at once with exit status 2 and the same message.
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        QProcess cli;
        cli.start(detox::test::cliPath(), {"info", "--model", QString::fromStdString(fixture("tiny-hf/llama")),
                                            "--device", "cuda"});
        QVERIFY(cli.waitForFinished(60000));
        QCOMPARE(cli.exitCode(), 2);
        QVERIFY2(cli.readAllStandardError().contains("CMAKE_PREFIX_PATH"), "message names the rebuild");
    }

    // `detox info --weights stored` and the run commands name the mode used.
    void cliNamesTheWeightMode() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const QString directory = QString::fromStdString(halfCopy("llama", "BF16"));
        QProcess cli;
        cli.start(detox::test::cliPath(), {"info", "--model", directory, "--weights", "stored"});
        QVERIFY(cli.waitForFinished(60000));
        QCOMPARE(cli.exitCode(), 0);
        auto info = nlohmann::json::parse(cli.readAllStandardOutput().toStdString());
        QCOMPARE(info["memory_estimate"]["weights"].get<std::string>(), std::string("stored"));
        QVERIFY(info["memory_estimate"]["stored_weight_bytes"].get<long long>() < info["memory_estimate"]["weight_bytes"].get<long long>());
        cli.start(detox::test::cliPath(), {"info", "--model", directory, "--weights", "bf16"});
        QVERIFY(cli.waitForFinished(60000));
        QCOMPARE(cli.exitCode(), 2);
    }
};

QTEST_GUILESS_MAIN(StoredWeightsTest)
#include "test_stored_weights.moc"
