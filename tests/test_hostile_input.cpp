// Hostile input (issue 16): every reproducer of the campaign, against the real `detox` binary where the
// user meets it (exit 2, one line naming the file, field or option; never a backtrace, json exception
// text or "filesystem error") and against core where a test in-process is cheaper.
#include <QtTest>
#include <filesystem>
#include <limits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/checkpoint/save_folder.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/hash.h"
#include "detox/methods/methods.h"
#include "detox/runtime/finite.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox/tokenizer/tokenizer.h"
#include "fixtures.h"
#include "runtime/finite_scan.h"
#include "methods/method_training.h"
#include "tiny_model.h"

namespace {

namespace fs = std::filesystem;
using detox::test::CliRun;
using detox::test::runCli;

nlohmann::json readJson(const std::string& path) { return nlohmann::json::parse(detox::readFile(path)); }
void writeJson(const std::string& path, const nlohmann::json& json) { std::ofstream(path) << json.dump(2); }

// A copy of the shipped demo model (3.5 MB) in a fresh scratch folder, config.json edited by `edit`.
template <typename Edit>
std::string demoCopy(Edit edit, const std::string& file = "config.json") {
    const std::string dir = detox::test::scratchDir().toStdString() + "/model";
    fs::copy(detox::test::sourcePath("resources/demo-model").toStdString(), dir, fs::copy_options::recursive);
    fs::remove(fs::path(dir) / "detox_save.json");
    nlohmann::json json = readJson(dir + "/" + file);
    edit(json);
    writeJson(dir + "/" + file, json);
    return dir;
}
std::string demoCopy() {
    return demoCopy([](nlohmann::json&) {});
}

// The detox::Error message of `action`, or "" when it succeeded (any other exception fails the test).
template <typename Action>
QString errorOf(Action action) {
    try {
        action();
    } catch (const detox::Error& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

QString q(const std::string& text) { return QString::fromStdString(text); }

// Entries of `folder` whose name starts with `prefix`.
int countEntries(const std::string& folder, const std::string& prefix) {
    int count = 0;
    for (const auto& entry : fs::directory_iterator(folder)) count += entry.path().filename().string().rfind(prefix, 0) == 0;
    return count;
}

// A process id that is certainly gone (a child that has exited and been reaped).
pid_t deadPid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ::waitpid(child, nullptr, 0);
    return child;
}

// A saved tiny Llama whose tensor `name` (F32) holds +Inf in its first value, written into the file's bytes.
std::string checkpointWithInfinity(const std::string& name) {
    const std::string dir = detox::test::scratchDir().toStdString() + "/inf-model";
    detox::test::writeTinyLlama(dir, 9);
    const std::string path = dir + "/model.safetensors";
    const detox::SafetensorsHeader header = detox::readSafetensorsHeader(path);
    for (const auto& entry : header.tensors) {
        if (entry.name != name) continue;
        const float infinity = std::numeric_limits<float>::infinity();
        std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(std::streamoff(8 + header.headerBytes + entry.dataBegin));
        file.write(reinterpret_cast<const char*>(&infinity), sizeof infinity);
    }
    return dir;
}

// Exit 2 and one line on stderr containing every fragment; nothing a user should not see.
void expectBadInput(const CliRun& run, const QStringList& fragments) {
    QVERIFY2(run.exitCode == 2, qPrintable(QString("exit %1: %2").arg(run.exitCode).arg(run.err)));
    const QString message = run.err.trimmed();
    QVERIFY2(!message.isEmpty() && !message.contains('\n'), qPrintable(run.err));
    for (const auto& fragment : fragments) QVERIFY2(message.contains(fragment), qPrintable(message));
    for (const char* leak : {"json.exception", "type_error", "frame #", "Exception raised from", "filesystem error",
                             "bad_alloc"})
        QVERIFY2(!message.contains(leak), qPrintable(message));
}

}  // namespace

class HostileInputTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // ---- numbers in config.json, checked against the tensors before anything is allocated ----

    void aMillionLayersFailsFastNamingTheField() {
        const int layers = readJson(demoCopy() + "/config.json")["num_hidden_layers"].get<int>();
        const std::string dir = demoCopy([](nlohmann::json& c) { c["num_hidden_layers"] = 1000000; });
        const QString message = errorOf([&] { detox::Model::load(dir); });
        QVERIFY2(message.contains("num_hidden_layers") && message.contains("1000000") &&
                     message.contains(QString("%1 layer(s)").arg(layers)), qPrintable(message));
        // detox info no longer says it fits: it refuses, naming the field.
        expectBadInput(runCli({"info", "--model", q(dir)}, 60000), {"config.json", "num_hidden_layers"});
        // 5e7 ended in std::bad_alloc: now refused as a number before the tensors are even looked at.
        const std::string huge = demoCopy([](nlohmann::json& c) { c["num_hidden_layers"] = 50000000; });
        expectBadInput(runCli({"info", "--model", q(huge)}, 60000), {"num_hidden_layers", "50000000"});
    }

