// The model runtime against independent references: llama2.c's own greedy output and logits for the
// real stories260K model, HF transformers' logits for tiny GPT-2/Llama/Qwen2/Llama-3 checkpoints; plus
// KV cache vs full recomputation, padding, captures, editing, save/load and corrupt checkpoints.
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/runtime/model.h"
#include "fixtures.h"
#include "runtime/transformer.h"

namespace fs = std::filesystem;

namespace {

const char* const kTinyModels[] = {"gpt2", "llama", "qwen2", "llama3"};

std::string fixture(const std::string& relative) { return detox::test::fixturePath(QString::fromStdString(relative)).toStdString(); }

nlohmann::json readJson(const std::string& path) { return nlohmann::json::parse(detox::readFile(path)); }

std::vector<int> idsOf(const nlohmann::json& json) { return json.get<std::vector<int>>(); }

float maxAbsDifference(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<float>(); }

torch::Tensor logitsOf(const detox::Model& model, const std::vector<int>& ids) {
    auto output = model.forward({ids});
    return torch::from_blob(output.logits.values.data(), output.logits.shape, torch::kFloat32).clone()[0];
}

// Greedy continuation by full recomputation (no cache): argmax of the last position each step.
std::vector<int> greedyByRecomputation(const detox::Model& model, std::vector<int> ids, int steps) {
    std::vector<int> generated;
    for (int i = 0; i < steps; ++i) {
        int next = static_cast<int>(logitsOf(model, ids)[-1].argmax().item<int64_t>());
        generated.push_back(next);
        ids.push_back(next);
    }
    return generated;
}

std::vector<std::string> allModelDirs() {
    std::vector<std::string> dirs;
    for (const char* name : kTinyModels) dirs.push_back(fixture(std::string("tiny-hf/") + name));
    dirs.push_back(fixture("stories260K-hf"));
    return dirs;
}

void expectError(const std::function<void()>& body, const std::vector<std::string>& parts) {
    try {
        body();
        QFAIL("expected a detox::Error");
    } catch (const detox::Error& error) {
        std::string message = error.what();
        for (const auto& part : parts) QVERIFY2(message.find(part) != std::string::npos, message.c_str());
    }
}

// A copy of a fixture checkpoint folder that a test may break.
std::string copyCheckpoint(const std::string& source) {
    std::string target = detox::test::scratchDir().toStdString() + "/model";
    fs::create_directories(target);
    for (const auto& item : fs::directory_iterator(source))
        fs::copy_file(item.path(), fs::path(target) / item.path().filename());
    for (const auto& item : fs::directory_iterator(target))
        fs::permissions(item.path(), fs::perms::owner_write, fs::perm_options::add);
    return target;
}

}  // namespace

class ModelRuntimeTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void stories260KGreedyMatchesLlama2c() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/reference.json");
        auto reference = readJson(fixture("stories260K-hf/reference.json"))["greedy"];
        auto model = detox::Model::load(fixture("stories260K-hf"));
        std::vector<int> prompt = idsOf(reference["prompt_token_ids"]);
        std::vector<int> expected = idsOf(reference["all_token_ids"]);
        detox::GenerationSettings settings;
        settings.maxNewTokens = static_cast<int>(expected.size() - prompt.size());
        settings.stopIds = {1};  // llama2.c stops when the next token would be BOS
        auto generation = model.generate({prompt}, settings).at(0);
        std::vector<int> all = prompt;
        all.insert(all.end(), generation.outputIds.begin(), generation.outputIds.end());
        QCOMPARE(int(all.size()), int(expected.size()));
        QCOMPARE(all, expected);
    }

    void stories260KLogitsMatchLlama2c() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/reference.json");
        auto reference = readJson(fixture("stories260K-hf/reference.json"))["logits_excerpt"];
        auto model = detox::Model::load(fixture("stories260K-hf"));
        torch::Tensor logits = logitsOf(model, idsOf(reference["token_ids"])).to(torch::kFloat64);
        QCOMPARE(int(reference["positions"].size()), int(logits.size(0)));
        for (const auto& position : reference["positions"]) {
            torch::Tensor row = logits[position["pos"].get<int>()];
            auto first8 = position["first8"].get<std::vector<double>>();
            for (int i = 0; i < 8; ++i) QVERIFY(std::abs(row[i].item<double>() - first8[i]) < 1e-4);
            QCOMPARE(row.argmax().item<int64_t>(), position["argmax"].get<int64_t>());
            QVERIFY(std::abs(row.max().item<double>() - position["max"].get<double>()) < 1e-4);
            QVERIFY(std::abs(row.logsumexp(0).item<double>() - position["logsumexp"].get<double>()) < 1e-4);
        }
    }

    void tinyCheckpointsMatchTransformers_data() {
        QTest::addColumn<QString>("name");
        for (const char* name : kTinyModels) QTest::newRow(name) << QString(name);
    }
    void tinyCheckpointsMatchTransformers() {
        QFETCH(QString, name);
        const std::string dir = "tiny-hf/" + name.toStdString();
        DETOX_REQUIRE_FIXTURE(QString::fromStdString(dir + "/reference.json"));
        auto reference = readJson(fixture(dir + "/reference.json"));
        auto model = detox::Model::load(fixture(dir));
        torch::Tensor logits = logitsOf(model, idsOf(reference["token_ids"]));
        auto expectedRows = reference["logits"].get<std::vector<std::vector<float>>>();
        torch::Tensor expected = torch::empty({int64_t(expectedRows.size()), int64_t(expectedRows[0].size())});
        for (size_t i = 0; i < expectedRows.size(); ++i)
            expected[int64_t(i)] = torch::tensor(expectedRows[i]);
        QCOMPARE(logits.sizes().vec(), expected.sizes().vec());
        float difference = maxAbsDifference(logits, expected);
        QVERIFY2(difference < 1e-4, qPrintable(QString("max |difference| %1").arg(difference)));
        auto argmax = reference["argmax"].get<std::vector<int64_t>>();
        torch::Tensor ours = logits.argmax(-1);
        for (size_t i = 0; i < argmax.size(); ++i) QCOMPARE(ours[int64_t(i)].item<int64_t>(), argmax[i]);
        auto logsumexp = reference["logsumexp"].get<std::vector<double>>();
        for (size_t i = 0; i < logsumexp.size(); ++i)
            QVERIFY(std::abs(logits[int64_t(i)].logsumexp(0).item<double>() - logsumexp[i]) < 1e-4);
    }

    void kvCacheMatchesRecomputation() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        for (const auto& dir : allModelDirs()) {
            auto model = detox::Model::load(dir);
            std::vector<int> prompt = {1, 17, 42, 99, 5, 63};
            detox::GenerationSettings settings;
            settings.maxNewTokens = 10;
            settings.stopIds = {};
            auto cached = model.generate({prompt}, settings).at(0);
            int produced = static_cast<int>(cached.outputIds.size()) + (cached.stoppedAtEos ? 1 : 0);
            auto recomputed = greedyByRecomputation(model, prompt, produced);
            if (cached.stoppedAtEos) recomputed.pop_back();
            QCOMPARE(cached.outputIds, recomputed);

            // Last logits: decode step by step through the cache vs the full forward.
            const auto& impl = model.impl();
            c10::InferenceMode inference;
            std::vector<int> all = prompt;
            all.insert(all.end(), recomputed.begin(), recomputed.end());
            auto batch = detox::nn::padTokens({all}, true, 0, model.config().vocabSize);
            auto cache = impl.allocateCache(1, batch.ids.size(1));
            torch::Tensor stepLogits;
            for (int64_t t = 0; t < batch.ids.size(1); ++t) {
                torch::Tensor mask = batch.mask.narrow(1, 0, t + 1);
                auto attention = impl.attentionInputs(mask, 1);
                torch::Tensor hidden = impl.runLayers(impl.embed(batch.ids.narrow(1, t, 1), attention.positions), 0,
                                                      model.config().numLayers, attention, nullptr, &cache);
                stepLogits = impl.logitLens(hidden)[0][0];
            }
            torch::Tensor full = logitsOf(model, all)[-1];
            QVERIFY2(maxAbsDifference(stepLogits, full) < 1e-4, dir.c_str());
        }
    }

    void paddedBatchesMatchSingleRuns() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        for (const auto& dir : allModelDirs()) {
            auto model = detox::Model::load(dir);
            std::vector<std::vector<int>> prompts = {{1, 5, 9}, {1, 30, 31, 32, 33, 34, 35}, {7}};
            detox::GenerationSettings settings;
            settings.maxNewTokens = 6;
            auto batched = model.generate(prompts, settings);
            // Forward with right padding: real positions equal the unpadded runs.
            auto forward = model.forward(prompts);
            for (size_t b = 0; b < prompts.size(); ++b) {
                auto single = model.generate({prompts[b]}, settings).at(0);
                QCOMPARE(batched[b].outputIds, single.outputIds);
                QCOMPARE(batched[b].stoppedAtEos, single.stoppedAtEos);
                torch::Tensor alone = logitsOf(model, prompts[b]);
                torch::Tensor padded = torch::from_blob(forward.logits.values.data(), forward.logits.shape)[int64_t(b)]
                                           .narrow(0, 0, int64_t(prompts[b].size()));
                QVERIFY2(maxAbsDifference(alone, padded) < 1e-4, dir.c_str());
            }
            QCOMPARE(forward.lengths, std::vector<int>({3, 7, 1}));
        }
    }

    void samplingIsDeterministicForASeed() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/config.json");
        auto model = detox::Model::load(fixture("stories260K-hf"));
        detox::GenerationSettings settings;
        settings.maxNewTokens = 20;
        settings.temperature = 1.0;
        settings.topP = 0.9;
        settings.seed = 7;
        auto first = model.generate({{1, 403}}, settings).at(0);
        auto second = model.generate({{1, 403}}, settings).at(0);
        QCOMPARE(first.outputIds, second.outputIds);
        settings.seed = 8;
        auto other = model.generate({{1, 403}}, settings).at(0);
        QVERIFY(first.outputIds != other.outputIds);
        // top_p close to 0 keeps only the most likely token: sampling becomes greedy.
        settings.topP = 1e-6;
        detox::GenerationSettings greedy;
        greedy.maxNewTokens = 20;
        QCOMPARE(model.generate({{1, 403}}, settings).at(0).outputIds, model.generate({{1, 403}}, greedy).at(0).outputIds);
    }

    void capturesAgreeWithLogits() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/gpt2/config.json");
        for (const auto& dir : allModelDirs()) {
            auto model = detox::Model::load(dir);
            const auto& config = model.config();
            detox::CaptureRequest request;
            request.points = detox::allCaptures();
            auto output = model.forward({{3, 4, 5, 6}, {7, 8}}, request);
            QCOMPARE(int(output.captures.size()), 7 * config.numLayers);
            const int last = config.numLayers - 1;
            auto lens = model.logitLens(output.captures.at(detox::captureKey(detox::Capture::ResidPost, last)));
            QCOMPARE(lens.shape, output.logits.shape);
            float worst = 0;
            for (size_t i = 0; i < lens.values.size(); ++i)
                worst = std::max(worst, std::abs(lens.values[i] - output.logits.values[i]));
            QVERIFY(worst < 1e-5);
            QCOMPARE(output.captures.at("mlp_act.0").shape, std::vector<int64_t>({2, 4, config.intermediateSize}));
            QCOMPARE(output.captures.at("attn_pattern.0").shape, std::vector<int64_t>({2, config.numHeads, 4, 4}));
            // resid_mid = resid_pre + attn_out; resid_post = resid_mid + mlp_out.
            const auto& pre = output.captures.at("resid_pre.0").values;
            const auto& attn = output.captures.at("attn_out.0").values;
            const auto& mid = output.captures.at("resid_mid.0").values;
            for (size_t i = 0; i < pre.size(); ++i) QVERIFY(std::abs(pre[i] + attn[i] - mid[i]) < 1e-5);
            // Attention rows sum to one; nothing attends to the future.
            QVERIFY(std::abs(output.captures.at("attn_pattern.0").at({0, 0, 1, 0}) +
                             output.captures.at("attn_pattern.0").at({0, 0, 1, 1}) - 1.0f) < 1e-5);
            QCOMPARE(output.captures.at("attn_pattern.0").at({0, 0, 1, 2}), 0.0f);

            detox::CaptureRequest some;
            some.points = {detox::Capture::MlpAct};
            some.layers = {last};
            some.lastPositionLogitsOnly = true;
            auto selected = model.forward({{3, 4, 5, 6}, {7, 8}}, some);
            QCOMPARE(int(selected.captures.size()), 1);
            QVERIFY(selected.captures.count(detox::captureKey(detox::Capture::MlpAct, last)));
            QCOMPARE(selected.logits.shape, std::vector<int64_t>({2, 1, config.vocabSize}));
            QVERIFY(std::abs(selected.logits.at({1, 0, 3}) - output.logits.at({1, 1, 3})) < 1e-5);
            QVERIFY(model.forward({{3, 4}}).captures.empty());
        }
    }

    void layerPiecesComposeAndTrain() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/qwen2/config.json");
        auto model = detox::Model::load(fixture("tiny-hf/qwen2"));
        auto& impl = model.impl();
        auto batch = detox::nn::padTokens({{1, 2, 3, 4, 5}}, false, 0, model.config().vocabSize);
        auto attention = impl.attentionInputs(batch.mask, batch.ids.size(1));
        torch::Tensor full = impl.forwardLogits(batch);
        // Split at layer 1: cache the hidden state entering it, then run only from there.
        torch::Tensor entering;
        {
            torch::NoGradGuard noGrad;
            entering = impl.runLayers(impl.embed(batch.ids, attention.positions), 0, 1, attention);
        }
        torch::Tensor mid = entering + impl.attentionBlock(1, entering, attention);
        torch::Tensor activation = impl.mlpActivation(1, mid).detach();  // fixed while down_proj is edited
        const std::string down = impl.mlpDownWeightName(1);
        QCOMPARE(down, std::string("model.layers.1.mlp.down_proj.weight"));
        auto before = impl.snapshot({down});
        impl.setRequiresGrad({down}, true);
        torch::Tensor logits = impl.logitLens(mid + impl.mlpDown(1, activation));
        QVERIFY(maxAbsDifference(logits.detach(), full.detach()) < 1e-5);
        logits[0][-1][7].backward();
        torch::Tensor gradient = impl.parameter(down).grad();
        QVERIFY(gradient.defined());
        QVERIFY(gradient.abs().sum().item<float>() > 0);
        {
            torch::NoGradGuard noGrad;
            impl.editableParameter(down).sub_(gradient * 10);
        }
        impl.setRequiresGrad({down}, false);
        QVERIFY(maxAbsDifference(impl.forwardLogits(batch).detach(), full.detach()) > 1e-3);
        impl.restore(before);
        QCOMPARE(maxAbsDifference(impl.forwardLogits(batch).detach(), full.detach()), 0.0f);
        QVERIFY(!impl.slot(down).edited);
    }

    // The content hash covers the weights, not only config and layout: two checkpoints that differ in one
    // weight bit (same shapes, dtypes and offsets) hash differently; the same bytes hash the same.
    void contentHashCoversTheWeights() {
        const std::string source = detox::test::sourcePath("resources/demo-model").toStdString();
        const std::string copy = copyCheckpoint(source);
        const std::string original = detox::Model::load(source).contentHash();
        QCOMPARE(detox::Model::load(copy).contentHash(), original);
        // Flip the lowest mantissa bit of the first stored value (little-endian: its first byte).
        std::fstream file(copy + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
        uint64_t headerBytes = 0;
        file.read(reinterpret_cast<char*>(&headerBytes), 8);
        file.seekg(std::streamoff(8 + headerBytes));
        char first = 0;
        file.read(&first, 1);
        first ^= 1;
        file.seekp(std::streamoff(8 + headerBytes));
        file.write(&first, 1);
        file.close();
        detox::Model changed = detox::Model::load(copy);
        QVERIFY(changed.contentHash() != original);
        detox::LoadOptions stored;
        stored.weights = detox::WeightMode::Stored;
        QCOMPARE(detox::Model::load(copy, stored).contentHash(), changed.contentHash());  // not the mode's
    }

    void parametersByHfName() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/gpt2/config.json");
        auto model = detox::Model::load(fixture("tiny-hf/gpt2"));
        QCOMPARE(int(model.parameterNames().size()), 28);
        auto proj = model.parameter("transformer.h.0.mlp.c_proj.weight");
        QCOMPARE(proj.shape, std::vector<int64_t>({256, 64}));  // HF Conv1D layout [in, out]
        std::string hashBefore = model.contentHash();
        proj.values[0] += 1.0f;
        model.setParameter("transformer.h.0.mlp.c_proj.weight", proj);
        QCOMPARE(model.parameter("transformer.h.0.mlp.c_proj.weight").values[0], proj.values[0]);
        QVERIFY(model.contentHash() != hashBefore);
        proj.shape = {64, 256};
        expectError([&] { model.setParameter("transformer.h.0.mlp.c_proj.weight", proj); }, {"c_proj.weight", "shape"});
        expectError([&] { model.parameter("lm_head.weight"); }, {"lm_head.weight", "tied"});
        // The source file is untouched by the edit.
        auto reloaded = detox::Model::load(fixture("tiny-hf/gpt2"));
        QVERIFY(reloaded.parameter("transformer.h.0.mlp.c_proj.weight").values[0] != proj.values[0]);
        QCOMPARE(reloaded.contentHash(), hashBefore);
    }

    void saveReloadsBitExactly() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/gpt2/config.json");
        for (const auto& dir : allModelDirs()) {
            auto model = detox::Model::load(dir);
            std::string target = detox::test::scratchDir().toStdString() + "/saved";
            model.save(target);
            auto reloaded = detox::Model::load(target);
            QCOMPARE(reloaded.parameterNames(), model.parameterNames());
            for (const auto& name : model.parameterNames())
                QVERIFY2(torch::equal(reloaded.impl().parameter(name), model.impl().parameter(name)), name.c_str());
            // Same tensor names and dtypes as the source file; tied checkpoints keep no lm_head.
            auto original = detox::readSafetensorsHeader(dir + "/model.safetensors");
            auto saved = detox::readSafetensorsHeader(target + "/model.safetensors");
            QCOMPARE(saved.tensors.size(), original.tensors.size());
            for (size_t i = 0; i < saved.tensors.size(); ++i) {
                QCOMPARE(saved.tensors[i].name, original.tensors[i].name);
                QCOMPARE(saved.tensors[i].dtype, original.tensors[i].dtype);
            }
            QCOMPARE(detox::readFile(target + "/config.json"), detox::readFile(dir + "/config.json"));
            // Saving again into our own earlier save is allowed; into the source is not.
            reloaded.save(detox::test::scratchDir().toStdString() + "/again");
            model.save(target);
            expectError([&] { reloaded.save(target); }, {"source directory"});
        }
    }

    void saveKeepsHalfPrecisionBitExact() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        // A checkpoint stored in BF16 and F16 (alternating), written with our writer.
        std::string source = detox::test::scratchDir().toStdString() + "/half";
        fs::create_directories(source);
        fs::copy_file(fixture("tiny-hf/llama/config.json"), source + "/config.json");
        auto file = detox::nn::SafetensorsFile::open(fixture("tiny-hf/llama/model.safetensors"));
        std::vector<detox::nn::TensorToWrite> tensors;
        int index = 0;
        for (const auto& entry : file.header().tensors)
            tensors.push_back({entry.name, file.readAsFloat(entry), index++ % 2 ? "F16" : "BF16"});
        detox::nn::writeSafetensors(source + "/model.safetensors", tensors);
        auto model = detox::Model::load(source);
        QCOMPARE(model.config().storedDtype, std::string("mixed"));
        std::string target = detox::test::scratchDir().toStdString() + "/saved";
        model.save(target);
        auto original = detox::nn::SafetensorsFile::open(source + "/model.safetensors");
        auto saved = detox::nn::SafetensorsFile::open(target + "/model.safetensors");
        for (const auto& entry : original.header().tensors) {
            const auto* copy = saved.find(entry.name);
            QVERIFY(copy);
            QCOMPARE(copy->dtype, entry.dtype);
            QVERIFY2(torch::equal(saved.readRaw(*copy), original.readRaw(entry)), entry.name.c_str());
        }
        // Computing in float32 from half-precision weights = the float32 model with those weights rounded.
        auto rounded = detox::Model::load(fixture("tiny-hf/llama"));
        for (const auto& entry : original.header().tensors) {
            torch::Tensor value = rounded.impl().parameter(entry.name);
            rounded.impl().replaceParameter(entry.name, value.to(detox::nn::scalarTypeOf(entry.dtype)).to(torch::kFloat32));
        }
        QVERIFY(maxAbsDifference(logitsOf(model, {1, 2, 3}), logitsOf(rounded, {1, 2, 3})) < 1e-5);
    }

    void saveRefusesForeignFolders() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        auto model = detox::Model::load(fixture("tiny-hf/llama"));
        std::string foreign = detox::test::scratchDir().toStdString();
        detox::writeFileAtomically(foreign + "/notes.txt", "mine");
        expectError([&] { model.save(foreign); }, {"not empty"});
        expectError([&] { model.save(fixture("tiny-hf/llama")); }, {"source directory"});
    }

    void corruptCheckpointsAreRejected() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama/config.json");
        const std::string source = fixture("tiny-hf/llama");
        auto file = detox::nn::SafetensorsFile::open(source + "/model.safetensors");
        auto rewrite = [&](const std::string& dir, const std::function<void(std::vector<detox::nn::TensorToWrite>&)>& change) {
            std::vector<detox::nn::TensorToWrite> tensors;
            for (const auto& entry : file.header().tensors) tensors.push_back({entry.name, file.readAsFloat(entry), "F32"});
            change(tensors);
            detox::nn::writeSafetensors(dir + "/model.safetensors", tensors);
        };
        {  // missing tensor
            auto dir = copyCheckpoint(source);
            rewrite(dir, [](auto& tensors) { tensors.erase(tensors.begin() + 3); });
            expectError([&] { detox::Model::load(dir); }, {"model.safetensors", "model.layers.0.mlp.down_proj.weight", "missing"});
        }
        {  // wrong shape
            auto dir = copyCheckpoint(source);
            rewrite(dir, [](auto& tensors) { tensors[1].value = torch::zeros({256, 32}); });
            expectError([&] { detox::Model::load(dir); }, {"model.safetensors", "model.embed_tokens.weight", "shape"});
        }
        {  // an unexpected extra tensor
            auto dir = copyCheckpoint(source);
            rewrite(dir, [](auto& tensors) { tensors.push_back({"model.extra.weight", torch::zeros({2}), "F32"}); });
            expectError([&] { detox::Model::load(dir); }, {"model.extra.weight"});
        }
        {  // truncated weights
            auto dir = copyCheckpoint(source);
            fs::resize_file(dir + "/model.safetensors", fs::file_size(dir + "/model.safetensors") - 100);
            expectError([&] { detox::Model::load(dir); }, {"model.safetensors", "truncated"});
        }
        {  // unknown architecture
            auto dir = copyCheckpoint(source);
            auto config = readJson(dir + "/config.json");
            config["architectures"] = {"FalconForCausalLM"};
            detox::writeFileAtomically(dir + "/config.json", config.dump());
            expectError([&] { detox::Model::load(dir); },
                        {"config.json", "FalconForCausalLM", "GPT2LMHeadModel", "LlamaForCausalLM", "Qwen2ForCausalLM"});
        }
        {  // invalid config.json
            auto dir = copyCheckpoint(source);
            detox::writeFileAtomically(dir + "/config.json", "{\"model_type\": \"llama\", ");
            expectError([&] { detox::Model::load(dir); }, {"config.json", "not valid JSON"});
            detox::writeFileAtomically(dir + "/config.json", R"({"model_type": "llama", "vocab_size": 256, "hidden_size": "64"})");
            expectError([&] { detox::Model::load(dir); }, {"config.json", "hidden_size"});
        }
        {  // no weights at all
            auto dir = copyCheckpoint(source);
            fs::remove(dir + "/model.safetensors");
            expectError([&] { detox::Model::load(dir); }, {"model.safetensors"});
        }
    }

    void configReadsEveryFamily() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/llama3/config.json");
        auto llama3 = detox::readModelConfig(fixture("tiny-hf/llama3"));
        QCOMPARE(llama3.architecture, std::string("llama"));
        QCOMPARE(llama3.headDim, 32);
        QCOMPARE(llama3.numKvHeads, 1);
        QCOMPARE(llama3.ropeScalingType, std::string("llama3"));
        QCOMPARE(llama3.ropeOriginalMaxPositions, 32);
        QCOMPARE(llama3.eosIds, std::vector<int>({2}));
        auto qwen = detox::readModelConfig(fixture("tiny-hf/qwen2"));
        QVERIFY(qwen.attentionBias && !qwen.outputBias && qwen.tiedEmbeddings);
        QCOMPARE(qwen.slidingWindow, 0);  // use_sliding_window: false
        auto gpt2 = detox::readModelConfig(fixture("tiny-hf/gpt2"));
        QCOMPARE(gpt2.hfArchitecture, std::string("GPT2LMHeadModel"));
        QCOMPARE(gpt2.intermediateSize, 256);  // n_inner null -> 4 * n_embd
        QVERIFY(gpt2.tiedEmbeddings);
        auto info = detox::inspectCheckpoint(fixture("tiny-hf/gpt2"));
        QCOMPARE(info.config.storedDtype, std::string("F32"));
        QVERIFY(info.memory.weightBytes == info.parameterCount * 4);
        auto model = detox::Model::load(fixture("tiny-hf/gpt2"));
        QCOMPARE(model.parameterCount(), info.parameterCount);
    }
};

QTEST_GUILESS_MAIN(ModelRuntimeTest)
#include "test_model_runtime.moc"