    void tooFewLayersIsNamedToo() {
        const std::string dir = demoCopy([](nlohmann::json& c) { c["num_hidden_layers"] = 3; });
        const QString message = errorOf([&] { detox::inspectCheckpoint(dir); });
        QVERIFY2(message.contains("num_hidden_layers") && message.contains("more layers"), qPrintable(message));
    }

    void headDimMustMatchTheProjections() {
        // 2^31 - 2 is refused as a number; twice the real head_dim is refused against q_proj's rows.
        const std::string huge = demoCopy([](nlohmann::json& c) { c["head_dim"] = 2147483646; });
        expectBadInput(runCli({"info", "--model", q(huge)}, 60000), {"head_dim", "2147483646"});
        const nlohmann::json config = readJson(demoCopy() + "/config.json");
        const int hidden = config["hidden_size"].get<int>();
        const std::string wide = demoCopy([&](nlohmann::json& c) {
            c["head_dim"] = 2 * hidden / c["num_attention_heads"].get<int>();
        });
        const QString message = errorOf([&] { detox::Model::load(wide); });
        const QString qProjShape = QString("[%1, %1]").arg(hidden);
        QVERIFY2(message.contains("head_dim") && message.contains("q_proj") && message.contains(qProjShape),
                 qPrintable(message));
        const std::string kv = demoCopy([](nlohmann::json& c) { c["num_key_value_heads"] = 4; });
        QVERIFY2(errorOf([&] { detox::Model::load(kv); }).contains("num_key_value_heads"), "kv heads");
    }

    void vocabularyMustMatchTheEmbeddingAndTokenizer() {
        const std::string larger = demoCopy([](nlohmann::json& c) { c["vocab_size"] = 2048; });
        QString message = errorOf([&] { detox::Model::load(larger); });
        QVERIFY2(message.contains("vocab_size") && message.contains("embed_tokens"), qPrintable(message));
        // The embedding agrees with vocab_size but the tokenizer holds ids beyond it.
        const std::string dir = detox::test::scratchDir().toStdString() + "/tiny";
        detox::test::writeTinyLlama(dir, 3);
        nlohmann::json tokenizer = readJson(dir + "/tokenizer.json");
        tokenizer["added_tokens"].push_back({{"id", 300}, {"content", "<|extra|>"}, {"special", true}});
        writeJson(dir + "/tokenizer.json", tokenizer);
        message = errorOf([&] { detox::Model::load(dir); });
        QVERIFY2(message.contains("tokenizer.json") && message.contains("up to 300") && message.contains("260"),
                 qPrintable(message));
    }

    void tokenIdsDoNotWrap() {
        // 2^40 used to become 0 (an eos that stops every generation at once).
        const std::string wrap = demoCopy([](nlohmann::json& c) { c["eos_token_id"] = 1099511627776ull; });
        expectBadInput(runCli({"info", "--model", q(wrap)}, 60000), {"eos_token_id", "1099511627776"});
        const std::string outside = demoCopy([](nlohmann::json& c) { c["pad_token_id"] = 1024; });
        QString message = errorOf([&] { detox::readModelConfig(outside); });
        QVERIFY2(message.contains("pad_token_id") && message.contains("outside the vocabulary"), qPrintable(message));
        const std::string negative = demoCopy([](nlohmann::json& c) { c["bos_token_id"] = -3; });
        QVERIFY(errorOf([&] { detox::readModelConfig(negative); }).contains("bos_token_id"));
    }

    // Found by tests/fuzz (fuzz_config): rope_theta 1e308 passed the reader and overflowed LibTorch's float
    // rotary table (a c10::Error, exit 1).
    void floatKeysAreRangeChecked() {
        for (const auto& [key, value] : std::vector<std::pair<std::string, double>>{
                 {"rope_theta", 1e308}, {"rms_norm_eps", 2.0}, {"rope_theta", -1.0}}) {
            const std::string dir = demoCopy([&](nlohmann::json& c) { c[key] = value; });
            const QString message = errorOf([&] { detox::Model::load(dir); });
            QVERIFY2(message.contains(q(key)) && message.contains("expected a positive number up to"), qPrintable(message));
        }
    }

    // Found by tests/fuzz: a number beyond double (1e1000) is nlohmann's out_of_range, not a parse_error;
    // the tokenizer and SafeEdit readers let it through (exit 1). And text that closes a bracket before
    // opening one, then holds invalid UTF-8, crashed the SafeEdit error locator (negative depth).
    void hugeNumbersAndStrayBracketsAreClearErrors() {
        const std::string dir = detox::test::scratchDir().toStdString();
        std::ofstream(dir + "/tokenizer.json") << R"({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 1e1000}}})";
        QVERIFY(errorOf([&] { detox::Tokenizer::fromFiles(dir + "/tokenizer.json"); }).contains("tokenizer.json"));
        QVERIFY(errorOf([] { detox::parseSafeEdit("[{\"id\": 1e1000}]", "huge.json"); }).contains("huge.json"));
        QVERIFY(errorOf([] { detox::parseSafeEdit("]]}}{\xff", "stray.json"); }).contains("invalid UTF-8"));
    }

    void hiddenActOfTheWrongTypeIsAClearError() {
        const std::string dir = demoCopy([](nlohmann::json& c) { c["hidden_act"] = 5; });
        expectBadInput(runCli({"info", "--model", q(dir)}, 60000), {"config.json", "hidden_act", "expected a string"});
        const std::string layers = demoCopy([](nlohmann::json& c) { c["num_hidden_layers"] = 18446744073709551615ull; });
        QVERIFY(errorOf([&] { detox::readModelConfig(layers); }).contains("num_hidden_layers"));
    }

    // ---- tokenizer.json / tokenizer_config.json ids ----

    void addedTokenIdsDoNotWrap() {
        const std::string dir = detox::test::scratchDir().toStdString();
        detox::test::writeByteLevelTokenizer(dir);
        nlohmann::json tokenizer = readJson(dir + "/tokenizer.json");
        tokenizer["added_tokens"][0]["id"] = 4294967552ull;  // 2^32 + 256: wrapped to 256 before
        writeJson(dir + "/tokenizer.json", tokenizer);
        QString message = errorOf([&] { detox::Tokenizer::fromDirectory(dir); });
        QVERIFY2(message.contains("added_tokens") && message.contains("4294967552"), qPrintable(message));

        detox::test::writeByteLevelTokenizer(dir);
        writeJson(dir + "/tokenizer_config.json",
                  {{"eos_token", "<|endoftext|>"}, {"added_tokens_decoder", {{"-4", {{"content", "<neg>"}}}}}});
        message = errorOf([&] { detox::Tokenizer::fromDirectory(dir); });
        QVERIFY2(message.contains("added_tokens_decoder") && message.contains("-4"), qPrintable(message));
        writeJson(dir + "/tokenizer_config.json",
                  {{"eos_token", "<|endoftext|>"}, {"added_tokens_decoder", {{"7abc", {{"content", "<x>"}}}}}});
        QVERIFY(errorOf([&] { detox::Tokenizer::fromDirectory(dir); }).contains("7abc"));
    }

    // ---- SafeEdit ids, empty datasets ----

    void safeEditIdsDoNotWrap() {
        nlohmann::json records = readJson(detox::demoDatasetPath("test"));
        records = nlohmann::json::array({records[0], records[1]});
        records[1]["id"] = 18446744073709551615ull;  // became -1 before
        const std::string path = detox::test::scratchDir().toStdString() + "/wrap.json";
        writeJson(path, records);
        expectBadInput(runCli({"data", "--data", q(path)}, 60000), {"wrap.json", "id"});
        const QString message = errorOf([&] { detox::loadSafeEdit(path); });
        QVERIFY2(message.contains("18446744073709551615"), qPrintable(message));
    }

    void anEmptyDatasetIsRefused() {
        const std::string path = detox::test::scratchDir().toStdString() + "/empty.json";
        std::ofstream(path) << "[]";
        expectBadInput(runCli({"data", "--data", q(path)}, 60000), {"empty.json", "no records"});
        const std::string model = demoCopy();
        expectBadInput(runCli({"evaluate", "--model", q(model), "--data", q(path), "--out",
                               q(detox::test::scratchDir().toStdString() + "/e.json")}, 120000),
                       {"empty.json", "no records"});
    }

    // ---- lengths bounded by the context and by memory ----

    void aPromptLongerThanTheContextIsRefused() {
        const std::string model = demoCopy();
        detox::Model loaded = detox::Model::load(model);
        const int positions = loaded.config().maxPositions;
        QString prompt;
        for (int i = 0; i < 2 * positions; ++i) prompt += "word ";  // at least a token a word: past the context
        const CliRun run = runCli({"generate", "--model", q(model), "--prompt", prompt, "--max-new-tokens", "2"}, 120000);
        expectBadInput(run, {"prompt", QString("context of %1 positions").arg(positions), "max_position_embeddings"});
        // In core: a forward pass over more positions than the context is refused before it allocates.
        const QString message = errorOf([&] { loaded.forward({std::vector<int>(10000, 5)}); });
        QVERIFY2(message.contains("10000 tokens") && message.contains(QString::number(positions)), qPrintable(message));
    }

    // detox info said a 1e6-layer model "fits": its estimate counted only the weight files. It now also
    // counts one run's KV cache and activations for the requested lengths, and says what generate would refuse.
    void infoEstimatesTheRunForTheRequestedLengths() {
        const std::string dir = demoCopy();
        const CliRun run = runCli({"info", "--model", q(dir), "--max-new-tokens", "16", "--max-input-tokens", "32",
                                   "--batch-size", "2"}, 60000);
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const nlohmann::json info = nlohmann::json::parse(run.out.toStdString());
        const nlohmann::json& config = info["config"];
        const nlohmann::json& estimate = info["memory_estimate"]["run"];
        // K and V of every layer for 2 x (32 + 16) positions, float32.
        const long long kvCache = 2ll * config["num_layers"].get<long long>() * 2 * config["num_kv_heads"].get<long long>() *
                                  config["head_dim"].get<long long>() * 48 * 4;
        QCOMPARE(estimate["kv_cache_bytes"].get<long long>(), kvCache);
        QVERIFY(estimate["activation_bytes"].get<long long>() > 0);
        QCOMPARE(estimate["total_bytes"].get<long long>(), info["memory_estimate"]["weight_bytes"].get<long long>() +
                                                                kvCache + estimate["activation_bytes"].get<long long>());
        QVERIFY(estimate["refusal"].is_null());
        // A prompt past the context, and a run far past memory, are named as generate would name them.
        const std::string tooLong = std::to_string(config["max_positions"].get<int>() + 1);
        const CliRun longer = runCli({"info", "--model", q(dir), "--max-input-tokens", q(tooLong)}, 60000);
        const nlohmann::json refusal = nlohmann::json::parse(longer.out.toStdString())["memory_estimate"]["run"]["refusal"];
        QVERIFY2(refusal.is_string() && refusal.get<std::string>().find("context") != std::string::npos, longer.out.toUtf8());
        const CliRun huge = runCli({"info", "--model", q(dir), "--max-new-tokens", "65536", "--max-input-tokens", "100",
                                    "--batch-size", "4096"}, 60000);
        const nlohmann::json hugeRun = nlohmann::json::parse(huge.out.toStdString())["memory_estimate"]["run"];
        QVERIFY2(!hugeRun["fits_f32"].get<bool>() && !hugeRun["fits_stored"].get<bool>(), huge.out.toUtf8());
    }

    void absurdGenerationLengthsAreRefused() {
        const std::string model = demoCopy();
        expectBadInput(runCli({"generate", "--model", q(model), "--prompt", "hi", "--max-new-tokens", "2147483647"}),
                       {"--max-new-tokens", "2147483647"});
        expectBadInput(runCli({"generate", "--model", q(model), "--prompt", "hi", "--max-new-tokens", "99999999999"}),
                       {"--max-new-tokens", "32 bits"});
        // In core: refused before the KV cache is allocated (by the context here; by the memory estimate for a
        // model whose context would allow it).
        detox::Model loaded = detox::Model::load(model);
        detox::GenerationSettings settings;
        settings.maxNewTokens = 2147483000;
        const QString message = errorOf([&] { loaded.generate({{1, 2, 3}}, settings); });
        QVERIFY2(message.contains("max_new_tokens") && message.contains("2147483000"), qPrintable(message));
        QVERIFY(detox::runMemoryBytes(loaded.config(), 1, 10, 2147483000, false) > (1ll << 40));
        // A rotary (non-GPT-2) model is bounded by its context too: one token past it is refused, by name.
        QVERIFY(loaded.config().architecture != "gpt2");
        const int context = loaded.config().maxPositions;
        const std::vector<int> prompt = {1, 2, 3};
        settings.maxNewTokens = context - int(prompt.size()) + 2;
        const QString pastContext = errorOf([&] { loaded.generate({prompt}, settings); });
        QVERIFY2(pastContext.contains("max_new_tokens") && pastContext.contains(QString::number(context)),
                 qPrintable(pastContext));
        const CliRun cli = runCli({"generate", "--model", q(model), "--prompt", "hi", "--max-new-tokens",
                                   QString::number(context + 1)});
        expectBadInput(cli, {"max_new_tokens", QString::number(context)});
    }

    // ---- options ----

    void optionsAreRangeChecked() {
        const std::string model = demoCopy();
        const QString data = detox::test::sourcePath("datasets/demo/safeedit_demo_test.json");
        const QStringList edit = {"edit", "--model", q(model), "--data", data, "--id", "0", "--method", "dinm"};
        expectBadInput(runCli(QStringList(edit) << "--lr" << "inf"), {"--lr", "finite", "inf"});
        expectBadInput(runCli(QStringList(edit) << "--lr" << "nan"), {"--lr", "nan"});
        expectBadInput(runCli(QStringList(edit) << "--lr" << "0"), {"--lr", "(0, 1000]"});
        expectBadInput(runCli(QStringList(edit) << "--steps" << "-5"), {"--steps", "-5"});
        const QStringList generate = {"generate", "--model", q(model), "--prompt", "hi"};
        expectBadInput(runCli(QStringList(generate) << "--temperature" << "nan"), {"--temperature", "nan"});
        expectBadInput(runCli(QStringList(generate) << "--temperature" << "-1"), {"--temperature", "-1"});
        expectBadInput(runCli(QStringList(generate) << "--top-p" << "nan"), {"--top-p", "nan"});
        expectBadInput(runCli(QStringList(generate) << "--top-p" << "1.5"), {"--top-p", "(0, 1]"});
        expectBadInput(runCli(QStringList(generate) << "--max-new-tokens" << "0"), {"--max-new-tokens"});
        expectBadInput(runCli(QStringList(generate) << "--seed" << "-1"), {"--seed"});
        expectBadInput(runCli({"evaluate", "--model", q(model), "--demo", "--batch-size", "0", "--out", "x.json"}),
                       {"--batch-size"});
        // A valid option still works (the checks are not over-eager).
        const CliRun ok = runCli(QStringList(generate) << "--max-new-tokens" << "2" << "--top-p" << "1");
        QVERIFY2(ok.exitCode == 0, qPrintable(ok.err));
    }

    void mergeChecksPositions() {
        const std::string dir = detox::test::scratchDir().toStdString();
        const std::string model = dir + "/model";
        detox::test::writeTinyLlama(model, 5);
        QStringList shards;
        for (int i = 1; i <= 2; ++i) {
            const QString out = q(dir + "/shard" + std::to_string(i) + ".json");
            const CliRun run = runCli({"evaluate", "--model", q(model), "--data", "demo", "--limit", "2", "--max-new-tokens",
                                       "2", "--chat-template", "plain", "--shard", QString("%1/2").arg(i), "--out", out});
            QVERIFY2(run.exitCode == 0, qPrintable(run.err));
            shards << out;
        }
        nlohmann::json second = readJson(shards[1].toStdString());
        second["cases"][0]["position"] = 1000000;
        writeJson(shards[1].toStdString(), second);
        expectBadInput(runCli(QStringList{"merge"} << shards << "--out" << q(dir + "/all.json")),
                       {"position 1000000", "outside this shard"});
    }

    // ---- report inputs ----

    void reportRefusesHugeArrays() {
        const std::string dir = detox::test::scratchDir().toStdString();
        nlohmann::json locate = nlohmann::json::array(
            {{{"id", 0}, {"variant", "masked"}, {"toxic_layer", 1}, {"distances", std::vector<double>(1000000, 0.5)}}});
        writeJson(dir + "/locate.json", locate);
        QElapsedTimer timer;
        timer.start();
        expectBadInput(runCli({"report", q(dir + "/locate.json"), "--out", q(dir + "/report")}, 60000),
                       {"locate.json", "/0/distances", "1000000 values"});
        QVERIFY(!QFileInfo::exists(q(dir + "/report/report.md")));
    }

    // ---- output targets, checked before the work ----

    void outputTargetsAreCheckedFirst() {
        const std::string model = demoCopy();
        QElapsedTimer timer;
        timer.start();
        expectBadInput(runCli({"evaluate", "--model", q(model), "--demo", "--out", "/nonexistent/x.json"}, 60000),
                       {"/nonexistent/x.json", "cannot write here"});
        const std::string file = detox::test::scratchDir().toStdString() + "/a-file";
        std::ofstream(file) << "x";
        const QString data = detox::test::sourcePath("datasets/demo/safeedit_demo_test.json");
        const QStringList edit = {"edit", "--model", q(model), "--data", data, "--id", "0", "--method", "dinm", "--save"};
        expectBadInput(runCli(QStringList(edit) << q(file + "/sub")), {"a-file is not a folder"});
        expectBadInput(runCli(QStringList(edit) << "/proc/detox-save"), {"/proc/detox-save", "not writable"});
        const std::string loop = detox::test::scratchDir().toStdString() + "/loop";
        fs::create_symlink(loop, loop);  // a symlink loop gave a bare "filesystem error"
        expectBadInput(runCli(QStringList(edit) << q(loop + "/saved")), {"loop"});
        expectBadInput(runCli(QStringList(edit) << q(model + "/.")), {"own source directory"});
        // Refused before loading and editing: far under the time an edit takes (no timing assert, the
        // message above is the check; the edit would print its loss history).
        QVERIFY(!runCli(QStringList(edit) << q(model)).out.contains("loss"));
    }

    // ---- a save folder is atomic as a whole ----

    void reSavingKeepsForeignFilesByRefusing() {
        const std::string dir = detox::test::scratchDir().toStdString();
        const std::string out = dir + "/saved";
        detox::test::tinyLlama(1).save(out);
        QVERIFY(readJson(out + "/" + detox::kSaveMarkerName)["files"].size() == 3);  // weights, config, marker
        std::ofstream(out + "/my_adapter.safetensors") << "user bytes";
        const QString message = errorOf([&] { detox::test::tinyLlama(2).save(out); });
        QVERIFY2(message.contains("my_adapter.safetensors") && message.contains("did not write"), qPrintable(message));
        QCOMPARE(detox::readFile(out + "/my_adapter.safetensors"), std::string("user bytes"));
        QCOMPARE(countEntries(dir, ".saved.detox-"), 0);
        // Without the foreign file, the earlier save is replaced as a whole.
        fs::remove(out + "/my_adapter.safetensors");
        const detox::Model second = detox::test::tinyLlama(2);
        second.save(out);
        QCOMPARE(detox::Model::load(out).parameter("model.norm.weight").values,
                 second.parameter("model.norm.weight").values);
        QCOMPARE(detox::Model::load(out).contentHash(), detox::Model::load(out).contentHash());
        QCOMPARE(countEntries(dir, ".saved.detox-"), 0);
    }

    void aFailedSaveLeavesTheEarlierSaveWhole() {
        const std::string dir = detox::test::scratchDir().toStdString();
        const std::string out = dir + "/saved";
        const detox::Model first = detox::test::tinyLlama(1);
        first.save(out);
        const std::string before = detox::readFile(out + "/model.safetensors");
        detox::JobControl cancelled;
        cancelled.requestCancel();
        QVERIFY_THROWS_EXCEPTION(detox::Cancelled, detox::test::tinyLlama(2, {}, 3).save(out, cancelled));
        QCOMPARE(detox::readFile(out + "/model.safetensors"), before);  // not a mix of old and new
        QCOMPARE(detox::Model::load(out).config().numLayers, 2);
        QCOMPARE(countEntries(dir, ".saved.detox-"), 0);  // the temporary folder went with the failure
    }

    void staleTemporariesOfOursAreCleaned() {
        const std::string dir = detox::test::scratchDir().toStdString();
        const std::string out = dir + "/saved";
        const std::string pid = std::to_string(deadPid());
        // A killed save's half-written folder, and an earlier save moved aside by a save killed between renames.
        fs::create_directories(dir + "/.saved.detox-save-" + pid + "-abcdef");
        std::ofstream(dir + "/.saved.detox-save-" + pid + "-abcdef/model.safetensors") << "half";
        detox::test::tinyLlama(1).save(dir + "/earlier");
        fs::rename(dir + "/earlier", dir + "/.saved.detox-old-" + pid + "-ghijkl");
        // Someone else's folder with a similar name is not ours to clean.
        fs::create_directories(dir + "/.saved.detox-save-notapid-x");
        detox::checkSaveDirectory("", out);
        QVERIFY(!fs::exists(dir + "/.saved.detox-save-" + pid + "-abcdef"));
        QVERIFY(fs::exists(out + "/model.safetensors"));  // the earlier save is back in place
        QVERIFY(!fs::exists(dir + "/.saved.detox-old-" + pid + "-ghijkl"));
        QVERIFY(fs::exists(dir + "/.saved.detox-save-notapid-x"));
        detox::test::tinyLlama(3).save(out);
        QCOMPARE(countEntries(dir, ".saved.detox-save-" + pid), 0);
    }

    // ---- non-finite weights and losses ----

    void nonFiniteWeightsAreNamedAndNotSaved() {
        detox::Model model = detox::test::tinyLlama(4);
        QVERIFY(detox::nonFiniteParameters(model).empty());
        detox::FloatTensor norm = model.parameter("model.layers.1.input_layernorm.weight");
        norm.values[3] = std::numeric_limits<float>::infinity();
        model.setParameter("model.layers.1.input_layernorm.weight", norm);
        QCOMPARE(detox::nonFiniteParameters(model), std::vector<std::string>{"model.layers.1.input_layernorm.weight"});
        const std::string out = detox::test::scratchDir().toStdString() + "/saved";
        const QString message = errorOf([&] { model.save(out); });
        QVERIFY2(message.contains("model.layers.1.input_layernorm.weight") && message.contains("NaN or infinite"),
                 qPrintable(message));
        QVERIFY(!fs::exists(out));
    }

    // The load's one read of the stored bytes (runtime/finite_scan.h): an Inf or NaN anywhere (first
    // element, a later 4 MiB chunk, the last element) in F32, BF16 and F16; the digest is the model
    // hash's (4 MiB chunks digested with their index as seed, then the chunks' digests).
    void storedBytesScanFindsEveryNonFiniteValue() {
        const int64_t count = (int64_t(9) << 20) / 2 + 3;  // > two 4 MiB chunks of 2-byte values, odd tail
        for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
            const std::string name = dtype == torch::kFloat32 ? "F32" : dtype == torch::kBFloat16 ? "BF16" : "F16";
            for (int64_t position : {int64_t(0), count / 2 + 17, count - 1}) {
                for (float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
                    torch::Tensor values = torch::randn({count}).to(dtype);
                    const auto* bytes = static_cast<const uint8_t*>(values.data_ptr());
                    const size_t size = size_t(values.nbytes());
                    QCOMPARE(detox::nn::scanStoredBytes(bytes, size, name).finite, std::optional<bool>(true));
                    values[position] = bad;
                    QCOMPARE(detox::nn::scanStoredBytes(bytes, size, name).finite, std::optional<bool>(false));
                }
            }
        }
        std::string bytes(size_t(9) << 20, '\x7f');
        QVERIFY(!detox::nn::scanStoredBytes(bytes.data(), bytes.size(), "I8").finite.has_value());  // no bit test
        const size_t chunk = size_t(4) << 20;
        std::vector<uint64_t> digests;
        for (size_t offset = 0, c = 0; offset < bytes.size(); offset += chunk, ++c)
            digests.push_back(detox::fastDigest64(bytes.data() + offset, std::min(chunk, bytes.size() - offset), c));
        QCOMPARE(detox::nn::scanStoredBytes(bytes.data(), bytes.size(), "F32").digest,
                 detox::fastDigest64(digests.data(), digests.size() * sizeof(uint64_t), bytes.size()));
    }

    void nonFiniteWeightsAreFoundAtLoad() {
        const std::string dir = checkpointWithInfinity("model.layers.1.mlp.up_proj.weight");
        for (detox::WeightMode mode : {detox::WeightMode::F32, detox::WeightMode::Stored}) {
            std::vector<std::string> warnings;
            detox::LoadOptions options;
            options.weights = mode;
            options.onWarning = [&](const std::string& warning) { warnings.push_back(warning); };
            detox::Model model = detox::Model::load(dir, options);
            QCOMPARE(model.nonFiniteWeightsAtLoad(), std::vector<std::string>{"model.layers.1.mlp.up_proj.weight"});
            QCOMPARE(warnings.size(), size_t(1));
            QVERIFY2(q(warnings[0]).contains("model.layers.1.mlp.up_proj.weight") &&
                         q(warnings[0]).contains("--allow-non-finite-weights"),
                     warnings[0].c_str());
            // Refused where the values would spread: an edit (before anything is touched) and a save.
            detox::ModelEditor editor(model);
            const QString edit = errorOf([&] { editor.sft({{{1, 2}, {3}}}, detox::SftSettings{}); });
            QVERIFY2(edit.contains("model.layers.1.mlp.up_proj.weight") && edit.contains("refusing to edit"), qPrintable(edit));
            QVERIFY(!editor.hasEdits());
            const std::string out = detox::test::scratchDir().toStdString() + "/saved";
            QVERIFY(errorOf([&] { model.save(out); }).contains("NaN or infinite"));
            QVERIFY(!fs::exists(out));
        }
        QVERIFY(detox::Model::load(demoCopy()).nonFiniteWeightsAtLoad().empty());
    }

    void nonFiniteWeightsCanBeAllowedAndAreRecorded() {
        const std::string dir = checkpointWithInfinity("model.norm.weight");
        detox::LoadOptions options;
        options.allowNonFiniteWeights = true;
        detox::Model model = detox::Model::load(dir, options);
        detox::requireEditableWeights(model);  // no refusal
        QVERIFY2(q(model.weightsDescription()).contains("NaN/Inf allowed in 1 tensor(s): model.norm.weight"),
                 model.weightsDescription().c_str());
        const std::string out = detox::test::scratchDir().toStdString() + "/saved";
        model.save(out);
        QVERIFY(readJson(out + "/detox_save.json")["weights"].get<std::string>().find("model.norm.weight") !=
                std::string::npos);
    }

    void theCliWarnsAboutNonFiniteWeights() {
        const std::string dir = checkpointWithInfinity("model.layers.0.self_attn.q_proj.weight");
        const CliRun run = runCli({"generate", "--model", q(dir), "--prompt", "hi", "--max-new-tokens", "1",
                                   "--no-chat-template"}, 60000);
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QVERIFY2(run.err.contains("warning") && run.err.contains("model.layers.0.self_attn.q_proj.weight"),
                 qPrintable(run.err));
    }

    void aNonFiniteLossStopsTraining() {
        torch::Tensor weight = torch::ones({3}).requires_grad_(true);
        detox::nn::TrainingLoopSettings settings;
        settings.examples = 2;
        settings.label = "SFT";
        settings.learningRate = 1e-3;
        int calls = 0;
        const QString message = errorOf([&] {
            detox::nn::runTrainingLoop(settings, {weight}, [&](const std::vector<size_t>&) {
                ++calls;
                return weight.sum() * std::numeric_limits<float>::quiet_NaN();
            }, detox::noJobControl());
        });
        QVERIFY2(message.contains("SFT step 1") && message.contains("not a finite number"), qPrintable(message));
        QCOMPARE(calls, 1);  // stopped at the first step; the optimizer never stepped
        QCOMPARE(weight.detach().sum().item<float>(), 3.0f);
    }

    void anAbsurdLearningRateIsRefused() {
        // 1e38 reached LibTorch's optimizer and failed there (exit 1, "cannot be converted to type float").
        const std::string model = demoCopy();
        const QString data = detox::test::sourcePath("datasets/demo/safeedit_demo_test.json");
        const std::string out = detox::test::scratchDir().toStdString() + "/edited";
        expectBadInput(runCli({"edit", "--model", q(model), "--data", data, "--id", "0", "--method", "dinm", "--lr",
                               "1e38", "--steps", "5", "--save", q(out)}),
                       {"--lr", "(0, 1000]", "1e38"});
        QVERIFY(!fs::exists(out));
    }

    // ---- only regular files ----

    void aFifoIsRefusedNotWaitedOn() {
        const std::string dir = demoCopy();
        fs::remove(dir + "/model.safetensors");
        QCOMPARE(::mkfifo((dir + "/model.safetensors").c_str(), 0644), 0);
        // Nobody writes the FIFO: an open() without O_NONBLOCK would block forever (runCli gives -1 then).
        expectBadInput(runCli({"info", "--model", q(dir)}, 30000), {"model.safetensors", "named pipe"});
        QVERIFY(errorOf([&] { detox::Model::load(dir); }).contains("named pipe"));
        QVERIFY(errorOf([&] { detox::readFile(dir + "/model.safetensors"); }).contains("named pipe"));
    }

    void aFifoShardIsRefused() {
        const std::string dir = demoCopy();
        fs::remove(dir + "/model.safetensors");
        QCOMPARE(::mkfifo((dir + "/model-00002-of-00002.safetensors").c_str(), 0644), 0);
        fs::copy_file(detox::test::sourcePath("resources/demo-model/model.safetensors").toStdString(),
                      dir + "/model-00001-of-00002.safetensors");
        writeJson(dir + "/model.safetensors.index.json",
                  {{"weight_map",
                    {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                     {"lm_head.weight", "model-00002-of-00002.safetensors"}}}});
        expectBadInput(runCli({"info", "--model", q(dir)}, 30000), {"model-00002-of-00002.safetensors", "named pipe"});
    }

    void aDirectoryGivenAsAFileIsRefusedByName() {
        const std::string dir = detox::test::scratchDir().toStdString();
        expectBadInput(runCli({"data", "--data", q(dir)}, 30000), {q(dir), "is a directory, expected a regular file"});
        QVERIFY(errorOf([&] { detox::sha256File(dir); }).contains("is a directory"));
        // A config.json that is a folder.
        const std::string model = demoCopy();
        fs::remove(model + "/config.json");
        fs::create_directory(model + "/config.json");
        expectBadInput(runCli({"info", "--model", q(model)}, 30000), {"config.json", "is a directory"});
    }
};

QTEST_GUILESS_MAIN(HostileInputTest)
#include "test_hostile_input.moc"
